/**
 * How far integer LM logits are from the float ones: RMS error relative to the RMS logit over the
 * real positions of a right-padded batch, and how often the argmax agrees (tests only).
 */
export function logitAgreement(
  float: ArrayLike<number>,
  int: ArrayLike<number>,
  sequences: readonly (readonly number[])[],
  seqLen: number,
  vocab: number,
): { relative: number; agree: number; rows: number } {
  let err = 0;
  let scale = 0;
  let agree = 0;
  let rows = 0;
  sequences.forEach((s, b) => {
    for (let t = 0; t < s.length; t++) {
      const r = (b * seqLen + t) * vocab;
      let fArg = 0;
      let iArg = 0;
      for (let v = 0; v < vocab; v++) {
        err += (float[r + v] - int[r + v]) ** 2;
        scale += float[r + v] ** 2;
        if (float[r + v] > float[r + fArg]) fArg = v;
        if (int[r + v] > int[r + iArg]) iArg = v;
      }
      rows++;
      if (fArg === iArg) agree++;
    }
  });
  return { relative: Math.sqrt(err / scale), agree, rows };
}
