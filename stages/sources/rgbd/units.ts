// Finding RGB-D units under a source path. One unit is one sequence folder (TUM, NYU, generic)
// or a range of SUN RGB-D sample folders. `layout: auto` recognises each folder by its
// contents: rgb.txt + depth.txt is TUM, r-*.ppm files are NYU, rgb/ + depth/ folders are
// generic, and sample folders holding image/ + depth/ are SUN RGB-D. A recognised folder is
// not searched further; others are searched up to a few levels down.
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { dropItem, type ItemDrop } from '../../../core/stage.ts';
import { pathUnitId, type Unit } from '../../../core/units.ts';
import { treeStampHash, valueHash } from '../unit-fingerprint.ts';
import type { RgbdSourceConfig } from '../../../schemas/rgbd-config.ts';
import type { RgbdLayout, SequenceListing } from './frames.ts';
import { isTumSequence, listTumSequence } from './tum.ts';
import { isNyuSequence, listNyuSequence } from './nyu.ts';
import { isGenericSequence, listGenericSequence } from './generic.ts';
import { listSunrgbdSamples, listSunrgbdSequence } from './sunrgbd.ts';

const MAX_SEARCH_DEPTH = 4;

/** What a unit's spec holds (JSON-serialisable). */
export interface RgbdUnitSpec {
  layout: RgbdLayout;
  /** The sequence (or SUN RGB-D parent) folder. */
  dir: string;
  /** Sequence name: the folder relative to the source path. */
  sequence: string;
  /** `dir` relative to the source root, '/'-separated ('' when the root is the sequence): outputs name files from here. */
  relDir: string;
  /** SUN RGB-D only: the sample folder names in this unit. */
  samples?: string[];
  [key: string]: unknown;
}

export async function listRgbdUnits(source: RgbdSourceConfig, baseDir: string): Promise<Unit<RgbdUnitSpec>[]> {
  const root = resolve(baseDir, source.path);
  const info = await stat(root).catch(() => null);
  if (!info?.isDirectory()) throw new Error(`rgbd source path ${root} is not a folder`);
  const units: Unit<RgbdUnitSpec>[] = [];
  const visit = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
    const subdirs = new Set(entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name));
    const relDir = toPosix(relative(root, dir));
    const sequence = relDir || basename(root);
    const want = (layout: RgbdLayout) => source.layout === 'auto' || source.layout === layout;
    const add = (layout: RgbdLayout, extra: Partial<RgbdUnitSpec> = {}, suffix = '') => {
      const spec: RgbdUnitSpec = { layout, dir, sequence, relDir, ...extra };
      // The unit's source goes into the manifest: relative, so outputs do not depend on where the data sits.
      const samples = extra.samples?.length ? ` samples ${extra.samples[0]}..${extra.samples[extra.samples.length - 1]}` : '';
      units.push({ id: `${pathUnitId(`rgbd-${layout}-`, sequence)}${suffix}`, source: `${relDir || '.'}${samples}`, spec });
    };
    if (want('tum') && isTumSequence(files)) return add('tum');
    if (want('nyu') && isNyuSequence(files)) return add('nyu');
    if (want('generic') && isGenericSequence(subdirs)) return add('generic');
    if (want('sunrgbd')) {
      const samples = await listSunrgbdSamples(dir);
      if (samples.length > 0) {
        for (let first = 0, chunk = 0; first < samples.length; first += source.samples_per_unit, chunk++) {
          add('sunrgbd', { samples: samples.slice(first, first + source.samples_per_unit) }, `-${String(chunk).padStart(5, '0')}`);
        }
        return;
      }
    }
    if (depth >= MAX_SEARCH_DEPTH) return;
    for (const sub of [...subdirs].sort()) await visit(join(dir, sub), depth + 1);
  };
  await visit(root, 0);
  return units.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** A '/'-separated path, whatever the platform's separator. */
export function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/**
 * The path a file of this unit is named by in outputs (sample and reject `source`): relative to
 * the configured source root, so the same data gives the same outputs on any machine.
 */
export function sourceName(spec: RgbdUnitSpec, absolutePath: string): string {
  const inUnit = toPosix(relative(spec.dir, absolutePath));
  return spec.relDir ? `${spec.relDir}/${inUnit}` : inUnit;
}

/** List the frames of one unit with its layout's reader. */
async function listUnitFrames(unit: Unit<RgbdUnitSpec>): Promise<SequenceListing> {
  const spec = unit.spec;
  switch (spec.layout) {
    case 'tum':
      return listTumSequence(spec.dir, unit.id);
    case 'nyu':
      return listNyuSequence(spec.dir);
    case 'generic':
      return listGenericSequence(spec.dir);
    case 'sunrgbd':
      return listSunrgbdSequence(spec.dir, spec.samples ?? [], unit.id);
  }
}

/** One unit's listing as it travels to the pairing stage: the frames and the unit they belong to. */
export interface RgbdListingItem {
  id: string;
  kind: 'rgbd';
  source: string;
  spec: RgbdUnitSpec;
  listing: SequenceListing;
}

/** Stage name of the list lines and files the layout reader could not use. */
export const RGBD_LIST_STAGE = 'rgbd_list';

/**
 * The source of an RGB-D unit (a readSource under `rgbd_list`): a drop for every list line or
 * file the reader could not use (bad_line, timestamp_not_monotonic, rgb_missing,
 * depth_missing), then the listing itself as one item, weighing as many frames as it lists.
 */
export async function* readRgbdListing(unit: Unit<RgbdUnitSpec>): AsyncGenerator<RgbdListingItem | ItemDrop> {
  const spec = unit.spec;
  const listing = await listUnitFrames(unit);
  for (const r of listing.rejects) yield dropItem({ id: r.id, kind: 'rgbd', source: sourceName(spec, r.source) }, r.reason, r.detail);
  yield { id: unit.id, kind: 'rgbd', source: spec.relDir || '.', spec, listing };
}

/** Frames a listing item stands for, in the `rgbd_list` counts. */
export const listedFrames = (item: RgbdListingItem) => item.listing.rgb.length + item.listing.depth.length;

/**
 * Input fingerprint of an RGB-D unit: the stamps (path, size, mtime) of every file in its
 * sequence folder, or in its SUN RGB-D sample folders.
 */
export async function rgbdUnitFingerprint(unit: Unit<RgbdUnitSpec>): Promise<string> {
  const spec = unit.spec;
  if (spec.layout !== 'sunrgbd') return treeStampHash(spec.dir);
  const parts: string[] = [];
  for (const s of spec.samples ?? []) parts.push(`${s}:${await treeStampHash(join(spec.dir, s))}`);
  return valueHash(parts);
}
