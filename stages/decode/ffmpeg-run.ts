// Running ffmpeg as a child process: collect its whole (bounded) stdout, or stream it chunk by
// chunk with backpressure. stderr keeps only its tail, for the reject detail.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

const STDERR_TAIL_CHARS = 2000;

export class FfmpegError extends Error {
  constructor(readonly exitCode: number | null, readonly stderrTail: string) {
    super(`ffmpeg exited with ${exitCode ?? 'a signal'}: ${lastLine(stderrTail)}`);
  }
}

export interface FfmpegRunOptions {
  signal?: AbortSignal;
  /** Written to ffmpeg's stdin, which is then closed. */
  stdin?: Uint8Array;
  /** Fail once stdout passes this many bytes (a guard against unbounded output). */
  maxBytes?: number;
  /**
   * Receive what ffmpeg writes to `pipe:3`, `pipe:4`, ... (further outputs of the same process),
   * in that order. They are read as they come, so ffmpeg never blocks on them while stdout is
   * pulled slowly: consume or keep little.
   */
  sideOutputs?: ((chunk: Buffer) => void)[];
}

type FfmpegChild = ChildProcessByStdio<Writable, Readable, Readable>;

function start(ffmpegPath: string, args: string[], options: FfmpegRunOptions): { child: FfmpegChild; stderr: () => string; exit: Promise<number | null> } {
  const sides = options.sideOutputs ?? [];
  const stdio: 'pipe'[] = Array.from({ length: 3 + sides.length }, () => 'pipe');
  const child = spawn(ffmpegPath, ['-hide_banner', '-nostdin', ...args], { stdio, signal: options.signal }) as unknown as FfmpegChild;
  sides.forEach((sink, i) => (child.stdio[3 + i] as Readable).on('data', sink));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_TAIL_CHARS);
  });
  const exit = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  exit.catch(() => undefined);
  child.stdin.on('error', () => undefined); // ffmpeg may exit before reading all of stdin
  if (options.stdin) child.stdin.end(options.stdin);
  else child.stdin.end();
  return { child, stderr: () => stderr, exit };
}

/** Run ffmpeg and return all of stdout; throws FfmpegError on a non-zero exit. */
export async function runFfmpeg(ffmpegPath: string, args: string[], options: FfmpegRunOptions = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of streamFfmpeg(ffmpegPath, args, options)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/**
 * Stream ffmpeg's stdout. Pulling drives the process: when the consumer stops asking, the pipe
 * fills and ffmpeg blocks, so memory stays at a few pipe buffers. Stopping early kills ffmpeg.
 */
export async function* streamFfmpeg(ffmpegPath: string, args: string[], options: FfmpegRunOptions = {}): AsyncGenerator<Buffer> {
  const { child, stderr, exit } = start(ffmpegPath, args, options);
  let total = 0;
  let finished = false;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (options.maxBytes !== undefined && total > options.maxBytes) throw new Error(`ffmpeg output passed ${options.maxBytes} bytes`);
      yield chunk;
    }
    const code = await exit;
    finished = true;
    if (code !== 0) throw new FfmpegError(code, stderr());
  } finally {
    if (!finished) {
      child.kill('SIGKILL');
      await exit.catch(() => undefined);
    }
  }
}

/**
 * `-ss S` before `-i` (fast, frame-accurate seeking), left out at the start of the file: older
 * ffmpeg builds (the packaged 2018 one) seeking to 0 skip the mp4 edit list, so an AAC track's
 * encoder priming (1024 samples, 21 ms at 48 kHz) is played instead of trimmed and the audio
 * comes out early against the picture.
 */
export function inputSeekArgs(startS: number): string[] {
  return startS > 5e-7 ? ['-ss', startS.toFixed(6)] : [];
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 300);
}
