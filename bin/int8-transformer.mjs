#!/usr/bin/env node
// In a clone: runs the TypeScript CLI through tsx's loader (the source is the program; no build
// step). The installed package runs the built dist/cli.js instead (package.json "bin").
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/bin.ts');
