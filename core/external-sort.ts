// External merge sort of tuples of numbers and strings, ordered as compareTuples orders them,
// and SpillFile (records appended to a file and read back in order). The sorter holds no JS
// object per buffered record: records are encoded as they are added (core/packed-records.ts)
// into one reused arena Buffer; a full arena (`spillRecords` records or `spillBytes` bytes) is
// sorted through an array of offsets and written as one binary run file in `dir`; `sorted()`
// merges the runs with a heap, each run read through one reused chunk. A record is decoded into
// a tuple only when it is yielded, so every tuple dies young (arrays of tuples waiting in a
// buffer were promoted to V8's old generation, enough to set finalise's peak RSS at 200k rows).
// Memory is one arena plus one chunk per run merged, whatever the number of records; with fewer
// records than one arena nothing touches disk. Ties keep insertion order, so the output is the
// same whatever the spill thresholds.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { RecordCodec, recordLength, type FieldType, type RecordOf } from './packed-records.ts';

export const DEFAULT_SPILL_RECORDS = 10_000;
/** Arena bytes before a run is written (records of finalise's marks are 40 to 300 bytes). */
export const DEFAULT_SPILL_BYTES = 2 * 1024 * 1024;
/** Run files merged at once. */
const MAX_FAN_IN = 64;
/** Bytes read at once per run file in a merge (a chunk grows for a longer record). */
const READ_CHUNK = 16 * 1024;
/** Bytes staged before a write to a run file. */
const WRITE_CHUNK = 64 * 1024;

export class ExternalSorter<S extends readonly FieldType[]> {
  private readonly codec: RecordCodec<S>;
  private arena: Buffer;
  private used = 0;
  private offsets: Uint32Array;
  private count = 0;
  private readonly runs: string[] = [];
  private finished = false;

  constructor(
    private readonly dir: string,
    fields: S,
    private readonly spillRecords: number = DEFAULT_SPILL_RECORDS,
    private readonly spillBytes: number = DEFAULT_SPILL_BYTES,
  ) {
    if (!Number.isInteger(spillRecords) || spillRecords < 1) throw new Error(`spill threshold must be a positive integer, got ${spillRecords}`);
    this.codec = new RecordCodec(fields);
    // Grown on demand up to the thresholds, so a sorter that sees few records stays small.
    this.arena = Buffer.allocUnsafe(Math.min(spillBytes, 64 * 1024));
    this.offsets = new Uint32Array(Math.min(spillRecords, 1024));
  }

  /** Run files written so far (0 while everything fits in one arena). */
  get spilledRuns(): number {
    return this.runs.length;
  }

  async add(record: RecordOf<S>): Promise<void> {
    if (this.finished) throw new Error('ExternalSorter: add after sorted()');
    const size = this.codec.size(record);
    if (this.count > 0 && (this.count >= this.spillRecords || this.used + size > this.spillBytes)) await this.spill();
    if (this.used + size > this.arena.length) this.arena = grow(this.arena, this.used, this.used + size);
    if (this.count === this.offsets.length) {
      const next = new Uint32Array(Math.min(this.spillRecords, 2 * this.offsets.length));
      next.set(this.offsets);
      this.offsets = next;
    }
    this.offsets[this.count++] = this.used;
    this.used += this.codec.encode(record, this.arena, this.used);
  }

  /** Every record added, in order; call once. Run files are removed when it ends. */
  async *sorted(): AsyncGenerator<RecordOf<S>> {
    this.finished = true;
    if (this.runs.length === 0) {
      const order = this.sortArena();
      for (const o of order) yield this.codec.decode(this.arena, o);
      this.release();
      return;
    }
    if (this.count) await this.spill();
    this.release();
    try {
      // At most MAX_FAN_IN files open at once: consecutive runs are merged into one first (in
      // their place, so ties keep their order).
      let level = 0;
      while (this.runs.length > MAX_FAN_IN) {
        const next: string[] = [];
        for (let i = 0; i < this.runs.length; i += MAX_FAN_IN) {
          const group = this.runs.slice(i, i + MAX_FAN_IN);
          if (group.length === 1) {
            next.push(group[0]);
            continue;
          }
          const file = path.join(this.dir, `merged-${level}-${String(next.length).padStart(6, '0')}.bin`);
          const out = new RunWriter(await open(file, 'w'));
          try {
            for await (const [buf, o] of this.merge(group)) await out.write(buf, o, recordLength(buf, o));
          } finally {
            await out.close();
          }
          await Promise.all(group.map((f) => rm(f, { force: true })));
          next.push(file);
        }
        this.runs.splice(0, this.runs.length, ...next);
        level++;
      }
      for await (const [buf, o] of this.merge(this.runs)) yield this.codec.decode(buf, o);
    } finally {
      await Promise.all(this.runs.map((f) => rm(f, { force: true })));
    }
  }

  /** Offsets of the arena's records in sorted order, ties in insertion order. */
  private sortArena(): Uint32Array {
    const order = this.offsets.subarray(0, this.count);
    const arena = this.arena;
    // Offsets increase with insertion, so comparing them last makes the sort stable.
    return order.sort((x, y) => this.codec.compare(arena, x, arena, y) || x - y);
  }

  private release(): void {
    this.arena = Buffer.alloc(0);
    this.offsets = new Uint32Array(0);
    this.used = 0;
    this.count = 0;
  }

