// The README's worker recipe: a module worker of the app's own that serves one model.
import { serveModelWorker } from '../../src/index.js';

serveModelWorker();
