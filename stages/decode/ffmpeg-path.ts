// Where the ffmpeg and ffprobe binaries are: the config key if set, else the PATH (a current
// system ffmpeg), else the static build that the @ffmpeg-installer packages ship (older, but it
// makes a fresh `npm install` enough). None of these: a clear setup error naming the config key,
// not a per-video reject.
import { accessSync, constants, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join } from 'node:path';

const PACKAGED: Record<string, string> = { ffmpeg: '@ffmpeg-installer/ffmpeg', ffprobe: '@ffprobe-installer/ffprobe' };

function packagedBinary(name: string): string | undefined {
  try {
    const p = (createRequire(import.meta.url)(PACKAGED[name]) as { path?: string }).path;
    return p && isExecutable(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

export interface FfmpegBinaries {
  ffmpeg: string;
  ffprobe: string;
}

export interface FfmpegPathConfig {
  ffmpeg_path?: string;
  ffprobe_path?: string;
}

const cache = new Map<string, FfmpegBinaries>();

export function resolveFfmpeg(cfg: FfmpegPathConfig, env: NodeJS.ProcessEnv = process.env, usePackaged = true): FfmpegBinaries {
  const key = `${cfg.ffmpeg_path ?? ''}\0${cfg.ffprobe_path ?? ''}\0${env.PATH ?? ''}\0${usePackaged}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const found = {
    ffmpeg: resolveBinary('ffmpeg', cfg.ffmpeg_path, 'source.ffmpeg_path', env, usePackaged),
    ffprobe: resolveBinary('ffprobe', cfg.ffprobe_path, 'source.ffprobe_path', env, usePackaged),
  };
  cache.set(key, found);
  return found;
}

function resolveBinary(name: string, configured: string | undefined, configKey: string, env: NodeJS.ProcessEnv, usePackaged: boolean): string {
  if (configured) {
    if (!isExecutable(configured)) throw new Error(`${configKey} is ${configured}, which is not an executable file`);
    return configured;
  }
  const exe = process.platform === 'win32' ? `${name}.exe` : name;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, exe);
    if (isExecutable(candidate)) return candidate;
  }
  const packaged = usePackaged ? packagedBinary(name) : undefined;
  if (packaged) return packaged;
  throw new Error(`${name} was not found on PATH${usePackaged ? ` nor in ${PACKAGED[name]}` : ''}; install ffmpeg or set ${configKey} in the config`);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}
