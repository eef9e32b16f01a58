#!/usr/bin/env node
// Runs the TypeScript CLI through tsx's loader (the source is the program; no build step).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
