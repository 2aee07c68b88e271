// weft export OUT --format webdataset|arrow|parquet --out DIR: the rows OUT's index lists (or a SQL
// selection of them) in the layout another loader reads.
//
// webdataset (what OpenCLIP and most CLIP trainers read): tar shards `shard-%06d.tar` of at most
// N samples (and B bytes), keys `%06d` numbered across the export; per key the media as stored
// (`.jpg`/`.png`/`.webp`; RGB-D `.rgb.<ext>` and `.depth.png`; video numbered frames
// `.000.jpg`... and `.wav`), `.txt` (caption, or a clip's subtitle) and `.json` (the index row:
// id, source, url, scores and the other index columns); `sizes.json` maps shard -> samples.
// Tars are deterministic (fixed mtime 0, uid/gid 0, mode 0644, entry order fixed), so the same
// input gives the same bytes; each shard is written to a temporary name, fsynced and renamed;
// a rerun skips the shards export.json records as done.
//
// arrow: the selected rows as Arrow shards of N rows, the same columns and metadata as OUT's.
// parquet: the same as Parquet files of N rows (structs as groups, lists as repeated fields,
// media bytes as binary), with the `huggingface` and `weft` metadata as key-value metadata.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import path from 'node:path';
import tar from 'tar-stream';
import * as arrow from 'apache-arrow';
import parquet from 'parquetjs-lite';
import { readShards, type ShardSample } from './shard-reader.ts';
import { readRunInfo } from './finalise.ts';
import { fsyncDir, tempNameFor, writeJsonAtomic, TMP_SUFFIX } from './fs-atomic.ts';
import { ArrowShardWriter, type ArrowFormat } from './arrow-shard-writer.ts';
import type { ColumnSpec, KindSchema } from '../schemas/kind-schema.ts';
import { selectIndexRows } from './index-query.ts';

export type ExportFormat = 'webdataset' | 'arrow' | 'parquet';
export const EXPORT_FORMATS: ExportFormat[] = ['webdataset', 'arrow', 'parquet'];

export interface ExportOptions {
  format: ExportFormat;
  /** SQL over index.parquet: only rows where it holds. */
  where?: string | null;
  /** Samples per shard (default 1000). */
  samplesPerShard?: number;
  /** Close a shard before it passes this many bytes (0: no byte cap). A sample bigger than the cap gets a shard of its own. */
  maxShardBytes?: number;
  /** Arrow export: IPC stream (default) or file. */
  arrowFormat?: ArrowFormat;
}

export interface ExportedShard {
  name: string;
  count: number;
  bytes: number;
  sha256: string;
}

export interface ExportManifest {
  format: ExportFormat;
  from_fingerprint: string;
  where: string | null;
  samples_per_shard: number;
  max_shard_bytes: number;
  arrow_format: ArrowFormat;
  /** Rows in OUT's index, and those the selection kept (all of them without --where). */
  index_rows: number;
  selected: number;
  shards: ExportedShard[];
  complete: boolean;
}

/** An export folder holding another export; the CLI makes it a usage error. */
export class ExportError extends Error {}

const MANIFEST = 'export.json';

