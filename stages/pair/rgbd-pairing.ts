// Pairing RGB-D frames. Consumes one listing per unit (stages/sources/rgbd), emits colour-depth
// pair candidates in colour-frame order. Layouts paired by name match file stems; the others
// are paired by timestamp (TUM associate: one-to-one greedy within max_difference, or nearest).
// Drops, per frame: `unpaired` (with the nearest skew, or the stem clash), `rgb_missing` and
// `depth_missing` (a stem without its other half). Counted in frames: in = colour + depth
// frames decided on, out = frames that found a partner.
import { dropItem, expandStage, type ItemDrop, type Stage } from '../../core/stage.ts';
import type { RgbdReadConfig } from '../../schemas/rgbd-config.ts';
import { associateNearest, associateOneToOne, type Unpaired } from './rgbd-timestamps.ts';
import type { RgbdPairCandidate } from '../decode/rgbd-decode.ts';
import type { FrameRef } from '../sources/rgbd/frames.ts';
import { sourceName, type RgbdListingItem } from '../sources/rgbd/units.ts';

const RGBD_PAIR_STAGE = 'rgbd_pair';

export function rgbdPairStage(cfg: RgbdReadConfig): Stage<RgbdListingItem, RgbdPairCandidate> {
  return expandStage<RgbdListingItem, RgbdPairCandidate>(RGBD_PAIR_STAGE, (item) => pairListing(item, cfg), { weight: () => 2 });
}

/** Pairs of one listing, and a drop for every frame left without a partner. */
function pairListing(item: RgbdListingItem, cfg: RgbdReadConfig): (RgbdPairCandidate | ItemDrop)[] {
  const { spec, listing } = item;
  const out: (RgbdPairCandidate | ItemDrop)[] = [];
  const finish = () => out;
  // framePath: the report shows the frame that was left without a partner.
  const frameItem = (f: FrameRef) => ({ id: `${item.id}/${f.name}`, kind: 'rgbd', source: sourceName(spec, f.path), framePath: f.path });
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
      if (depthByKey.has(d.key)) out.push(dropItem(frameItem(d), 'unpaired', `another depth file has stem ${d.key}`));
      else depthByKey.set(d.key, d);
    }
    const used = new Set<string>();
    for (const r of listing.rgb) {
      const d = depthByKey.get(r.key);
      if (!d || used.has(r.key)) {
        out.push(dropItem(frameItem(r), d ? 'unpaired' : 'depth_missing', d ? `another colour file has stem ${r.key}` : `no depth file with stem ${r.key}`));
        continue;
      }
      used.add(r.key);
      out.push(candidate(r, d, null));
    }
    for (const [key, d] of depthByKey) if (!used.has(key)) out.push(dropItem(frameItem(d), 'rgb_missing', `no colour file with stem ${key}`));
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
  for (const u of result.unpairedFirst) out.push(dropItem(frameItem(listing.rgb[u.index]), 'unpaired', `colour frame: ${detail(u, listing.rgb, listing.depth, 'depth', 'colour')}`));
  for (const u of result.unpairedSecond) out.push(dropItem(frameItem(listing.depth[u.index]), 'unpaired', `depth frame: ${detail(u, listing.depth, listing.rgb, 'colour', 'depth')}`));
  return finish();
}
