import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseGlueTsv } from '../src/data/glue.js';

const glue = fileURLToPath(new URL('../../shared/data/glue/', import.meta.url));

describe.skipIf(!existsSync(glue))('GLUE tsv layouts (../shared/data/glue)', () => {
  const read = (p: string) => parseGlueTsv(readFileSync(glue + p, 'utf8'), p);
  it.each([
    ['sst2/dev.tsv', 'sst2', 872],
    ['sst2/train_calib1000.tsv', 'sst2', 1000],
    ['mrpc/dev.tsv', 'mrpc', 408],
    ['cola/dev.tsv', 'cola', 1043],
    ['qnli/dev.tsv', 'qnli', 5463],
    ['stsb/dev.tsv', 'stsb', 1500],
    ['rte/dev.tsv', 'rte', 277],
  ])('%s reads as %s with %i rows', (path, task, n) => {
    const set = read(path);
    expect(set.task).toBe(task);
    expect(set.rows.length).toBe(n);
  });
  it('keeps text as it is and maps labels', () => {
    const sst2 = read('sst2/dev.tsv');
    expect(sst2.rows[0]).toEqual({ input: "it 's a charming and often affecting journey .", label: 1 });
    expect(sst2.rows.filter((r) => r.label === 1).length).toBe(444);
    const mrpc = read('mrpc/dev.tsv');
    expect(mrpc.rows.filter((r) => r.label === 1).length).toBe(279);
    expect(read('qnli/dev.tsv').rows.filter((r) => r.label === 0).length).toBe(2702);
    expect(read('cola/dev.tsv').rows.filter((r) => r.label === 1).length).toBe(721);
  });
});

describe('GLUE tsv errors', () => {
  it('names the problem', () => {
    expect(() => parseGlueTsv('')).toThrow(/empty/);
    expect(() => parseGlueTsv('a\tb\nx\ty\n')).toThrow(/unrecognised layout/);
    expect(() => parseGlueTsv('sentence\tlabel\nfine\tpositive\n', 'x.tsv')).toThrow(
      /x.tsv: line 2: label "positive" is not a number/,
    );
  });
});