export async function exportOutDir(from: string, dir: string, o: ExportOptions): Promise<ExportManifest> {
  const info = await readRunInfo(from);
  const params = {
    format: o.format,
    from_fingerprint: info.fingerprint,
    where: o.where ?? null,
    samples_per_shard: o.samplesPerShard ?? 1000,
    max_shard_bytes: o.maxShardBytes ?? 0,
    arrow_format: o.arrowFormat ?? 'stream',
  };
  if (!(params.samples_per_shard >= 1)) throw new ExportError(`samples per shard must be >= 1, got ${params.samples_per_shard}`);
  if (path.resolve(from) === path.resolve(dir)) throw new ExportError('--out must differ from the OUT folder');
  await mkdir(dir, { recursive: true });
  // Temporary files of a killed export.
  for (const f of await readdir(dir)) if (f.startsWith('.') && (f.endsWith(TMP_SUFFIX) || f === '.staging')) await rm(path.join(dir, f), { recursive: true, force: true });
  const { rows, total } = await selectIndexRows(from, params.where);
  let previous: ExportManifest | null = null;
  if (existsSync(path.join(dir, MANIFEST))) {
    previous = JSON.parse(await readFile(path.join(dir, MANIFEST), 'utf8')) as ExportManifest;
    const differs = (Object.keys(params) as (keyof typeof params)[]).filter((k) => previous![k] !== params[k]);
    if (differs.length) throw new ExportError(`${dir} holds an export with other options (${differs.map((k) => `${k}: ${JSON.stringify(previous![k])} vs ${JSON.stringify(params[k])}`).join('; ')}); use a new --out`);
  }
  const manifest: ExportManifest = { ...params, index_rows: total, selected: rows.length, shards: [], complete: false };
  // Shards a previous run finished (recorded, and present with the recorded size) are kept.
  const done: ExportedShard[] = [];
  for (const s of previous?.shards ?? []) {
    const st = await stat(path.join(dir, s.name)).catch(() => null);
    if (!st || st.size !== s.bytes) break;
    done.push(s);
  }
  manifest.shards = [...done];
  await writeJsonAtomic(path.join(dir, MANIFEST), manifest);

  const samples = readShards(from, { where: params.where });
  let skip = done.reduce((a, s) => a + s.count, 0);
  let key = 0;
  const sink: ShardSink =
    o.format === 'webdataset'
      ? new TarShards(dir, params.samples_per_shard, params.max_shard_bytes, done.length)
      : o.format === 'parquet'
        ? new ParquetShards(dir, params.samples_per_shard, done.length)
        : new ArrowShards(dir, params.samples_per_shard, params.arrow_format, done.length);
  for await (const sample of samples) {
    const k = key++;
    if (skip > 0) {
      skip--;
      continue;
    }
    for (const shard of await sink.add(k, sample)) await recordShard(dir, manifest, shard);
  }
  for (const shard of await sink.finish()) await recordShard(dir, manifest, shard);
  manifest.complete = true;
  await writeJsonAtomic(path.join(dir, MANIFEST), manifest);
  if (o.format === 'webdataset') await writeJsonAtomic(path.join(dir, 'sizes.json'), Object.fromEntries(manifest.shards.map((s) => [s.name, s.count])));
  return manifest;
}

async function recordShard(dir: string, manifest: ExportManifest, shard: ExportedShard): Promise<void> {
  manifest.shards.push(shard);
  await writeJsonAtomic(path.join(dir, MANIFEST), manifest);
}

interface ShardSink {
  /** Adds sample number `key`; returns the shards it completed. */
  add(key: number, sample: ShardSample): Promise<ExportedShard[]>;
  finish(): Promise<ExportedShard[]>;
}

const pad6 = (n: number) => String(n).padStart(6, '0');

/** Extension of stored image bytes, from their magic. */
export function imageExtension(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xd8) return 'jpg';
  if (bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return 'png';
  if (String.fromCharCode(...bytes.subarray(0, 4)) === 'RIFF' && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP') return 'webp';
  return 'bin';
}

function audioExtension(bytes: Uint8Array): string {
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  return magic === 'fLaC' ? 'flac' : magic === 'RIFF' ? 'wav' : 'bin';
}

type Media = { bytes: Uint8Array | null; path: string | null } | null;

/** The WebDataset files of one sample, in a fixed order. */
export function webdatasetEntries(key: string, sample: ShardSample): { name: string; body: Buffer }[] {
  const v = sample.values;
  const entries: { name: string; body: Buffer }[] = [];
  const add = (suffix: string, body: Uint8Array | string) => entries.push({ name: `${key}.${suffix}`, body: typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength) });
  const kind = String(sample.index.kind);
  if (kind === 'rgbd') {
    const rgb = v.rgb as Media;
    const depth = v.depth as Media;
    if (rgb?.bytes) add(`rgb.${imageExtension(rgb.bytes)}`, rgb.bytes);
    if (depth?.bytes) add(`depth.${imageExtension(depth.bytes)}`, depth.bytes);
  } else if (kind === 'video_clip') {
    const frames = (v.frames as { image: Media }[] | null) ?? [];
    frames.forEach((f, i) => f.image?.bytes && add(`${String(i).padStart(3, '0')}.${imageExtension(f.image.bytes)}`, f.image.bytes));
    const audio = v.audio as Media;
    if (audio?.bytes) add(audioExtension(audio.bytes), audio.bytes);
    if (typeof v.subtitle === 'string') add('txt', v.subtitle);
  } else {
    const image = v.image as Media;
    if (image?.bytes) add(imageExtension(image.bytes), image.bytes);
    if (typeof v.caption === 'string') add('txt', v.caption);
  }
  add('json', JSON.stringify(sample.index));
  return entries;
}

