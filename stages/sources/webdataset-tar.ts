// WebDataset shards (.tar, .tar.gz, .tgz) from local paths. The WebDataset convention: a
// sample is a run of consecutive members sharing a key, the member path up to the first dot
// of its base name (`a/b/0001.jpg` and `a/b/0001.txt` are sample `a/b/0001`).
//
// Consumes: tar files, streamed member by member; nothing is ever written to disk. Emits:
// ImageTextRaw items with `imageBytes` (key.jpg / .jpeg / .png / .webp) and the caption from
// key.txt, or from key.json (`caption`, `text`, `alt`, `alt_text`, `title` in that order).
// Drops, at stage `source`:
//   unsafe_tar_member  absolute path, `..` component, link, device, or any non-regular entry
//   member_too_large   a member over max_member_bytes (skipped unread)
//   image_missing      a key with no image member
//   caption_missing    a key with neither key.txt nor a usable key.json caption
//   bad_row            key.json that is not a JSON object
//   duplicate_key      a key seen earlier in the same tar (members not contiguous)
//   tar_corrupt        the tar stream fails (truncated, bad header): the samples not yet read
//                      are lost; one reject names the tar and where it broke
// A tar that cannot be opened or read (ENOENT, EACCES, EIO, EMFILE) is no reject: it fails
// the unit (UnitFailure), which stays uncommitted and is retried on rerun.
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import path from 'node:path';
import tar from 'tar-stream';
import { IMAGE_TEXT, type ImageTextRaw } from '../../schemas/image-text.ts';
import { dropItem, errorMessage, isReadFailure, readFailure, type ItemDrop, type StageContext } from '../../core/stage.ts';
import { pathUnitId, type Unit } from '../../core/units.ts';
import { extraColumnValues } from './list-file.ts';

const IMAGE_EXTENSIONS = ['jpg', 'jpeg', 'png', 'webp'];
const JSON_CAPTION_FIELDS = ['caption', 'text', 'alt', 'alt_text', 'title'];

export interface WebDatasetUnitSpec {
  layout: 'webdataset';
  file: string;
}

export interface WebDatasetOptions {
  /** key.json fields copied into `extra` as strings. */
  extraColumns?: string[];
  /** Members above this size are rejected without being read. Default 64 MiB. */
  maxMemberBytes?: number;
}

export function isTarPath(file: string): boolean {
  return /\.(tar|tar\.gz|tgz)$/i.test(file);
}

/** One unit per tar: the file itself, or every tar directly inside a folder, sorted by name. */
export async function listWebDatasetUnits(absPath: string): Promise<Unit<WebDatasetUnitSpec>[]> {
  const info = await stat(absPath);
  const files = info.isDirectory()
    ? (await readdir(absPath, { withFileTypes: true }))
        .filter((e) => e.isFile() && isTarPath(e.name))
        .map((e) => path.join(absPath, e.name))
        .sort()
    : [absPath];
  if (files.length === 0) throw new Error(`webdataset source ${absPath}: no .tar, .tar.gz or .tgz files in the folder`);
  return files.map((file) => {
    const spec: WebDatasetUnitSpec = { layout: 'webdataset', file };
    return { id: tarUnitId(file), source: path.basename(file), spec: { ...spec } };
  });
}

/** Unit id of a tar, from its exact file name (the prefix of its sample ids too): `a.tar` and `a.tgz` differ. */
export function tarUnitId(file: string): string {
  return pathUnitId('', path.basename(file));
}

/**
 * Why a member name is unsafe to use, or undefined when it is a plain relative path. Names are
 * never used as file system paths here; the check keeps hostile shards out of ids and out of
 * anything downstream that might one day extract them.
 */
export function unsafeMemberName(name: string): string | undefined {
  if (name === '') return 'empty member name';
  if (name.includes('\0')) return 'member name contains NUL';
  if (name.startsWith('/') || /^[A-Za-z]:[\\/]/.test(name) || name.startsWith('\\')) return 'absolute member path';
  if (name.split(/[\\/]/).includes('..')) return "member path has a '..' component";
  return undefined;
}

/** Why an entry is refused; 'skip' for a harmless directory; undefined for a usable file. */
function unsafeEntry(header: { name: string; type?: string | null; linkname?: string | null }): string | 'skip' | undefined {
  const badName = unsafeMemberName(header.name);
  if (badName !== undefined) return badName;
  if (header.type === 'directory') return 'skip';
  if (header.type === 'file' || header.type === 'contiguous-file') return undefined;
  return `${header.type ?? 'unknown'} entry${header.linkname ? ` -> ${header.linkname}` : ''}`;
}

/** WebDataset key and extension of a member: `dir/0001.seg.txt` -> [`dir/0001`, `seg.txt`]. */
export function splitMemberName(name: string): { key: string; extension: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, extension: '' };
  return { key: name.slice(0, dot), extension: name.slice(dot + 1).toLowerCase() };
}

interface Group {
  key: string;
  members: Map<string, Uint8Array>;
  /** Set when a member of the sample was refused: the sample is rejected with it. */
  failure?: { reason: string; detail: string };
}

/** The samples of one tar, in member order. Every dropped member or key goes to the ledger. */
export async function* readWebDatasetUnit(unit: Unit<WebDatasetUnitSpec>, ctx: StageContext, options: WebDatasetOptions = {}): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const spec = unit.spec;
  if (spec.layout !== 'webdataset') throw new Error(`unit ${unit.id} is not a WebDataset unit`);
  yield* readWebDatasetTar(spec.file, ctx, options);
}

