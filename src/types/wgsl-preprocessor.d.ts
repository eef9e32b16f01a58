declare module 'wgsl-preprocessor/wgsl-preprocessor.js' {
  /** Template tag: evaluates `#if ${cond}` / `#elif` / `#else` / `#endif` blocks and interpolates values. */
  export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
}
