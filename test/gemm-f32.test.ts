import { suite } from './cases/gemm-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);