export async function* readWebDatasetTar(file: string, ctx: StageContext, options: WebDatasetOptions = {}): AsyncGenerator<ImageTextRaw | ItemDrop> {
  const maxMemberBytes = options.maxMemberBytes ?? 64 * 1024 * 1024;
  const name = tarUnitId(file);
  const fileName = path.basename(file);
  const traced = (key: string) => ({ id: `${name}:${key}`, kind: IMAGE_TEXT, source: `${fileName}:${key}` });
  const reject = (key: string, reason: string, detail: string) => dropItem(traced(key), reason, detail);
  const seenKeys = new Set<string>();
  let group: Group | undefined;

  const finish = (g: Group): ImageTextRaw | ItemDrop => {
    const item = g.failure ?? sampleOf(g, options.extraColumns ?? []);
    if ('reason' in item) return reject(g.key, item.reason, item.detail);
    return { ...traced(g.key), ...item };
  };

  const raw = createReadStream(file);
  const extract = tar.extract();
  const input: Readable = /\.(gz|tgz)$/i.test(file) ? raw.pipe(createGunzip()) : raw;
  if (input !== raw) raw.on('error', (err: Error) => input.destroy(err));
  input.on('error', (err: Error) => extract.destroy(err));
  input.pipe(extract);
  let lastMember = '(start of file)';
  try {
    for await (const entry of extract) {
      if (ctx.signal.aborted) {
        entry.resume();
        break;
      }
      const header = entry.header;
      const memberName = header.name;
      lastMember = memberName;
      const unsafe = unsafeEntry(header);
      if (unsafe === 'skip') {
        entry.resume(); // a safe directory entry carries no sample data
        continue;
      }
      if (unsafe !== undefined) {
        entry.resume();
        yield reject(printableKey(memberName), 'unsafe_tar_member', `${printableKey(memberName)}: ${unsafe}`);
        continue;
      }
      const { key, extension } = splitMemberName(memberName);
      if (group && group.key !== key) {
        const item = finish(group);
        group = undefined;
        yield item;
      }
      if (!group) {
        if (seenKeys.has(key)) {
          entry.resume();
          // Named by member, not key: the key's first run may have been kept under the key's id.
          yield reject(printableKey(memberName), 'duplicate_key', `${memberName}: key ${key} appeared earlier in the tar, separated by other keys`);
          continue;
        }
        seenKeys.add(key);
        group = { key, members: new Map() };
      }
      if ((header.size ?? 0) > maxMemberBytes) {
        entry.resume();
        // The whole sample goes, once, under this reason (not again as image_missing).
        group.failure ??= { reason: 'member_too_large', detail: `${memberName} is ${header.size} bytes, the limit is ${maxMemberBytes}` };
        continue;
      }
      group.members.set(extension, await readEntry(entry as unknown as AsyncIterable<Buffer>));
    }
    if (group && !ctx.signal.aborted) {
      const item = finish(group);
      group = undefined;
      yield item;
    }
  } catch (err) {
    // The tar cannot be opened or read (not: its bytes are bad): the unit fails and is retried.
    if (isReadFailure(err)) throw readFailure(file, err);
    const where = group ? `key ${group.key}` : `after ${printableKey(lastMember)}`;
    yield reject(`${group?.key ?? '(tar)'}`, 'tar_corrupt', `${fileName} failed at ${where}: ${errorMessage(err)}`);
  } finally {
    raw.destroy();
    input.destroy();
    extract.destroy();
  }
}

async function readEntry(entry: AsyncIterable<Buffer>): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of entry) chunks.push(chunk);
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
}

type Sample = Pick<ImageTextRaw, 'caption' | 'imageBytes' | 'extra'> | { reason: string; detail: string };

function sampleOf(group: Group, extraFields: string[]): Sample {
  const imageExt = IMAGE_EXTENSIONS.find((ext) => group.members.has(ext));
  const members = [...group.members.keys()].map((ext) => `${group.key}.${ext}`).join(', ');
  if (imageExt === undefined) return { reason: 'image_missing', detail: `key ${group.key} has no .jpg/.jpeg/.png/.webp member (has ${members})` };
  let json: Record<string, unknown> | undefined;
  const jsonBytes = group.members.get('json');
  if (jsonBytes) {
    try {
      const value: unknown = JSON.parse(Buffer.from(jsonBytes).toString('utf8'));
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
      json = value as Record<string, unknown>;
    } catch (err) {
      return { reason: 'bad_row', detail: `${group.key}.json: ${errorMessage(err)}` };
    }
  }
  const txt = group.members.get('txt');
  let caption: string | undefined;
  if (txt) caption = stripBom(Buffer.from(txt).toString('utf8'));
  else if (json) {
    const field = JSON_CAPTION_FIELDS.find((f) => typeof json![f] === 'string' || typeof json![f] === 'number');
    if (field) caption = String(json[field]);
  }
  if (caption === undefined) return { reason: 'caption_missing', detail: `key ${group.key} has no .txt and no caption field in its .json (has ${members})` };
  const sample: Sample = { caption, imageBytes: group.members.get(imageExt)! };
  const extra = json ? extraColumnValues(json, extraFields) : undefined;
  if (extra) sample.extra = extra;
  return sample;
}

/** Member names go into ids and details: keep them printable and bounded. */
function printableKey(name: string): string {
  return name.replace(/[\0-\x1f\x7f]/g, '?').slice(0, 200);
}

function stripBom(s: string): string {
  return s.charCodeAt(0) === 0xfeff ? s.slice(1) : s;
}
