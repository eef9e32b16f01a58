/**
 * What every translation backend checks alike: the token ids a session needs from the config,
 * the sources of a start(), and beam search's reorders. Sequences come in groups of `beams`
 * consecutive ones per source, and a reorder may only hand a sequence the cache of another
 * sequence of its own source (they share that source's encoder output).
 */

/** The token ids a translation session needs from the model's config. */
export interface TranslatorTokens {
  decoderStartTokenId: number;
  padTokenId: number;
}

/** Checks the arguments of TranslatorSession.start, naming the source at fault. */
export function checkTranslatorStart(
  sources: readonly (readonly number[])[],
  beams: number,
  vocab: number,
  maxPositions: number,
): void {
  if (!Array.isArray(sources) || sources.length === 0) throw new RangeError('translate: no sources');
  if (!Number.isInteger(beams) || beams < 1) throw new RangeError(`translate: beams = ${beams} must be >= 1`);
  sources.forEach((s, i) => {
    if (!Array.isArray(s) || s.length === 0) throw new RangeError(`translate: source ${i} has no tokens`);
    if (s.length > maxPositions)
      throw new RangeError(
        `translate: source ${i} has ${s.length} tokens, above the model's ${maxPositions} positions`,
      );
    s.forEach((id, t) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new RangeError(`translate: source ${i} token ${t} = ${id} is outside the vocabulary of ${vocab}`);
    });
  });
}

/** Beam parents: one per sequence, each an integer index of a sequence of the same group of `beams`. */
export function checkBeamParents(parents: readonly number[], sequences: number, beams: number): void {
  if (!Array.isArray(parents) && !ArrayBuffer.isView(parents))
    throw new TypeError('reorder: parents must be an array of sequence indices');
  if (parents.length !== sequences)
    throw new RangeError(`reorder: ${parents.length} parents for ${sequences} sequences`);
  for (let i = 0; i < sequences; i++) {
    const p = parents[i];
    if (!Number.isInteger(p) || p < 0 || p >= sequences)
      throw new RangeError(`reorder: parents[${i}] = ${p} is not a sequence index in [0, ${sequences})`);
    if (Math.floor(p / beams) !== Math.floor(i / beams))
      throw new RangeError(
        `reorder: parents[${i}] = ${p} belongs to source ${Math.floor(p / beams)}, not to sequence ${i}'s source ${Math.floor(i / beams)}`,
      );
  }
}
