/** Moved to src/core/types.ts (the ground floor); this re-export goes once every import is updated. */
export * from '../core/types.js';
