// Local video units: one unit is one video file under the source path (or the file itself).
// Its source yields that video for the pipeline declared in kinds/video.ts.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { pathUnitId, type Unit } from '../../core/units.ts';
import type { VideoSourceConfig } from '../../schemas/video-config.ts';
import { VIDEO_CLIP } from '../../schemas/video.ts';
import type { VideoRef } from '../../schemas/video-items.ts';

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
