// Local video units: one unit is one video file under the source path (or the file itself).
// Its source yields that video for the pipeline declared in kinds/video.ts.
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathUnitId, type Unit } from '../../core/units.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP } from '../../schemas/video.ts';
import type { VideoRef } from '../../schemas/video-items.ts';
import { addFileStamp, valueHash } from './unit-fingerprint.ts';

const VIDEO_EXTENSIONS = new Set(['.mp4', '.m4v', '.mov', '.mkv', '.webm', '.avi', '.mpg', '.mpeg', '.ts', '.flv', '.ogv', '.3gp', '.wmv']);

export interface VideoUnitSpec {
  layout: 'video_file';
  /** Absolute path, for reading only: outputs name the video by `name`. */
  file: string;
  /** The video's path relative to the source root, '/'-separated (the file name when the root is a file). */
  name: string;
  [key: string]: unknown;
}

/** Every video file under the source path (or the file itself), one unit each, sorted by id. */
export async function listVideoUnits(cfg: VideoSourceConfig, baseDir: string): Promise<Unit<VideoUnitSpec>[]> {
  const root = path.resolve(baseDir, cfg.path);
  const info = await stat(root).catch(() => null);
  if (!info) throw new Error(`video source path ${root} does not exist`);
  const files = info.isDirectory() ? await findVideos(root) : [root];
  const units: Unit<VideoUnitSpec>[] = [];
  for (const file of files) {
    // Unit sources, sample sources and reject sources are relative, so outputs do not depend on where the data sits.
    const name = toPosix(info.isDirectory() ? path.relative(root, file) : path.basename(file));
    // From the exact relative path: stable whatever other files sit beside it.
    const id = pathUnitId('video-', name);
    const spec: VideoUnitSpec = { layout: 'video_file', file, name };
    units.push({ id, source: name, spec });
  }
  return units.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

async function findVideos(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await findVideos(p)));
    else if (e.isFile() && VIDEO_EXTENSIONS.has(path.extname(e.name).toLowerCase())) out.push(p);
  }
  return out.sort();
}

/** The source of a local video unit: its one video file. */
export async function* readVideoUnit(unit: Unit<VideoUnitSpec>): AsyncGenerator<VideoRef> {
  const spec = unit.spec;
  yield { id: unit.id, kind: VIDEO_CLIP, source: spec.name, name: spec.name, file: spec.file, url: null, consent: null };
}

/** A '/'-separated path, whatever the platform's separator. */
function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

/** A unit of several videos (source.videos_per_unit / unit_bytes), processed one after another. */
export interface VideoPackSpec<M> {
  layout: 'video_pack';
  members: Unit<M>[];
  [key: string]: unknown;
}

/**
 * Groups consecutive units (in canonical order) into packs of at most `perUnit` videos, closing a
 * pack early once its bytes reach `maxBytes` (0: by count only). One video per unit when
 * perUnit is 1 and there is no byte cap: the units are returned as they are.
 */
export async function packVideoUnits<M>(units: Unit<M>[], perUnit: number, maxBytes: number, bytesOf: (u: Unit<M>) => Promise<number>): Promise<Unit<M | VideoPackSpec<M>>[]> {
  if (perUnit <= 1 && maxBytes <= 0) return units;
  const packs: Unit<VideoPackSpec<M>>[] = [];
  let members: Unit<M>[] = [];
  let bytes = 0;
  const close = () => {
    if (members.length === 0) return;
    // Named after its first video, so ids stay sorted in the order of the videos.
    packs.push({ id: `pack-${members[0].id}`, source: members.map((m) => m.source).join(', '), spec: { layout: 'video_pack', members } });
    members = [];
    bytes = 0;
  };
  for (const u of units) {
    members.push(u);
    if (maxBytes > 0) bytes += await bytesOf(u);
    if (members.length >= perUnit || (maxBytes > 0 && bytes >= maxBytes)) close();
  }
  close();
  return packs;
}

/** File size of a local video unit (0 for others, whose size is unknown before download). */
export async function localVideoBytes(u: Unit<unknown>): Promise<number> {
  const spec = u.spec as { layout?: string; file?: string };
  if (spec.layout !== 'video_file' || !spec.file) return 0;
  return (await stat(spec.file).catch(() => null))?.size ?? 0;
}

/**
 * Input fingerprint of a video unit: a local video by the stamps (path, size, mtime) of the file
 * and of its sidecars (files beside it named `<stem>.*`: subtitles, transcripts); a URL-list
 * video by its row (the URL); a pack by its members'.
 */
export async function videoUnitFingerprint(unit: Unit<unknown>): Promise<string> {
  const spec = unit.spec as { layout?: string; file?: string; name?: string; members?: Unit<unknown>[] };
  if (spec.layout === 'video_pack' && spec.members) {
    const members: string[] = [];
    for (const m of spec.members) members.push(`${m.id}:${await videoUnitFingerprint(m)}`);
    return valueHash(members);
  }
  if (spec.layout !== 'video_file' || !spec.file || !spec.name) return valueHash(spec);
  const dir = path.dirname(spec.file);
  const base = path.basename(spec.file);
  const stem = base.slice(0, base.length - path.extname(base).length);
  const siblings = (await readdir(dir).catch(() => [] as string[])).filter((f) => f !== base && f.startsWith(`${stem}.`)).sort();
  const hash = createHash('sha256');
  await addFileStamp(hash, spec.file, spec.name);
  for (const f of siblings) await addFileStamp(hash, path.join(dir, f), f);
  return hash.digest('hex');
}
