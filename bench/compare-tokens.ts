/**
 * Token batches of exactly the benchmark's lengths from real text: each row starts at a different
 * SST-2 sentence and appends the following ones until it is full, then is cut to the length
 * ([CLS] ... [SEP]). Every runtime gets these same ids.
 */
import type { EncoderTokenizer } from '../src/model/tokenizer.js';
import type { BenchBatch } from './peers/runtime.js';

export function fillBatch(tokenizer: EncoderTokenizer, sentences: string[], seqLen: number, batch: number): BenchBatch {
  if (!sentences.length) throw new Error('fillBatch: no sentences');
  const inputIds: number[] = [];
  for (let b = 0; b < batch; b++) {
    let text = '';
    let ids: Int32Array | undefined;
    // Append sentences until truncation kicks in (the row is full) or the text is long enough.
    for (let k = 0; !ids || ids.length < seqLen; k++) {
      if (k > 4 * seqLen) throw new Error(`fillBatch: cannot fill ${seqLen} tokens`);
      text += `${text ? ' ' : ''}${sentences[(b * 7 + k) % sentences.length]}`;
      ids = tokenizer.encodeBatch([text], { maxLength: seqLen }).inputIds;
    }
    inputIds.push(...ids);
  }
  return { batch, seqLen, inputIds };
}