const TAR_HEADER = { mtime: new Date(0), mode: 0o644, uid: 0, gid: 0, uname: '', gname: '', type: 'file' as const };

/** One tar being written: entries streamed to a temporary file, renamed when finished. */
class OpenTar {
  readonly pack = tar.pack();
  readonly tmp: string;
  private readonly ws;
  private readonly done: Promise<void>;
  count = 0;
  bytes = 0;

  constructor(readonly dir: string, readonly name: string) {
    this.tmp = tempNameFor(path.join(dir, name));
    this.ws = createWriteStream(this.tmp);
    this.pack.pipe(this.ws);
    this.done = new Promise((resolve, reject) => {
      this.ws.on('finish', () => resolve());
      this.ws.on('error', reject);
      this.pack.on('error', reject);
    });
  }

  async addSample(entries: { name: string; body: Buffer }[]): Promise<void> {
    for (const e of entries) {
      await new Promise<void>((resolve, reject) => this.pack.entry({ ...TAR_HEADER, name: e.name, size: e.body.byteLength }, e.body, (err) => (err ? reject(err) : resolve())));
      this.bytes += 512 + Math.ceil(e.body.byteLength / 512) * 512;
    }
    this.count++;
    // Backpressure: let the file catch up before packing more.
    if (this.ws.writableNeedDrain) await once(this.ws, 'drain');
  }

  async close(): Promise<ExportedShard> {
    this.pack.finalize();
    await this.done;
    const fh = await open(this.tmp, 'r');
    await fh.sync();
    await fh.close();
    const final = path.join(this.dir, this.name);
    await rename(this.tmp, final);
    await fsyncDir(this.dir);
    const { bytes, sha256 } = await hashFile(final);
    return { name: this.name, count: this.count, bytes, sha256 };
  }
}

async function hashFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).byteLength;
  }
  return { bytes, sha256: hash.digest('hex') };
}

class TarShards implements ShardSink {
  private current: OpenTar | null = null;

  constructor(private readonly dir: string, private readonly perShard: number, private readonly maxBytes: number, private next: number) {}

  async add(key: number, sample: ShardSample): Promise<ExportedShard[]> {
    const entries = webdatasetEntries(pad6(key), sample);
    const size = entries.reduce((a, e) => a + 512 + Math.ceil(e.body.byteLength / 512) * 512, 0);
    const closed: ExportedShard[] = [];
    // Roll over before a sample that would pass the byte cap (a shard always takes one sample).
    if (this.current && this.maxBytes > 0 && this.current.count > 0 && this.current.bytes + size > this.maxBytes) closed.push(await this.closeCurrent());
    this.current ??= new OpenTar(this.dir, `shard-${pad6(this.next++)}.tar`);
    await this.current.addSample(entries);
    if (this.current.count >= this.perShard) closed.push(await this.closeCurrent());
    return closed;
  }

  private async closeCurrent(): Promise<ExportedShard> {
    const cur = this.current!;
    this.current = null;
    return cur.close();
  }

  async finish(): Promise<ExportedShard[]> {
    return this.current ? [await this.closeCurrent()] : [];
  }
}

/** Arrow export: rows in shards of N, with the source shards' columns and metadata. */
class ArrowShards implements ShardSink {
  private writer: ArrowShardWriter<Record<string, unknown>> | null = null;
  private count = 0;

  constructor(private readonly dir: string, private readonly perShard: number, private readonly format: ArrowFormat, private next: number) {}

  async add(_key: number, sample: ShardSample): Promise<ExportedShard[]> {
    if (!this.writer) {
      const seq = pad6(this.next++);
      this.writer = new ArrowShardWriter({ schema: schemaOf(sample), unitId: seq, stagingDir: path.join(this.dir, '.staging'), maxShardBytes: Number.MAX_SAFE_INTEGER, rowsPerBatch: 100, format: this.format, metadata: metadataOf(sample.schema) });
    }
    await this.writer.add(sample.values, 0);
    if (++this.count >= this.perShard) return [await this.close()];
    return [];
  }

