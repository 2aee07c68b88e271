// Temp folders holding randomly initialised CLIP-layout models for the scorer tests.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { buildTestClip, type TestClipOptions } from '../../scorer/test-clip.ts';

const made: string[] = [];

/** Builds a test model into a fresh temp folder named `name` (the scorer's default id). */
export async function makeTestClip(name = 'test-clip', options: TestClipOptions = {}): Promise<string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'weft-scorer-'));
  made.push(root);
  const dir = path.join(root, name);
  await buildTestClip(dir, options);
  return dir;
}

export async function removeTestClips(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => fs.rm(d, { recursive: true, force: true })));
}

/** A PNG of `width` x `height` filled with one colour, with a second-colour square at (x, y) when given. */
export async function solidPng(width: number, height: number, rgb: [number, number, number], square?: { x: number; y: number; size: number; rgb: [number, number, number] }): Promise<Buffer> {
  const base = sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } });
  if (!square) return base.png().toBuffer();
  const patch = await sharp({ create: { width: square.size, height: square.size, channels: 3, background: { r: square.rgb[0], g: square.rgb[1], b: square.rgb[2] } } }).png().toBuffer();
  return base.composite([{ input: patch, left: square.x, top: square.y }]).png().toBuffer();
}

/** `count` distinct small images (different colours and square positions). */
export async function sampleImages(count: number, size = 96): Promise<Uint8Array[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      solidPng(size + (i % 3) * 17, size, [(i * 53) % 256, (i * 97) % 256, (i * 151) % 256], { x: (i * 13) % (size / 2), y: (i * 29) % (size / 2), size: Math.floor(size / 3), rgb: [255 - ((i * 53) % 256), 40, 200] }),
    ),
  );
}
