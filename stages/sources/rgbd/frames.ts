// What every RGB-D layout reader produces: the colour and depth frames of one sequence, how
// they are to be paired, how the depth is encoded, and the lines or files it could not use.
import type { Intrinsics } from '../../../schemas/rgbd.ts';

export type RgbdLayout = 'tum' | 'nyu' | 'sunrgbd' | 'generic';

/** How depth values are stored on disk. */
export type DepthEncoding =
  | 'png16' // 16-bit grey PNG, value / depthScale = metres (TUM, generic)
  | 'sunrgbd_png' // 16-bit grey PNG with bits rotated; decodes to millimetres
  | 'pgm16'; // 16-bit P5 PGM (NYU raw), byte order and units from the config

export interface FrameRef {
  /** Path as opened (sequence folder joined with the listed name). */
  path: string;
  /** Name relative to the sequence folder; ids are made from it. */
  name: string;
  /** Seconds, or null for layouts paired by name. */
  timestamp: number | null;
  /** Pairing key for layouts paired by name (file stem or sample folder). */
  key: string;
  /** Per-frame intrinsics file (SUN RGB-D). */
  intrinsicsPath?: string;
}

/** A list line or file the reader could not use, with the reason it goes to the rejects ledger under. */
export interface ListingReject {
  id: string;
  source: string;
  reason: string;
  detail: string;
}

export interface SequenceListing {
  layout: RgbdLayout;
  /** Ascending by timestamp (timestamp layouts) or by key. */
  rgb: FrameRef[];
  depth: FrameRef[];
  pairBy: 'timestamp' | 'key';
  depthEncoding: DepthEncoding;
  rejects: ListingReject[];
  /** Sequence-wide intrinsics, when the layout carries them. */
  intrinsics?: Intrinsics | null;
}

/** Default depth units per metre by layout (the config's depth_scale overrides png16 and pgm16 millimetres). */
export const DEFAULT_DEPTH_SCALE: Record<RgbdLayout, number> = { tum: 5000, nyu: 1000, sunrgbd: 1000, generic: 1000 };

/** Name of a file without folder and extension. */
export function stemOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

export const IMAGE_EXTENSIONS = /\.(png|jpe?g|ppm)$/i;
export const DEPTH_EXTENSIONS = /\.(png|pgm)$/i;