  private async close(): Promise<ExportedShard> {
    const [staged] = await this.writer!.finish();
    this.writer = null;
    const name = path.basename(staged.path).replace(/-\d{4}\.arrow$/, '.arrow');
    await rename(staged.stagedPath, path.join(this.dir, name));
    await fsyncDir(this.dir);
    await rm(path.join(this.dir, '.staging'), { recursive: true, force: true });
    const shard = { name, count: this.count, bytes: staged.bytes, sha256: staged.sha256 };
    this.count = 0;
    return shard;
  }

  async finish(): Promise<ExportedShard[]> {
    return this.writer ? [await this.close()] : [];
  }
}

function schemaOf(sample: ShardSample): KindSchema<Record<string, unknown>> {
  const columns: ColumnSpec<Record<string, unknown>>[] = sample.schema.fields.map((f: arrow.Field) => ({ name: f.name, type: f.type, nullable: true, hf: null, get: (r) => r[f.name] ?? null }));
  return { kind: String(sample.index.kind), columns, index: [], maxRowsPerBatch: 100 };
}

function metadataOf(schema: arrow.Schema): Record<string, unknown> {
  return Object.fromEntries([...schema.metadata].map(([k, v]) => [k, JSON.parse(v)]));
}

/** Parquet export: rows in files of N, nested columns as Parquet groups and repeated fields. */
class ParquetShards implements ShardSink {
  private writer: { w: any; tmp: string; name: string; count: number } | null = null;

  constructor(private readonly dir: string, private readonly perShard: number, private next: number) {}

  async add(_key: number, sample: ShardSample): Promise<ExportedShard[]> {
    if (!this.writer) {
      const name = `${String(sample.index.kind)}-${pad6(this.next++)}.parquet`;
      const tmp = tempNameFor(path.join(this.dir, name));
      const schema = new parquet.ParquetSchema(Object.fromEntries(sample.schema.fields.map((f) => [f.name, parquetField(f.type, false)])));
      const w = await parquet.ParquetWriter.openFile(schema, tmp, { rowGroupSize: 256 });
      for (const [k, v] of sample.schema.metadata) w.setMetadata(k, v);
      this.writer = { w, tmp, name, count: 0 };
    }
    const row: Record<string, unknown> = {};
    for (const f of sample.schema.fields) {
      const v = parquetValue(sample.values[f.name]);
      if (v !== undefined) row[f.name] = v;
    }
    await this.writer.w.appendRow(row);
    if (++this.writer.count >= this.perShard) return [await this.close()];
    return [];
  }

  private async close(): Promise<ExportedShard> {
    const { w, tmp, name, count } = this.writer!;
    this.writer = null;
    await w.close();
    const fh = await open(tmp, 'r');
    await fh.sync();
    await fh.close();
    await rename(tmp, path.join(this.dir, name));
    await fsyncDir(this.dir);
    const { bytes, sha256 } = await hashFile(path.join(this.dir, name));
    return { name, count, bytes, sha256 };
  }

  async finish(): Promise<ExportedShard[]> {
    return this.writer ? [await this.close()] : [];
  }
}

/** parquetjs field for an Arrow type: optional scalars and groups, lists as repeated fields. */
function parquetField(type: arrow.DataType, repeated: boolean): Record<string, unknown> {
  const mode = repeated ? { repeated: true } : { optional: true };
  if (arrow.DataType.isStruct(type)) return { ...mode, fields: Object.fromEntries(type.children.map((c) => [c.name, parquetField(c.type, false)])) };
  if (arrow.DataType.isList(type)) {
    if (repeated) throw new Error(`parquet export: a list of lists (${type}) has no repeated-field form`);
    return parquetField(type.children[0].type, true);
  }
  const name = String(type);
  const scalar: Record<string, string> = { Utf8: 'UTF8', Binary: 'BYTE_ARRAY', Int32: 'INT32', Int64: 'INT64', Float64: 'DOUBLE', Float32: 'FLOAT', Bool: 'BOOLEAN' };
  if (!scalar[name]) throw new Error(`parquet export: no Parquet type for Arrow ${name}`);
  return { ...mode, type: scalar[name], compression: 'UNCOMPRESSED' };
}

/** A plain value as parquetjs takes it: nulls left out, bytes as Buffers. */
function parquetValue(v: unknown): unknown {
  if (v === null || v === undefined) return undefined;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (Array.isArray(v)) return v.map(parquetValue).filter((x) => x !== undefined);
  if (typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const p = parquetValue(x);
      if (p !== undefined) o[k] = p;
    }
    return o;
  }
  return v;
}
