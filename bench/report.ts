export function renderAll(_r: unknown, _root: string): string[] { return []; }
