/**
 * A worker of the user's own calling loadModel with a URL relative to the worker's script (there is
 * no document in a worker to resolve it against): /test/browser/ -> /models/.
 */
import { loadModel } from '../../src/index.js';

self.onmessage = async (e: MessageEvent<string[]>) => {
  try {
    const model = await loadModel('../../models/sst2-bert-tiny.i8t');
    const preds = await model.classify(e.data);
    model.dispose();
    self.postMessage({ labels: preds.map((p) => p.label), logits: preds.map((p) => p.logits) });
  } catch (err) {
    self.postMessage({ error: (err as Error).message });
  }
};