  /** Yields (buffer, offset) of each record of the runs in order; a pair is valid until the next one is asked for. */
  private async *merge(files: string[]): AsyncGenerator<[Buffer, number]> {
    const readers: RunReader[] = [];
    try {
      for (const f of files) readers.push(new RunReader(await open(f, 'r')));
      // Heap of reader indices by their current record; ties go to the earlier run.
      const heap: number[] = [];
      const less = (a: number, b: number) => {
        const ra = readers[a];
        const rb = readers[b];
        const c = this.codec.compare(ra.buf, ra.at, rb.buf, rb.at);
        return c < 0 || (c === 0 && a < b);
      };
      const siftDown = (start: number) => {
        for (let i = start; ; ) {
          const l = 2 * i + 1;
          const r = l + 1;
          let m = i;
          if (l < heap.length && less(heap[l], heap[m])) m = l;
          if (r < heap.length && less(heap[r], heap[m])) m = r;
          if (m === i) return;
          [heap[i], heap[m]] = [heap[m], heap[i]];
          i = m;
        }
      };
      const push = (e: number) => {
        heap.push(e);
        for (let i = heap.length - 1; i > 0; ) {
          const p = (i - 1) >> 1;
          if (!less(heap[i], heap[p])) break;
          [heap[i], heap[p]] = [heap[p], heap[i]];
          i = p;
        }
      };
      for (const [i, r] of readers.entries()) if (await r.next()) push(i);
      while (heap.length) {
        const top = heap[0];
        const r = readers[top];
        yield [r.buf, r.at];
        if (await r.next()) siftDown(0);
        else {
          const last = heap.pop()!;
          if (heap.length) {
            heap[0] = last;
            siftDown(0);
          }
        }
      }
    } finally {
      for (const r of readers) await r.close();
    }
  }

  private async spill(): Promise<void> {
    const order = this.sortArena();
    // Named and placed before any await, so runs keep the order their records came in.
    const file = path.join(this.dir, `run-${String(this.runs.length).padStart(6, '0')}.bin`);
    this.runs.push(file);
    await mkdir(this.dir, { recursive: true });
    const out = new RunWriter(await open(file, 'w'));
    try {
      for (const o of order) await out.write(this.arena, o, recordLength(this.arena, o));
    } finally {
      await out.close();
    }
    this.used = 0;
    this.count = 0;
  }
}

function grow(buf: Buffer, keep: number, need: number): Buffer {
  const next = Buffer.allocUnsafe(Math.max(need, 2 * buf.length));
  buf.copy(next, 0, 0, keep);
  return next;
}

/** Writes records to a run file through one staging chunk. */
class RunWriter {
  private chunk = Buffer.allocUnsafe(WRITE_CHUNK);
  private staged = 0;
  private position = 0;

  constructor(private readonly fh: FileHandle) {}

  async write(from: Buffer, offset: number, length: number): Promise<void> {
    if (this.staged + length > this.chunk.length) {
      await this.flush();
      if (length > this.chunk.length) return this.writeAll(from.subarray(offset, offset + length));
    }
    from.copy(this.chunk, this.staged, offset, offset + length);
    this.staged += length;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      await this.fh.close();
    }
  }

  private async flush(): Promise<void> {
    if (!this.staged) return;
    await this.writeAll(this.chunk.subarray(0, this.staged));
    this.staged = 0;
  }

  private async writeAll(bytes: Buffer): Promise<void> {
    for (let done = 0; done < bytes.length; ) {
      const { bytesWritten } = await this.fh.write(bytes, done, bytes.length - done, this.position);
      done += bytesWritten;
      this.position += bytesWritten;
    }
  }
}

/** Reads a run file's records one at a time through one chunk: `buf` and `at` locate the current record. */
class RunReader {
  buf = Buffer.allocUnsafe(READ_CHUNK);
  at = 0;
  /** Bytes of `buf` holding file data, and the file position after them. */
  private filled = 0;
  private position = 0;
  private current = 0;
  private eof = false;

  constructor(private readonly fh: FileHandle) {}

  /** Moves to the next record; false at the end of the file. */
  async next(): Promise<boolean> {
    const start = this.at + this.current;
    if (!(await this.ensure(start, 4))) return false;
    const s = this.at; // ensure may have moved the data to the front
    const length = recordLength(this.buf, s);
    if (!(await this.ensure(s, length))) throw new Error(`sorted run: record of ${length} bytes cut short`);
    this.current = length;
    return true;
  }

  /** Makes bytes [start, start + n) of the buffer hold file data, moving them to the front and reading more as needed; sets `at` to where they start. */
  private async ensure(start: number, n: number): Promise<boolean> {
    if (start + n <= this.filled) {
      this.at = start;
      return true;
    }
    const have = this.filled - start;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(n);
      this.buf.copy(bigger, 0, start, this.filled);
      this.buf = bigger;
    } else this.buf.copyWithin(0, start, this.filled);
    this.filled = have;
    this.at = 0;
    while (this.filled < n && !this.eof) {
      const { bytesRead } = await this.fh.read(this.buf, this.filled, this.buf.length - this.filled, this.position);
      if (bytesRead === 0) this.eof = true;
      this.filled += bytesRead;
      this.position += bytesRead;
    }
    if (this.filled >= n) return true;
    if (this.filled === 0) return false;
    throw new Error(`sorted run: ${this.filled} bytes at the end are no whole record`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}


/**
 * The lines of a file, one chunk in memory at a time. (readline's async iterator queues up to
 * 1024 lines per file ahead of the reader.)
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
