/**
 * Renders bench/results/compare.json as docs/benchmarks.md and bench/results/report.html, so the
 * pages can be redone without rerunning the benchmark.
 *
 *   npx tsx bench/report.ts [bench/results/compare.json]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { CompareResults } from './compare-results.js';
import { renderHtml } from './report-html.js';
import { renderMarkdown } from './report-markdown.js';

/**
 * Writes both pages under the repository root; returns their paths. With a suffix (the quick run)
 * both go to bench/results/ (benchmarks<suffix>.md, report<suffix>.html), leaving the published
 * docs/benchmarks.md alone.
 */
export function renderAll(
  results: CompareResults,
  root: string,
  o: { outDir?: string; suffix?: string } = {},
): string[] {
  const outDir = o.outDir ?? root.replace(/\/$/, '');
  const markdown = renderMarkdown(results);
  mkdirSync(`${outDir}/docs`, { recursive: true });
  mkdirSync(`${outDir}/bench/results`, { recursive: true });
  const md = o.suffix ? `${outDir}/bench/results/benchmarks${o.suffix}.md` : `${outDir}/docs/benchmarks.md`;
  const html = `${outDir}/bench/results/report${o.suffix ?? ''}.html`;
  writeFileSync(md, `${markdown}\n`);
  writeFileSync(html, renderHtml(results, markdown));
  return [md, html];
}

const isMain = process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const input = process.argv[2] ?? `${root}bench/results/compare.json`;
  const results = JSON.parse(readFileSync(input, 'utf8')) as CompareResults;
  const suffix = /compare-quick\.json$/.test(input) ? '-quick' : undefined;
  for (const f of renderAll(results, root, { suffix })) console.log(`written ${f}`);
}
