/**
 * The markdown page as HTML, for the report's table section: headings, paragraphs and pipe tables
 * are all docs/benchmarks.md uses, so that is all this converts (no markdown library offline).
 */
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const inline = (s: string) => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');

export function renderMarkdownTables(markdown: string): string {
  const out: string[] = [];
  const lines = markdown.split('\n');
  let paragraph: string[] = [];
  const flush = () => {
    if (paragraph.length) out.push(`<p>${inline(paragraph.join(' '))}</p>`);
    paragraph = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const cellsOf = (l: string) =>
      l
        .slice(1, -1)
        .split(' | ')
        .map((c) => c.trim());
    if (line.startsWith('|')) {
      flush();
      const header = cellsOf(line);
      i++; // the |---| rule
      const body: string[][] = [];
      while (i + 1 < lines.length && lines[i + 1].startsWith('|')) body.push(cellsOf(lines[++i]));
      out.push(
        `<div class="table-scroll"><table><tr>${header.map((h) => `<th>${inline(h)}</th>`).join('')}</tr>${body.map((r) => `<tr>${r.map((c) => `<td>${inline(c)}</td>`).join('')}</tr>`).join('')}</table></div>`,
      );
    } else if (line.startsWith('#')) {
      flush();
      const level = Math.min(line.match(/^#+/)![0].length + 1, 4);
      // The page has its own h1; the markdown's title is dropped.
      if (!line.startsWith('# ')) out.push(`<h${level}>${inline(line.replace(/^#+\s*/, ''))}</h${level}>`);
    } else if (line.startsWith('- ')) {
      flush();
      out.push(`<p>• ${inline(line.slice(2))}</p>`);
    } else if (!line.trim()) flush();
    else paragraph.push(line);
  }
  flush();
  return out.join('\n');
}
