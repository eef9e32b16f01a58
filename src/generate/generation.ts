/**
 * What `model.generate(prompt)` returns: the text as it is generated, and the whole result.
 *
 *   for await (const piece of model.generate('a dog')) process.stdout.write(piece);
 *   const { text, tokens, finishReason } = await model.generate('a dog');
 *
 * The generation starts at the call, whether or not anyone iterates: pieces not yet read are kept
 * (one short string per token), so iterating late, or awaiting and iterating both, lose nothing.
 * One iteration per Generation: the pieces are handed out once.
 */
import type { GenerationResult } from './generate.js';

export class Generation<R = GenerationResult> implements AsyncIterable<string>, PromiseLike<R> {
  private readonly pieces: string[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private iterated = false;
  private readonly result: Promise<R>;

  /** `run` generates, calling `push` with every new piece of text, and resolves with the result. */
  constructor(run: (push: (piece: string) => void) => Promise<R>) {
    this.result = run((piece) => {
      if (piece === '') return;
      this.pieces.push(piece);
      this.wake?.();
    }).finally(() => {
      this.done = true;
      this.wake?.();
    });
    // An iterator or a then() surfaces the error; nobody listening must not crash the process.
    this.result.catch(() => {});
  }

  // biome-ignore lint/suspicious/noThenProperty: a Generation is awaitable by design (the result).
  then<A = R, B = never>(
    onFulfilled?: ((value: R) => A | PromiseLike<A>) | null,
    onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.result.then(onFulfilled, onRejected);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<string, void, undefined> {
    if (this.iterated)
      throw new Error('generate: this generation is already being iterated (its pieces are handed out once)');
    this.iterated = true;
    for (;;) {
      if (this.pieces.length > 0) {
        yield this.pieces.shift()!;
        continue;
      }
      if (this.done) {
        await this.result; // rethrows a failure or an abort
        return;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}
