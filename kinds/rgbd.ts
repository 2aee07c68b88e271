// RGB-D captures, as one declared pipeline:
//   rgbd_list (source: the unit's listing) -> rgbd_pair -> rgbd_decode -> rgbd_registration
//   (worker threads) -> rgbd_quality -> sink.
import { availableParallelism } from 'node:os';
import pLimit from 'p-limit';
import { pipe, readSource, type StageContext } from '../core/stage.ts';
import type { Unit } from '../core/units.ts';
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { RgbdReadConfig } from '../schemas/rgbd-config.ts';
import { rgbdSchema, type RgbdSample } from '../schemas/rgbd.ts';
import { listedFrames, listRgbdUnits, rgbdUnitFingerprint, readRgbdListing, RGBD_LIST_STAGE, type RgbdUnitSpec } from '../stages/sources/rgbd/units.ts';
import { rgbdPairStage } from '../stages/pair/rgbd-pairing.ts';
import { rgbdDecodeStage } from '../stages/decode/rgbd-decode.ts';
import { rgbdRegistrationStage } from '../stages/align/registration-stage.ts';
import { defaultRegistration, HandOverRegistrar, type Registrar } from '../stages/align/registration-handover.ts';
import { rgbdQualityStage } from '../stages/curate/rgbd-quality.ts';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';
import { registrationOverlay } from '../stages/align/rgbd-overlay.ts';
import type { RgbImage } from '../stages/decode/rgb-image.ts';
import type { DepthMap } from '../stages/decode/depth-png.ts';
import { dropExample } from './drop-example.ts';
import type { SourcePlugin } from './plugin.ts';
import type { Example } from '../core/stats.ts';
import { BottomK } from '../core/sketch/bottom-k.ts';
import type { KindDefinition } from './definition.ts';
import { rgbdSection } from '../report/rgbd-section.ts';

export interface RgbdPipelineOptions {
  /** Pairs decoded at once. Default 2. */
  concurrency?: number;
  /** Where the registration check runs (worker threads, or handing over to them); without one, on this thread. */
  registrar?: Registrar | null;
}

/** The RGB-D pipeline over one unit, in flow order. */
export function rgbdPipeline(unit: Unit<RgbdUnitSpec>, cfg: RgbdReadConfig, ctx: StageContext, options: RgbdPipelineOptions = {}): AsyncIterable<RgbdSample> {
  return pipe(
    readSource(RGBD_LIST_STAGE, () => readRgbdListing(unit), ctx, { weight: listedFrames }),
    ctx,
    rgbdPairStage(cfg),
    rgbdDecodeStage(cfg.source, options.concurrency ?? 2),
    rgbdRegistrationStage({ maxShift: cfg.source.max_shift, keepEdges: true }, options.registrar ?? null),
    rgbdQualityStage(cfg.rgbd, { skewRangeMs: cfg.source.max_difference * 1000 }),
  );
}

/**
 * Kept-example thumbnails of one unit, made when its pipeline ends, for the samples that are then
 * the report's examples: the k lowest id hashes, the executor's rule, mirrored here. Made as each
 * sample entered the set, most were pushed out again (about 28 thumbnails for 12 shown, each a
 * PNG decode, on 45 kept pairs). Only the samples in the set are held, so at most k.
 */
class PendingThumbs {
  private readonly chosen: BottomK<RgbdSample>;
  private readonly examples = new Map<string, Example>();

  constructor(k: number) {
    this.chosen = new BottomK<RgbdSample>(k);
  }

  saw(sample: RgbdSample): void {
    if (this.chosen.wouldKeep(sample.id)) this.chosen.add(sample.id, sample);
  }

  attach(id: string, example: Example): void {
    this.examples.set(id, example);
    const held = new Set(this.chosen.items.map((e) => e.item.id));
    for (const k of this.examples.keys()) if (!held.has(k)) this.examples.delete(k);
  }

  async draw(): Promise<void> {
    // Two at a time, as the quality stage draws its overlays: decoding and encoding run off-thread.
    const limit = pLimit(2);
    await Promise.all(
      this.chosen.items.map(({ item }) =>
        limit(async () => {
          const example = this.examples.get(item.id);
          if (!example) return;
          try {
            example.thumb = await makeThumbnail(item.rgb.bytes);
          } catch {
            // no thumbnail; the card keeps its caption
          }
        }),
      ),
    );
    this.examples.clear();
  }
}

function rgbdPlugin({ config, baseDir }: LoadedConfig): SourcePlugin<RgbdSample, RgbdUnitSpec> {
  // The unit a sample came from, while the executor holds that sample (see PendingThumbs).
  const unitOf = new Map<string, PendingThumbs>();
  const src = config.source;
  if (src.kind !== 'rgbd') throw new Error(`rgbdPlugin given source kind ${src.kind}`);
  const readConfig = { source: src, rgbd: config.rgbd };
  // A given registration_workers starts its pool with the first pair; the default depends on the
  // CPUs (defaultRegistration). One registrar for the whole run, so that the pairs counted toward
  // a hand-over are the run's, not a unit's. Its pool starts on first use, so listing units (or a
  // run with nothing to do) starts no threads.
  const plan = src.registration_workers !== undefined ? { workers: src.registration_workers, mainThreadPairs: 0 } : defaultRegistration(config.run.concurrency, availableParallelism());
  const registrar = plan.workers > 0 ? new HandOverRegistrar(plan.workers, plan.mainThreadPairs) : null;
  return {
    kinds: [rgbdSchema],
    listUnits: () => listRgbdUnits(src, baseDir),
    inputFingerprints: async (units) => new Map(await Promise.all(units.map(async (u) => [u.id, await rgbdUnitFingerprint(u)] as [string, string]))),
    processUnit: async function* (unit, ctx) {
      const thumbs = new PendingThumbs(config.output.report_examples);
      for await (const sample of rgbdPipeline(unit, readConfig, ctx, { concurrency: config.run.concurrency, registrar })) {
        thumbs.saw(sample);
        // The executor asks for the sample's example while it holds the sample, before the next.
        unitOf.set(sample.id, thumbs);
        try {
          yield sample;
        } finally {
          unitOf.delete(sample.id);
        }
      }
      await thumbs.draw();
    },
    close: async () => {
      await registrar?.close();
    },
    approxBytes: (s) => s.rgb.bytes.byteLength + s.depth.bytes.byteLength + 400,
    // The registration overlay (depth edges over colour) where the pair got that far.
    dropExample: (item) =>
      dropExample(item, async (m) => (m.rgbImage && m.depthMap ? registrationOverlay(m.rgbImage as RgbImage, m.depthMap as DepthMap, { edges: (m.registration as { edges?: never } | undefined)?.edges }) : undefined)),
    example: async (sample) => {
      const example: Example = {
        id: sample.id,
        source: sample.source,
        caption: `skew ${sample.skewMs?.toFixed(1) ?? 'n/a'} ms, shift (${sample.registration.dx}, ${sample.registration.dy}), valid ${(sample.validRatio * 100).toFixed(0)}%`,
        thumb: undefined,
      };
      const pending = unitOf.get(sample.id);
      if (pending) pending.attach(sample.id, example);
      else example.thumb = await makeThumbnail(sample.rgb.bytes);
      return example;
    },
  };
}

export const definition: KindDefinition = {
  source: 'rgbd',
  createPlugin: async (loaded) => rgbdPlugin(loaded),
  report: [{ id: 'rgbd', title: 'RGB-D', render: rgbdSection }],
  runWideDedup: () => null,
};
