// One ONNX encoder (an image tower or a text tower) run with onnxruntime-node in its own worker
// thread. onnxruntime-node's session.run computes on the calling thread, so a session on the
// main thread would stall the event loop (and every fetch and write of the pipeline) for the
// length of a batch; in a worker it does not. Input and output names, element types and shapes
// come from the session itself, so an export whose ids are int32, or whose text tower has no
// attention_mask, runs without code changes.
import os from 'node:os';
import { Worker } from 'node:worker_threads';

export type TensorType = 'float32' | 'int64' | 'int32' | 'string' | 'bool' | 'float16' | 'float64' | 'uint8' | 'int8';

export interface TensorInfo {
  name: string;
  type: TensorType | string;
  /** Fixed sizes as numbers, dynamic axes as their symbolic names. */
  shape: ReadonlyArray<number | string>;
}

/** A tensor as it crosses the thread boundary. */
export interface HostTensor {
  type: string;
  data: Float32Array | BigInt64Array | Int32Array;
  dims: number[];
}

export interface EncoderOptions {
  /** Intra-op threads; default min(4, CPUs). */
  threads?: number;
}

type Reply =
  | { op: 'opened'; inputs: TensorInfo[]; outputs: TensorInfo[] }
  | { op: 'result'; id: number; outputs: Record<string, HostTensor> }
  | { op: 'error'; id?: number; message: string };

const WORKER_URL = new URL('./onnx-session-worker.js', import.meta.url);

export class OnnxEncoder {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (o: Record<string, HostTensor>) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  private constructor(
    readonly file: string,
    private readonly worker: Worker,
    readonly inputs: ReadonlyMap<string, TensorInfo>,
    readonly outputs: ReadonlyMap<string, TensorInfo>,
  ) {
    worker.on('message', (reply: Reply) => {
      if (reply.op === 'opened' || reply.id === undefined) return;
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      this.idleUnref();
      if (reply.op === 'result') waiter.resolve(reply.outputs);
      else waiter.reject(new Error(`${file}: inference failed: ${reply.message}`));
    });
    const fail = (err: Error) => {
      this.failure = new Error(`${file}: inference worker stopped: ${err.message}`);
      for (const w of this.pending.values()) w.reject(this.failure);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.idleUnref();
  }

  /** Opens `file` in a worker; a file that onnxruntime cannot load gives an error naming the file. */
  static async open(file: string, options: EncoderOptions = {}): Promise<OnnxEncoder> {
    const worker = new Worker(WORKER_URL);
    const sessionOptions = {
      intraOpNumThreads: options.threads ?? Math.min(4, os.availableParallelism()),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    const opened = await new Promise<{ inputs: TensorInfo[]; outputs: TensorInfo[] }>((resolve, reject) => {
      const onMessage = (reply: Reply) => {
        worker.off('error', onError);
        if (reply.op === 'opened') resolve(reply);
        else reject(new Error(`${file}: onnxruntime cannot load this model: ${reply.op === 'error' ? reply.message : 'unexpected reply'}`));
      };
      const onError = (err: Error) => reject(new Error(`${file}: inference worker failed to start: ${err.message}`));
      worker.once('message', onMessage);
      worker.once('error', onError);
      worker.postMessage({ op: 'open', file, options: sessionOptions });
    }).catch(async (err) => {
      await worker.terminate();
      throw err;
    });
    const byName = (list: TensorInfo[]) => new Map(list.map((t) => [t.name, t]));
    return new OnnxEncoder(file, worker, byName(opened.inputs), byName(opened.outputs));
  }

  /**
   * Runs the model on `feeds`, fetching only `outputNames`. Feed buffers are transferred to the
   * worker (they are unusable here afterwards), so callers pass freshly built arrays.
   */
  run(feeds: Record<string, HostTensor>, outputNames: string[]): Promise<Record<string, HostTensor>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const transfer = [...new Set(Object.values(feeds).map((t) => t.data.buffer as ArrayBuffer))];
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ op: 'run', id, feeds, fetches: outputNames }, transfer);
    });
  }

  async close(): Promise<void> {
    if (this.failure) return;
    this.failure = new Error(`${this.file}: encoder is closed`);
    await new Promise<void>((resolve) => {
      this.worker.once('exit', () => resolve());
      this.worker.ref(); // keep the process alive until the session is released
      this.worker.postMessage({ op: 'close' });
    });
  }

  describe(): string {
    const fmt = (m: ReadonlyMap<string, TensorInfo>) => [...m.values()].map((t) => `${t.name} ${t.type} [${t.shape.join(',')}]`).join('; ');
    return `inputs: ${fmt(this.inputs)}; outputs: ${fmt(this.outputs)}`;
  }

  /** An idle worker must not keep the process alive; a busy one must. */
  private idleUnref(): void {
    if (this.pending.size === 0) this.worker.unref();
  }
}

/** An integer tensor of the element type the model declares for `info` (int64 or int32). */
export function integerTensor(info: TensorInfo, values: number[], dims: number[]): HostTensor {
  if (info.type === 'int64') return { type: 'int64', data: BigInt64Array.from(values, (v) => BigInt(v)), dims };
  if (info.type === 'int32') return { type: 'int32', data: Int32Array.from(values), dims };
  throw new Error(`input ${info.name} has element type ${info.type}; expected int64 or int32`);
}

export function floatTensor(data: Float32Array, dims: number[]): HostTensor {
  return { type: 'float32', data, dims };
}
