// Consumes samples of one kind for one unit; emits Arrow IPC files into the unit's staging
// folder: the stream format by default (what Hugging Face `datasets` memory-maps), or the file
// format (a footer, for polars scan_ipc and other random-access readers). Shards are capped by bytes and
// batches by rows and by bytes. Nothing here is visible to readers: the commit step renames the staged
// files into shards/ only after every one of them is fsynced.
import { createHash, type Hash } from 'node:crypto';
import { open, mkdir, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import type { KindSchema } from '../schemas/kind-schema.ts';
import type { ShardEntry } from '../schemas/manifest.ts';

export interface ShardWriterOptions<S> {
  schema: KindSchema<S>;
  unitId: string;
  /** Folder the shard files are written to before commit. */
  stagingDir: string;
  maxShardBytes: number;
  rowsPerBatch: number;
  /** A batch is written once its rows reach this many (approximate) bytes. Default MAX_BATCH_BYTES. */
  maxBatchBytes?: number;
  /** Schema metadata: key -> JSON value (e.g. huggingface, weft). */
  metadata: Record<string, unknown>;
  /** IPC stream (default) or IPC file format. */
  format?: ArrowFormat;
  /** OUT subfolder the files are committed to: shards (default), or sidecars for per-unit sidecar files. */
  folder?: string;
}

export type ArrowFormat = 'stream' | 'file';

/**
 * Bytes of rows held before a batch is written. A batch is built as one copy of its rows (Arrow
 * stores a column's values in one buffer) while the rows themselves are still held, so a
 * batch of media rows costs about twice its bytes at once: 100 RGB-D pairs of 640x480 PNGs,
 * about 50 MB, put peaks of 45-90 MiB on the run's RSS at every batch. Rows of a few KB (image-text
 * thumbnails) still fill their rows cap first.
 */
export const MAX_BATCH_BYTES = 8 * 1024 * 1024;

/** A staged shard: the ShardEntry it will have once committed, and where it lies now. */
export interface StagedShard extends ShardEntry {
  stagedPath: string;
}

function shardFileName(kind: string, unitId: string, seq: number): string {
  return `${kind}-${unitId}-${String(seq).padStart(4, '0')}.arrow`;
}

/** The `huggingface` schema metadata entry that lets `datasets` load a shard with its features. */
export function huggingfaceMetadata(schema: KindSchema<unknown>): unknown {
  return { info: { features: Object.fromEntries(schema.columns.map((c) => [c.name, c.hf])) } };
}

/**
 * `type` with every field inside it nullable. `datasets` keeps a feature from the `huggingface`
 * metadata only when the Arrow field equals the one the feature generates, and every field it
 * generates is nullable (struct children and list items included); a non-nullable field makes it
 * fall back to a plain struct (an image comes back as {bytes, path} instead of Image()).
 */
export function nullableType(type: arrow.DataType): arrow.DataType {
  if (arrow.DataType.isStruct(type)) return new arrow.Struct(type.children.map((f) => new arrow.Field(f.name, nullableType(f.type), true)));
  if (arrow.DataType.isList(type)) {
    const item = type.children[0];
    return new arrow.List(new arrow.Field(item.name, nullableType(item.type), true));
  }
  return type;
}

export function arrowSchemaOf<S>(schema: KindSchema<S>, metadata: Record<string, unknown>): arrow.Schema {
  const fields = schema.columns.map((c) => new arrow.Field(c.name, nullableType(c.type), true));
  const meta = new Map(Object.entries(metadata).map(([k, v]) => [k, JSON.stringify(v)]));
  return new arrow.Schema(fields, meta);
}

export class ArrowShardWriter<S> {
  private readonly arrowSchema: arrow.Schema;
  private readonly rowsPerBatch: number;
  private readonly maxBatchBytes: number;
  private pending: S[] = [];
  private pendingBytes = 0;
  private current: OpenShard | undefined;
  private seq = 0;
  private readonly done: StagedShard[] = [];

  constructor(private readonly opts: ShardWriterOptions<S>) {
    this.arrowSchema = arrowSchemaOf(opts.schema, opts.metadata);
    this.rowsPerBatch = Math.min(opts.rowsPerBatch, opts.schema.maxRowsPerBatch);
    this.maxBatchBytes = opts.maxBatchBytes ?? MAX_BATCH_BYTES;
  }

  /** Adds one sample; returns where it will live once committed. */
  async add(sample: S, approxBytes: number): Promise<{ shard: string; row: number }> {
    // Roll over before the batch that would push the shard past its cap, never mid-batch.
    if (this.pending.length === 0 && this.current && this.current.rows > 0 && this.current.bytes + approxBytes > this.opts.maxShardBytes) {
      await this.closeCurrent();
    }
    if (!this.current) await this.openNext();
    const shard = this.current!;
    const location = { shard: shard.entryPath, row: shard.rows + this.pending.length };
    this.pending.push(sample);
    this.pendingBytes += approxBytes;
    if (this.pending.length >= this.rowsPerBatch || this.pendingBytes >= this.maxBatchBytes || shard.bytes + this.pendingBytes >= this.opts.maxShardBytes) {
      await this.flushBatch();
    }
    return location;
  }

  /** Flushes and fsyncs everything; returns the staged shards in order. */
  async finish(): Promise<StagedShard[]> {
    await this.closeCurrent();
    return [...this.done];
  }

  /** Abandons the unit: closes and deletes what was staged. */
  async abort(): Promise<void> {
    const cur = this.current;
    this.current = undefined;
    this.pending = [];
    if (cur) await cur.discard();
    for (const s of this.done) await rm(s.stagedPath, { force: true });
  }

  private async openNext(): Promise<void> {
    const name = shardFileName(this.opts.schema.kind, this.opts.unitId, this.seq++);
    await mkdir(this.opts.stagingDir, { recursive: true });
    this.current = await OpenShard.create(path.join(this.opts.stagingDir, name), `${this.opts.folder ?? 'shards'}/${name}`, this.arrowSchema, this.opts.format ?? 'stream');
  }

  private async flushBatch(): Promise<void> {
    if (this.pending.length === 0 || !this.current) return;
    const batch = toRecordBatch(this.opts.schema, this.arrowSchema, this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    await this.current.write(batch);
    if (this.current.bytes >= this.opts.maxShardBytes) await this.closeCurrent();
  }

  private async closeCurrent(): Promise<void> {
    await this.flushBatch();
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    if (cur.rows === 0) {
      await cur.discard();
      return;
    }
    const { bytes, sha256 } = await cur.close();
    this.done.push({
      path: cur.entryPath,
      stagedPath: cur.filePath,
      kind: this.opts.schema.kind,
      rows: cur.rows,
      bytes,
      sha256,
      unit: this.opts.unitId,
    });
  }
}

export function toRecordBatch<S>(schema: KindSchema<S>, arrowSchema: arrow.Schema, rows: S[]): arrow.RecordBatch {
  const children = schema.columns.map((c, i) => arrow.vectorFromArray(rows.map((r) => c.get(r)), arrowSchema.fields[i].type).data[0]);
  const data = arrow.makeData({ type: new arrow.Struct(arrowSchema.fields), length: rows.length, nullCount: 0, children });
  return new arrow.RecordBatch(arrowSchema, data);
}

/**
 * Collects the writer's output synchronously. arrow-js accepts any AsyncByteQueue as its sink;
 * capturing writes lets each batch go to disk (and into the hash) before the next one is
 * built, so memory stays at about one batch and byte counts are exact.
 */
class CaptureQueue extends arrow.AsyncByteQueue {
  chunks: Uint8Array[] = [];
  override write(value: Uint8Array): void {
    if (value.byteLength > 0) this.chunks.push(value);
  }
  take(): Uint8Array[] {
    const c = this.chunks;
    this.chunks = [];
    return c;
  }
}

/** One shard file being written. */
class OpenShard {
  rows = 0;
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly sink = new CaptureQueue();
  private readonly writer: arrow.RecordBatchWriter;

  private constructor(
    readonly filePath: string,
    readonly entryPath: string,
    private readonly fh: FileHandle,
    schema: arrow.Schema,
    format: ArrowFormat,
  ) {
    this.writer = format === 'file' ? new arrow.RecordBatchFileWriter() : new arrow.RecordBatchStreamWriter();
    this.writer.reset(this.sink as unknown as arrow.AsyncByteQueue, schema);
  }

  static async create(filePath: string, entryPath: string, schema: arrow.Schema, format: ArrowFormat): Promise<OpenShard> {
    const fh = await open(filePath, 'w');
    const shard = new OpenShard(filePath, entryPath, fh, schema, format);
    await shard.drain();
    return shard;
  }

  async write(batch: arrow.RecordBatch): Promise<void> {
    this.writer.write(batch);
    this.rows += batch.numRows;
    await this.drain();
  }

  async close(): Promise<{ bytes: number; sha256: string }> {
    this.writer.finish(); // writes the end-of-stream marker (and, in the file format, the footer)
    await this.drain();
    await this.fh.sync();
    await this.fh.close();
    return { bytes: this.bytes, sha256: this.hash.digest('hex') };
  }

  async discard(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.filePath, { force: true });
  }

  private async drain(): Promise<void> {
    const chunks = this.sink.take();
    if (chunks.length === 0) return;
    // One gathered write per batch instead of one per buffer, without joining them first: a
    // joined copy of a batch of media rows (about 50 MB at 100 RGB-D pairs) was the largest
    // allocation of a run, and its peak RSS.
    for (const c of chunks) {
      this.hash.update(c);
      this.bytes += c.byteLength;
    }
    await writeAll(this.fh, chunks);
  }
}

/** Writes every chunk in order, in as few calls as the OS takes (writev may write part of them). */
async function writeAll(fh: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let rest = chunks;
  while (rest.length > 0) {
    const total = rest.reduce((n, c) => n + c.byteLength, 0);
    let { bytesWritten } = await fh.writev(rest);
    if (bytesWritten >= total) return;
    const left: Uint8Array[] = [];
    for (const c of rest) {
      if (bytesWritten >= c.byteLength) bytesWritten -= c.byteLength;
      else {
        left.push(bytesWritten > 0 ? c.subarray(bytesWritten) : c);
        bytesWritten = 0;
      }
    }
    rest = left;
  }
}
