// Holds one onnxruntime session in a worker thread. onnxruntime-node's session.run computes
// synchronously on the calling thread (it only defers the call with setImmediate), so running
// it here is what keeps the main event loop free during a batch. Plain JavaScript on purpose:
// a worker must start without a TypeScript loader.
//
// Messages in:  { op: 'open', file, options } | { op: 'run', id, feeds, fetches } | { op: 'close' }
// Messages out: { op: 'opened', inputs, outputs } | { op: 'result', id, outputs } | { op: 'error', id?, message }
// A tensor on the wire is { type, data (a typed array), dims }; result buffers are transferred.
import { parentPort } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

let session = null;

const describe = (list) => list.map((m) => ({ name: m.name, type: m.isTensor ? m.type : 'string', shape: m.isTensor ? [...m.shape] : [] }));
const message = (err) => (err instanceof Error ? err.message : String(err)).split('\n')[0].slice(0, 500);

parentPort.on('message', async (msg) => {
  try {
    if (msg.op === 'open') {
      session = await ort.InferenceSession.create(msg.file, msg.options);
      parentPort.postMessage({ op: 'opened', inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });
    } else if (msg.op === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const results = await session.run(feeds, msg.fetches);
      const outputs = {};
      const transfer = [];
      for (const [name, t] of Object.entries(results)) {
        // A copy owns its buffer, so it can be transferred whatever memory the runtime used.
        const data = t.data.slice();
        outputs[name] = { type: t.type, data, dims: [...t.dims] };
        transfer.push(data.buffer);
      }
      parentPort.postMessage({ op: 'result', id: msg.id, outputs }, transfer);
    } else if (msg.op === 'close') {
      await session?.release();
      session = null;
      parentPort.close();
    }
  } catch (err) {
    parentPort.postMessage({ op: 'error', id: msg.id, message: message(err) });
  }
});
