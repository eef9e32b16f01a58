import { suite } from './cases/split-heads-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);
