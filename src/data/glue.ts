/**
 * Reads the GLUE tsv layouts as they are distributed: SST-2 (sentence, label), CoLA (no header:
 * source, label, mark, sentence), MRPC (BOM; Quality, #1 ID, #2 ID, #1 String, #2 String), QNLI
 * (index, question, sentence, label), RTE (HF export: sentence1, sentence2, label, idx), STS-B
 * (10 columns, score last). Fields are split on tabs only: GLUE text contains literal quotes.
 */

export type GlueInput = string | [string, string];

export interface GlueRow {
  input: GlueInput;
  /** Class index (string labels such as QNLI's are mapped to indices) or STS-B's score. */
  label: number;
}

export interface GlueSet {
  task: 'sst2' | 'cola' | 'mrpc' | 'qnli' | 'rte' | 'stsb';
  rows: GlueRow[];
  /** For string labels: the names by index. */
  labelNames?: string[];
}

function fail(what: string, line: number, message: string): never {
  throw new Error(`${what}: line ${line}: ${message}`);
}

export function parseGlueTsv(text: string, what = 'GLUE tsv'): GlueSet {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.length > 0);
  if (lines.length === 0) throw new Error(`${what}: the file is empty`);
  const header = lines[0].split('\t').map((h) => h.trim());
  const has = (...names: string[]) => names.every((n) => header.includes(n));
  const col = (name: string) => header.indexOf(name);
  const body = lines.slice(1);
  const num = (v: string | undefined, line: number) => {
    const x = Number(v);
    if (v === undefined || v.trim() === '' || !Number.isFinite(x)) fail(what, line, `label "${v}" is not a number`);
    return x;
  };
  const field = (cells: string[], i: number, line: number) => {
    const v = cells[i];
    if (v === undefined) fail(what, line, `missing column ${i + 1} (the row has ${cells.length})`);
    return v.trim();
  };
  const rows = (make: (cells: string[], line: number) => GlueRow) => body.map((l, i) => make(l.split('\t'), i + 2));

  if (has('sentence', 'label') && !has('question')) {
    return {
      task: 'sst2',
      rows: rows((c, n) => ({ input: field(c, col('sentence'), n), label: num(c[col('label')], n) })),
    };
  }
  if (has('Quality', '#1 String', '#2 String')) {
    return {
      task: 'mrpc',
      rows: rows((c, n) => ({
        input: [field(c, col('#1 String'), n), field(c, col('#2 String'), n)],
        label: num(c[col('Quality')], n),
      })),
    };
  }
  if (has('question', 'sentence', 'label')) {
    const names = ['entailment', 'not_entailment'];
    return {
      task: 'qnli',
      labelNames: names,
      rows: rows((c, n) => {
        const label = names.indexOf(field(c, col('label'), n));
        if (label < 0) fail(what, n, `label "${c[col('label')]}" is not one of ${names.join(', ')}`);
        return { input: [field(c, col('question'), n), field(c, col('sentence'), n)], label };
      }),
    };
  }
  if (has('sentence1', 'sentence2', 'score')) {
    return {
      task: 'stsb',
      rows: rows((c, n) => ({
        input: [field(c, col('sentence1'), n), field(c, col('sentence2'), n)],
        label: num(c[col('score')], n),
      })),
    };
  }
  if (has('sentence1', 'sentence2', 'label')) {
    return {
      task: 'rte',
      rows: rows((c, n) => ({
        input: [field(c, col('sentence1'), n), field(c, col('sentence2'), n)],
        label: num(c[col('label')], n),
      })),
    };
  }
  // CoLA has no header: every line is source, label, mark, sentence.
  const first = lines[0].split('\t');
  if (first.length === 4 && /^[01]$/.test(first[1])) {
    return {
      task: 'cola',
      rows: lines.map((l, i) => {
        const c = l.split('\t');
        return { input: field(c, 3, i + 1), label: num(c[1], i + 1) };
      }),
    };
  }
  throw new Error(
    `${what}: unrecognised layout (header: ${header.slice(0, 6).join(', ')}); expected one of the GLUE tsv files (SST-2, CoLA, MRPC, QNLI, RTE, STS-B)`,
  );
}
