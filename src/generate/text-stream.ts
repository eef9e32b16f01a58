/**
 * Incremental detokenization of one generated sequence, with stop strings.
 *
 * Byte-level BPE tokens are byte strings: one may end inside a UTF-8 character, which decode()
 * shows as U+FFFD until the rest arrives. Each push decodes all tokens so far (the definition of
 * the text, whatever the decoder does; O(length) per token) and emits the part that later tokens
 * can no longer change, holding back:
 * - a trailing run of U+FFFD (possibly an incomplete character);
 * - trailing whitespace with at most two characters after it: decoders that clean up
 *   tokenization spaces (tokenizers.js applies clean_up_tokenization_spaces unless the config
 *   turns it off) delete a space once "." "," "!" "?" "'s" "n't"... follows it;
 * - the longest tail that could be the start of a stop string.
 * So the pieces concatenate to decode(all ids) at flush(), unless a stop string ended the text
 * first: then the text is everything before the stop string's first occurrence.
 */

export type Decode = (ids: readonly number[]) => string;

const TRAILING_REPLACEMENT = /\uFFFD+$/;
const TRAILING_SPACE_TAIL = /\s+\S{0,2}$/;

export class TextStream {
  private readonly ids: number[] = [];
  private emitted = '';
  private done = false;
  private stopHit = false;

  constructor(
    private readonly decode: Decode,
    private readonly stop: readonly string[] = [],
  ) {}

  /** Text emitted so far (after a stop: the final text). */
  get text(): string {
    return this.emitted;
  }

  get tokens(): readonly number[] {
    return this.ids;
  }

  /** True once a stop string occurred: the text is final and push() is refused. */
  get stopped(): boolean {
    return this.stopHit;
  }

  /** True after a stop string or flush(). */
  get finished(): boolean {
    return this.done;
  }

  /** Adds a token; returns the new text it makes final (often '', never a partial character). */
  push(token: number): string {
    if (this.done) throw new Error('TextStream: push after the stream finished');
    this.ids.push(token);
    const full = this.decode(this.ids);
    const avail = full.replace(TRAILING_REPLACEMENT, '');
    const region = this.pending(avail);
    const at = this.findStop(region);
    if (at >= 0) return this.finish(region.slice(0, at), true);
    let cut = region.length - this.stopPrefixHold(region);
    const space = TRAILING_SPACE_TAIL.exec(region);
    if (space) cut = Math.min(cut, space.index);
    return this.emit(region.slice(0, cut));
  }

  /** Ends the stream: the rest of the text (cut before a stop string if one occurs in it). */
  flush(): string {
    if (this.done) return '';
    const region = this.pending(this.ids.length > 0 ? this.decode(this.ids) : '');
    const at = this.findStop(region);
    if (at >= 0) return this.finish(region.slice(0, at), true);
    return this.finish(region, false);
  }

  /** The text after what was emitted. */
  private pending(full: string): string {
    if (full.startsWith(this.emitted)) return full.slice(this.emitted.length);
    // A decoder that rewrote text already emitted (none known does, given the holds above): go on
    // from where they agree rather than fail the generation; the pieces then differ from decode().
    let common = 0;
    while (common < full.length && full[common] === this.emitted[common]) common++;
    return full.slice(common);
  }

  private emit(piece: string): string {
    this.emitted += piece;
    return piece;
  }

  private finish(piece: string, stopped: boolean): string {
    this.done = true;
    this.stopHit = stopped;
    return this.emit(piece);
  }

  /**
   * The earliest stop-string occurrence in `region`. One cannot begin in text already emitted:
   * such a start would have been a held-back prefix.
   */
  private findStop(region: string): number {
    let best = -1;
    for (const s of this.stop) {
      const at = region.indexOf(s);
      if (at >= 0 && (best < 0 || at < best)) best = at;
    }
    return best;
  }

  /** Length of the longest tail of `region` that is a proper prefix of a stop string. */
  private stopPrefixHold(region: string): number {
    let hold = 0;
    for (const s of this.stop) {
      for (let len = Math.min(s.length - 1, region.length); len > hold; len--) {
        if (region.endsWith(s.slice(0, len))) {
          hold = len;
          break;
        }
      }
    }
    return hold;
  }
}
