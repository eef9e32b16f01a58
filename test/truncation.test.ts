/**
 * Long input: `truncation` (default true, as transformers.js) cuts a text to `maxLength` tokens and
 * says so (Prediction.truncated, onTruncated); `truncation: false` refuses it with a RangeError that
 * names the text's position and both lengths. On the built-in SST-2 model (512 positions).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/api.js';
import type { TextModel, Truncation } from '../src/index.js';

/** Every word one WordPiece token: 10 tokens, 12 with [CLS] and [SEP]. */
const TEN = 'one two three four five six seven eight nine ten';
const SIX = 'one two three four five six';
const LONG = Array.from({ length: 300 }, () => 'a gorgeous , witty movie').join(' ');

describe('truncation of long input', { timeout: 300_000 }, () => {
  let model: TextModel;
  beforeAll(async () => {
    model = await loadModel();
  });
  afterAll(() => model?.dispose());

  it('cuts by default and reports it, on the prediction and to onTruncated with the position in the list', async () => {
    const seen: Truncation[] = [];
    const preds = await model.classify(['fine', LONG, 'bad'], { batchSize: 2, onTruncated: (t) => seen.push(t) });
    expect(preds.map((p) => p.truncated)).toEqual([false, true, false]);
    expect(seen).toHaveLength(1);
    expect(seen[0].index).toBe(1);
    expect(seen[0].maxLength).toBe(512);
    expect(seen[0].tokens).toBeGreaterThan(512);
  });

  it('keeps the first maxLength tokens: the cut text gives the logits of its first six words', async () => {
    const seen: Truncation[] = [];
    const [cut] = await model.classify([TEN], { maxLength: 8, onTruncated: (t) => seen.push(t) });
    const [six] = await model.classify([SIX], { maxLength: 8 });
    expect(cut.truncated).toBe(true);
    expect(six.truncated).toBe(false);
    expect(cut.logits).toEqual(six.logits);
    expect(seen).toEqual([{ index: 0, tokens: 12, maxLength: 8 }]);
    // A pair loses tokens from its longer text first (transformers' longest_first), and is flagged too.
    const [pair] = await model.classify([[SIX, TEN]], { maxLength: 11 });
    expect(pair.truncated).toBe(true);
  });

  it('with truncation: false refuses an overlong text, naming its position and both lengths', async () => {
    await expect(model.classify(['fine', TEN], { truncation: false, maxLength: 8 })).rejects.toThrow(
      new RangeError(
        'classify: input 1 has 12 tokens (special tokens included), more than maxLength 8 (truncation: false)',
      ),
    );
    await expect(model.classify(['fine', 'bad', LONG], { truncation: false, batchSize: 2 })).rejects.toThrow(
      /^classify: input 2 has (more than )?\d{4} tokens \(special tokens included\), more than maxLength 512 \(truncation: false\)$/,
    );
    const fits = await model.classify([SIX, 'fine'], { truncation: false, maxLength: 8 });
    expect(fits.map((p) => p.truncated)).toEqual([false, false]);
  });

  it('refuses bad truncation options before running', async () => {
    const bad: [object, RegExp][] = [
      [{ truncation: 'no' }, /^classify: truncation is string; expected true or false$/],
      [{ maxLength: 0 }, /^classify: maxLength 0 must be a positive integer$/],
      [{ maxLength: 2.5 }, /^classify: maxLength 2.5 must be a positive integer$/],
      [{ maxLength: '8' }, /^classify: maxLength is string; expected a positive integer$/],
      [{ maxLength: 513 }, /^classify: maxLength 513 is more than the model's 512 positions$/],
      [{ onTruncated: 1 }, /^classify: onTruncated is number; expected a function$/],
      [{ truncate: false }, /^classify: unknown option "truncate"/],
    ];
    for (const [options, message] of bad) {
      await expect(model.classify('fine', options as never)).rejects.toThrow(message);
    }
  });
});
