// External merge sort of JSON-serialisable records: records are buffered up to `spillRecords`,
// each full buffer is sorted and written to a run file in `dir`, and `sorted()` merges the runs
// with a heap, reading each run line by line. Memory is one buffer plus one record per run,
// whatever the number of records; with fewer records than one buffer nothing touches disk.
// Ties keep insertion order (a stable in-memory sort, and runs merged in the order they were
// written), so the output is the same whatever the spill threshold.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';

export const DEFAULT_SPILL_RECORDS = 10_000;
/** Run files merged at once. */
const MAX_FAN_IN = 64;

export class ExternalSorter<T> {
  private buffer: T[] = [];
  private readonly runs: string[] = [];
  private finished = false;

  constructor(
    private readonly dir: string,
    private readonly compare: (a: T, b: T) => number,
    private readonly spillRecords: number = DEFAULT_SPILL_RECORDS,
  ) {
    if (!Number.isInteger(spillRecords) || spillRecords < 1) throw new Error(`spill threshold must be a positive integer, got ${spillRecords}`);
  }

  /** Run files written so far (0 while everything fits in one buffer). */
  get spilledRuns(): number {
    return this.runs.length;
  }

  async add(record: T): Promise<void> {
    if (this.finished) throw new Error('ExternalSorter: add after sorted()');
    this.buffer.push(record);
    if (this.buffer.length >= this.spillRecords) await this.spill();
  }

  /** Every record added, in order; call once. Run files are removed when it ends. */
  async *sorted(): AsyncGenerator<T> {
    this.finished = true;
    if (this.runs.length === 0) {
      const all = this.buffer.sort(this.compare);
      this.buffer = [];
      yield* all;
      return;
    }
    if (this.buffer.length) await this.spill();
    try {
      // At most MAX_FAN_IN files open at once: consecutive runs are merged into one first (in
      // their place, so ties keep their order).
      let runs = [...this.runs];
      let level = 0;
      while (runs.length > MAX_FAN_IN) {
        const next: string[] = [];
        for (let i = 0; i < runs.length; i += MAX_FAN_IN) {
          const group = runs.slice(i, i + MAX_FAN_IN);
          if (group.length === 1) {
            next.push(group[0]);
            continue;
          }
          const file = path.join(this.dir, `merged-${level}-${String(next.length).padStart(6, '0')}.jsonl`);
          await writeLines(file, this.merge(group));
          await Promise.all(group.map((f) => rm(f, { force: true })));
          next.push(file);
        }
        runs = next;
        this.runs.splice(0, this.runs.length, ...runs);
        level++;
      }
      yield* this.merge(runs);
    } finally {
      await Promise.all(this.runs.map((f) => rm(f, { force: true })));
    }
  }

  private async *merge(files: string[]): AsyncGenerator<T> {
    const readers = files.map((file) => lines(file)[Symbol.asyncIterator]());
    // Heap of [record, run index]; ties go to the earlier run.
    const heap: [T, number][] = [];
    const less = (a: [T, number], b: [T, number]) => {
      const c = this.compare(a[0], b[0]);
      return c < 0 || (c === 0 && a[1] < b[1]);
    };
    const push = (e: [T, number]) => {
      heap.push(e);
      for (let i = heap.length - 1; i > 0; ) {
        const p = (i - 1) >> 1;
        if (!less(heap[i], heap[p])) break;
        [heap[i], heap[p]] = [heap[p], heap[i]];
        i = p;
      }
    };
    const pop = (): [T, number] => {
      const top = heap[0];
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l], heap[m])) m = l;
          if (r < heap.length && less(heap[r], heap[m])) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      }
      return top;
    };
    try {
      for (const [i, reader] of readers.entries()) {
        const n = await reader.next();
        if (!n.done) push([JSON.parse(n.value) as T, i]);
      }
      while (heap.length) {
        const [record, i] = pop();
        yield record;
        const n = await readers[i].next();
        if (!n.done) push([JSON.parse(n.value) as T, i]);
      }
    } finally {
      for (const r of readers) await r.return?.(undefined);
    }
  }

  private async spill(): Promise<void> {
    const records = this.buffer.sort(this.compare);
    this.buffer = [];
    // Named and placed before any await, so runs keep the order their records came in.
    const file = path.join(this.dir, `run-${String(this.runs.length).padStart(6, '0')}.jsonl`);
    this.runs.push(file);
    await mkdir(this.dir, { recursive: true });
    const out = createWriteStream(file);
    for (const r of records) {
      if (!out.write(JSON.stringify(r) + '\n')) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
  }
}

async function writeLines<T>(file: string, records: AsyncIterable<T>): Promise<void> {
  const out = createWriteStream(file);
  for await (const r of records) {
    if (!out.write(JSON.stringify(r) + '\n')) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

/** Bytes read at once per open file: a merge holds one chunk per run file (up to MAX_FAN_IN). */
const READ_CHUNK = 16 * 1024;

/**
 * The lines of a file, one chunk in memory at a time. (readline's async iterator queues up to
 * 1024 lines per file ahead of the reader, and a merge keeps one reader per run file.)
 */
async function* lines(file: string): AsyncGenerator<string> {
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: READ_CHUNK });
  let rest = '';
  try {
    for await (const chunk of input as AsyncIterable<string>) {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop()!;
      yield* parts;
    }
    if (rest) yield rest;
  } finally {
    input.destroy();
  }
}

/** Compares tuples of strings and numbers element by element (strings by UTF-16 code units). */
export function compareTuples(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return a.length - b.length;
}

/** Records appended in order to one file and read back, in that order, as often as needed. */
export class SpillFile<T> {
  private out: ReturnType<typeof createWriteStream> | null = null;
  private count = 0;

  constructor(private readonly file: string) {}

  get length(): number {
    return this.count;
  }

  async append(record: T): Promise<void> {
    if (!this.out) {
      await mkdir(path.dirname(this.file), { recursive: true });
      // After a read, appends go on at the end of the file.
      this.out = createWriteStream(this.file, { flags: this.count ? 'a' : 'w' });
    }
    this.count++;
    if (!this.out.write(JSON.stringify(record) + '\n')) await once(this.out, 'drain');
  }

  async *read(): AsyncGenerator<T> {
    await this.flush();
    if (this.count === 0) return;
    for await (const line of lines(this.file)) yield JSON.parse(line) as T;
  }

  async remove(): Promise<void> {
    await this.flush();
    await rm(this.file, { force: true });
  }

  private async flush(): Promise<void> {
    if (!this.out) return;
    const out = this.out;
    this.out = null;
    out.end();
    await once(out, 'finish');
  }
}
