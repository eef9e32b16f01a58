import { suite } from './cases/embedding-f32.js';
import { runSuite } from './run-suite.js';

runSuite(suite);
