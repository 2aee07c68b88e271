// Lets the fetch stage run ahead of the CPU stages after it. A stage pulls its input only when
// it wants the next item, so without this the fetch stage starts a new URL only as fast as
// decode takes items, and a slow URL started near the end of a unit costs its whole wait at
// the end. Here downloads are pulled as soon as they finish and wait, fetched, for decode in a
// queue bounded by bytes (fetch.read_ahead_bytes): the fetch side finishes its URLs early, and
// a slow or hanging one is waited out while decode works through the queue.
import type { Stage } from '../../core/stage.ts';

/** Bookkeeping charged per queued item on top of sizeOf (its fields, the entry). */
const QUEUED_ENTRY_BYTES = 1024;

export interface ReadAheadOptions {
  /** Called with true when the stage after this one asks for an item and the queue is empty
   *  (it has caught up with the downloads and waits on them), with false when the next item
   *  arrives for it. Not called once the input has ended. */
  onWaiting?: (waiting: boolean) => void;
}

export function readAhead<T>(maxBytes: number, sizeOf: (item: T) => number, options: ReadAheadOptions = {}): Stage<T, T> {
  return (input) => pumped(input, maxBytes, sizeOf, options);
}

async function* pumped<T>(input: AsyncIterable<T>, maxBytes: number, sizeOf: (item: T) => number, options: ReadAheadOptions): AsyncGenerator<T> {
  const iterator = input[Symbol.asyncIterator]();
  const queue: Array<{ item: T; bytes: number }> = [];
  let head = 0;
  let queuedBytes = 0;
  let ended = false;
  let failure: { error: unknown } | undefined;
  let stopped = false;
  let wakeConsumer: (() => void) | undefined;
  let wakeProducer: (() => void) | undefined;
  const wake = (which: 'consumer' | 'producer') => {
    const fn = which === 'consumer' ? wakeConsumer : wakeProducer;
    if (which === 'consumer') wakeConsumer = undefined;
    else wakeProducer = undefined;
    fn?.();
  };

  const pump = (async () => {
    try {
      while (!stopped) {
        // Always let one item through, however large, so the stage never stalls.
        while (queuedBytes >= maxBytes && queue.length > head && !stopped) await new Promise<void>((resolve) => (wakeProducer = resolve));
        if (stopped) break;
        const next = await iterator.next();
        if (next.done) break;
        const bytes = QUEUED_ENTRY_BYTES + sizeOf(next.value);
        queue.push({ item: next.value, bytes });
        queuedBytes += bytes;
        wake('consumer');
      }
    } catch (error) {
      failure = { error };
    } finally {
      ended = true;
      wake('consumer');
    }
  })();

  try {
    for (;;) {
      if (head < queue.length) {
        const entry = queue[head];
        queue[head++] = undefined as unknown as { item: T; bytes: number };
        if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        queuedBytes -= entry.bytes;
        wake('producer');
        yield entry.item;
        continue;
      }
      if (failure) throw failure.error;
      if (ended) break;
      options.onWaiting?.(true);
      await new Promise<void>((resolve) => (wakeConsumer = resolve));
      if (!ended) options.onWaiting?.(false);
    }
  } finally {
    // The consumer stopped early (or the input failed): stop pulling, then close the input.
    stopped = true;
    wake('producer');
    await pump;
    await iterator.return?.();
  }
}
