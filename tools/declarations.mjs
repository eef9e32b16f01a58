/**
 * Runs after tsc writes dist/types (npm run build). @huggingface/tokenizers' own declarations do not
 * compile under `moduleResolution: nodenext` (their relative imports have no file extensions), and
 * with `skipLibCheck: false` a consumer's build fails as soon as any of our .d.ts imports them. So
 * the .d.ts files import the Tokenizer type from dist/types/huggingface-tokenizers.d.ts instead:
 * this package's description of the members of that class a caller of ours would use.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const types = fileURLToPath(new URL('../dist/types/', import.meta.url));
const shim = join(types, 'huggingface-tokenizers.d.ts');
const LIBRARY = /(['"])@huggingface\/tokenizers\1/g;

writeFileSync(
  shim,
  `/**
 * The tokenizer object of @huggingface/tokenizers (its class Tokenizer), as int8-transformer's
 * types show it: the methods for encoding, decoding and vocabulary lookups. The object is the
 * library's own; its declarations are not imported because they fail under
 * \`moduleResolution: nodenext\`.
 */
export interface Tokenizer {
  encode(
    text: string,
    options?: { text_pair?: string | null; add_special_tokens?: boolean; return_token_type_ids?: boolean | null },
  ): { ids: number[]; tokens: string[]; attention_mask: number[]; token_type_ids?: number[] };
  decode(
    tokenIds: number[] | bigint[],
    options?: { skip_special_tokens?: boolean; clean_up_tokenization_spaces?: boolean | null },
  ): string;
  tokenize(text: string, options?: { text_pair?: string | null; add_special_tokens?: boolean }): string[];
  token_to_id(token: string): number | undefined;
  id_to_token(id: number): string | undefined;
}
`,
);

function* declarations(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* declarations(path);
    else if (entry.name.endsWith('.d.ts') && path !== shim) yield path;
  }
}

const TOKENIZER_IMPORT = /^import (type )?\{ Tokenizer \} from (['"])@huggingface\/tokenizers\2;$/;

let rewritten = 0;
for (const file of declarations(types)) {
  const lines = readFileSync(file, 'utf8').split('\n');
  const uses = lines.filter((l) => l.includes('@huggingface/tokenizers') && !/^\s*(\*|\/\/)/.test(l));
  if (!uses.length) continue;
  const other = uses.find((l) => !TOKENIZER_IMPORT.test(l));
  if (other) throw new Error(`${file}: "${other}" needs more of @huggingface/tokenizers than ${shim} describes`);
  let target = relative(dirname(file), shim)
    .replace(/\.d\.ts$/, '.js')
    .split('\\')
    .join('/');
  if (!target.startsWith('.')) target = `./${target}`;
  const fixed = lines.map((l) => (TOKENIZER_IMPORT.test(l) ? l.replace(LIBRARY, `'${target}'`) : l));
  writeFileSync(file, fixed.join('\n'));
  rewritten++;
}
console.log(`declarations: ${rewritten} files import the Tokenizer type from dist/types/huggingface-tokenizers.d.ts`);
