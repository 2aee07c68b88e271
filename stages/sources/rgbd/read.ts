// Read one RGB-D unit end to end: list frames -> pair -> decode -> registration -> quality.
// Every frame that does not become a sample is a reject: list lines at `rgbd_list`
// (bad_line, timestamp_not_monotonic, rgb_missing, depth_missing), frames without a partner at
// `rgbd_pair` (unpaired, with the nearest skew; or rgb_missing / depth_missing for layouts
// paired by name), then the decode and quality stages' own reasons.
import { pipe, rejectAt, type StageContext } from '../../../pipeline/stage.ts';
import type { Unit } from '../../../pipeline/units.ts';
import type { RgbdReadConfig } from '../../../schemas/rgbd-config.ts';
import type { RgbdSample } from '../../../schemas/rgbd.ts';
import { associateNearest, associateOneToOne, type Unpaired } from '../../pair/rgbd-timestamps.ts';
import { rgbdRegistrationStage } from '../../align/rgbd-registration.ts';
import type { RegistrationPool } from '../../align/registration-pool.ts';
import { rgbdQualityStage } from '../../curate/rgbd-quality.ts';
import { rgbdDecodeStage, type RgbdPairCandidate } from './decode.ts';
import type { FrameRef, SequenceListing } from './frames.ts';
import { listUnitFrames, sourceName, type RgbdUnitSpec } from './units.ts';

export const RGBD_LIST_STAGE = 'rgbd_list';
export const RGBD_PAIR_STAGE = 'rgbd_pair';

export interface ReadRgbdOptions {
  /** Pairs decoded at once. Default 2. */
  concurrency?: number;
  /** Worker threads for the registration check; without one it runs on this thread. */
  registrationPool?: RegistrationPool | null;
}

export async function* readRgbdUnit(unit: Unit, cfg: RgbdReadConfig, ctx: StageContext, options: ReadRgbdOptions = {}): AsyncGenerator<RgbdSample> {
  const listing = await listUnitFrames(unit);
  const listStats = ctx.stats.stage(RGBD_LIST_STAGE);
  listStats.in += listing.rgb.length + listing.depth.length + listing.rejects.length;
  listStats.out += listing.rgb.length + listing.depth.length;
  const spec = unit.spec as RgbdUnitSpec;
  for (const r of listing.rejects) rejectAt(ctx, RGBD_LIST_STAGE, { id: r.id, kind: 'rgbd', source: sourceName(spec, r.source) }, r.reason, r.detail);

  const candidates = pairListing(unit, listing, cfg, ctx);
  yield* pipe(
    fromArray(candidates),
    ctx,
    rgbdDecodeStage(cfg.source, options.concurrency ?? 2),
    rgbdRegistrationStage({ maxShift: cfg.source.max_shift, keepEdges: true }, options.registrationPool ?? null),
    rgbdQualityStage(cfg.rgbd, { skewRangeMs: cfg.source.max_difference * 1000 }),
  );
}

/** Pair the listing's frames; frames left over are rejected here. */
export function pairListing(unit: Unit, listing: SequenceListing, cfg: RgbdReadConfig, ctx: StageContext): RgbdPairCandidate[] {
  const spec = unit.spec as RgbdUnitSpec;
  // Counted in frames: in = colour + depth frames, out = frames that found a partner.
  const stats = ctx.stats.stage(RGBD_PAIR_STAGE);
  const framesIn = listing.rgb.length + listing.depth.length;
  const droppedBefore = stats.droppedTotal;
  const out: RgbdPairCandidate[] = [];
  stats.in += framesIn;
  const finish = () => {
    stats.out += framesIn - (stats.droppedTotal - droppedBefore);
    return out;
  };
  const frameItem = (f: FrameRef) => ({ id: `${unit.id}/${f.name}`, kind: 'rgbd', source: sourceName(spec, f.path) });
  const candidate = (rgb: FrameRef, depth: FrameRef, skew: number | null): RgbdPairCandidate => ({
    ...frameItem(rgb),
    kind: 'rgbd',
    sequence: spec.sequence,
    layout: listing.layout,
    rgbFrame: rgb,
    depthFrame: depth,
    skew,
    depthEncoding: listing.depthEncoding,
    intrinsics: listing.intrinsics ?? cfg.source.intrinsics ?? null,
  });

  if (listing.pairBy === 'key') {
    const depthByKey = new Map<string, FrameRef>();
    for (const d of listing.depth) {
      if (depthByKey.has(d.key)) rejectAt(ctx, RGBD_PAIR_STAGE, frameItem(d), 'unpaired', `another depth file has stem ${d.key}`);
      else depthByKey.set(d.key, d);
    }
    const used = new Set<string>();
    for (const r of listing.rgb) {
      const d = depthByKey.get(r.key);
      if (!d || used.has(r.key)) {
        rejectAt(ctx, RGBD_PAIR_STAGE, frameItem(r), d ? 'unpaired' : 'depth_missing', d ? `another colour file has stem ${r.key}` : `no depth file with stem ${r.key}`);
        continue;
      }
      used.add(r.key);
      out.push(candidate(r, d, null));
    }
    for (const [key, d] of depthByKey) if (!used.has(key)) rejectAt(ctx, RGBD_PAIR_STAGE, frameItem(d), 'rgb_missing', `no colour file with stem ${key}`);
    return finish();
  }

  const options = { maxDifference: cfg.source.max_difference, offset: cfg.source.offset };
  const rgbTimes = listing.rgb.map((f) => f.timestamp!);
  const depthTimes = listing.depth.map((f) => f.timestamp!);
  const result = cfg.source.match === 'nearest' ? associateNearest(rgbTimes, depthTimes, options) : associateOneToOne(rgbTimes, depthTimes, options);
  for (const p of result.pairs) out.push(candidate(listing.rgb[p.first], listing.depth[p.second], p.skew));
  const window = `window ${(cfg.source.max_difference * 1000).toFixed(1)} ms`;
  const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;
  // Says whether the nearest partner was simply too far, or was inside the window and went to a closer match.
  const detail = (u: Unpaired, own: FrameRef[], other: FrameRef[], otherName: string, ownName: string) => {
    if (u.nearestSkew === null || u.nearest === undefined) return 'the other stream is empty';
    const near = `nearest skew ${ms(u.nearestSkew)} to ${otherName} frame ${other[u.nearest].name}`;
    if (!u.takenBy) return `${near}, outside the ${window}`;
    return `${near}, inside the ${window}, was paired with the closer ${ownName} frame ${own[u.takenBy.index].name} (skew ${ms(u.takenBy.skew)})`;
  };
  for (const u of result.unpairedFirst) rejectAt(ctx, RGBD_PAIR_STAGE, frameItem(listing.rgb[u.index]), 'unpaired', `colour frame: ${detail(u, listing.rgb, listing.depth, 'depth', 'colour')}`);
  for (const u of result.unpairedSecond) rejectAt(ctx, RGBD_PAIR_STAGE, frameItem(listing.depth[u.index]), 'unpaired', `depth frame: ${detail(u, listing.depth, listing.rgb, 'colour', 'depth')}`);
  return finish();
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}
