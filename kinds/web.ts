// Web-crawled image-caption data (URL lists, WebDataset tars):
// source -> caption rules -> [caption language] -> [fetch (once per normalised URL) -> decode/resize, back in row
// order] -> exact dedup
// -> perceptual hash -> [decontaminate] -> [safety] -> [score] -> sink. Consent and fetch facts become columns of the output.
import * as arrow from 'apache-arrow';
import type { LoadedConfig } from '../schemas/config-file.ts';
import type { SourcePlugin } from './plugin.ts';
import { openRunDecontamination, openRunSafety, openRunScorer, runSidecars, type RunDecontamination, type RunSafety, type RunScorer } from './run-scorer.ts';
import { compose, passThrough, pipe, readSource, type Stage } from '../core/stage.ts';
import { RowOrder } from '../core/row-order.ts';
import { fetchHostsSection } from '../report/fetch-hosts-section.ts';
import { imageTextSchema, optionalImageTextColumns, type ImageTextRaw } from '../schemas/image-text.ts';
import { hf, type ColumnSpec, type IndexColumnSpec, type KindSchema } from '../schemas/kind-schema.ts';
import { listWebUnits, readWebUnit, urlListFormatOfPath, webUnitFingerprints, type WebUnitSpec } from '../stages/sources/url-list.ts';
import { captionRulesStage } from '../stages/curate/caption-rules.ts';
import { captionLanguageStage, languageIdOn, languageIndexColumns } from '../stages/curate/caption-language.ts';
import { Fetcher } from '../stages/fetch/fetcher.ts';
import { fetchStage } from '../stages/fetch/fetch-stage.ts';
import { readAhead } from '../stages/fetch/read-ahead.ts';
import { DownloadTail } from '../stages/fetch/download-tail.ts';
import { sharedDownloadStage } from '../stages/curate/url-dedup.ts';
import { imageDecodeStage, type DecodedImageTextSample } from '../stages/decode/image-decode.ts';
import { contentDedupStage } from '../stages/curate/content-dedup.ts';
import { phashColumns, phashIndexColumns, phashStage, type PhashedSample } from '../stages/curate/phash.ts';
import { scoredExample, type ScoredSample } from '../stages/score/score-columns.ts';
import type { KindDefinition } from './definition.ts';
import { dropExample } from './drop-example.ts';
import type { SafetyFields } from '../stages/curate/safety-stage.ts';
import type { DecontaminatedSample } from '../stages/curate/decontaminate.ts';

type WebDecoded = DecodedImageTextSample & Partial<PhashedSample>;
type WebSample = ScoredSample & Partial<PhashedSample> & SafetyFields & DecontaminatedSample;

const fetchColumns: ColumnSpec<WebSample>[] = [
  { name: 'consent', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.fetched?.consent ?? null },
  { name: 'final_url', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.fetched?.finalUrl ?? null },
  { name: 'http_status', type: new arrow.Int32(), nullable: true, hf: hf.int32, get: (s) => s.fetched?.status ?? null },
  { name: 'fetch_attempts', type: new arrow.Int32(), nullable: true, hf: hf.int32, get: (s) => s.fetched?.attempts ?? null },
  { name: 'url_sibling_of', type: new arrow.Utf8(), nullable: true, hf: hf.string, get: (s) => s.fetched?.urlSiblingOf ?? null },
];

const fetchIndexColumns: IndexColumnSpec<WebSample>[] = [
  { name: 'url', type: 'UTF8', get: (s) => s.url ?? null },
  { name: 'consent', type: 'UTF8', get: (s) => s.fetched?.consent ?? null },
  { name: 'url_sibling_of', type: 'UTF8', get: (s) => s.fetched?.urlSiblingOf ?? null },
];

function webSchema(withPhash: boolean, scoring: RunScorer | null = null, optional: ColumnSpec<WebSample>[] = [], safety: RunSafety | null = null, language = false, decon: RunDecontamination | null = null): KindSchema<WebSample> {
  return {
    ...imageTextSchema,
    columns: [...imageTextSchema.columns, ...fetchColumns, ...optional, ...(safety?.columns ?? []), ...(withPhash ? phashColumns : []), ...(scoring?.columns ?? [])],
    index: [...imageTextSchema.index, ...fetchIndexColumns, ...(language ? languageIndexColumns : []), ...(decon?.index ?? []), ...(withPhash ? phashIndexColumns : []), ...(safety?.index ?? []), ...(scoring?.index ?? [])],
  };
}

function webPlugin({ config, baseDir }: LoadedConfig, scoring: RunScorer | null = null, safety: RunSafety | null = null, decon: RunDecontamination | null = null): SourcePlugin<WebSample, WebUnitSpec> {
  const src = config.source;
  if (src.kind !== 'web') throw new Error(`webPlugin given source kind ${src.kind}`);
  const fetcher = new Fetcher(config.fetch);
  const dedup = config.dedup;
  // A list without captions (a .txt of URLs, or caption_column: null) is an image-only corpus:
  // the caption rules would reject every row, so they do not run.
  const format = src.format === 'auto' ? urlListFormatOfPath(src.path) : src.format;
  const hasCaptions = src.caption_column !== null && format !== 'txt';
  const identifyLanguage = hasCaptions && languageIdOn(config.caption);
  const schema = webSchema(dedup.phash, scoring, optionalImageTextColumns(config.decode, src.bbox_column !== null), safety, identifyLanguage, decon);
  const sidecars = runSidecars(config, scoring);
  return {
    kinds: [schema],
    listUnits: () => listWebUnits(src, baseDir),
    inputFingerprints: (units) => webUnitFingerprints(units, src),
    processUnit: (unit, ctx) => {
      // Fetch and decode finish items out of order (a hanging URL holds one slot, not the unit);
      // the RowOrder section hands them on in row order, so dedup, marks and shards are the same
      // on every run. What waits there is bounded by reorder_buffer_bytes.
      const order = new RowOrder<DecodedImageTextSample>(config.fetch.reorder_buffer_bytes, (s) => s.image.bytes.byteLength);
      // Once every row is downloading and decode has caught up, the unit waits only on the
      // network, and the executor may start the next unit (download-tail.ts).
      const tail = new DownloadTail(ctx.unitTail);
      const download = fetchStage(fetcher, fetcher.maxInFlight, { completionOrder: order, hostQueueBytes: config.fetch.host_queue_bytes, onAllStarted: () => tail.everyRowStarted() });
      const fetchOnce: Stage<ImageTextRaw, ImageTextRaw> = dedup.url ? sharedDownloadStage(download) : download;
      const decode = imageDecodeStage(config.decode, config.run.concurrency);
      // Downloads run ahead of decode by up to read_ahead_bytes of fetched rows.
      const fetchAhead = compose(fetchOnce, readAhead<ImageTextRaw>(config.fetch.read_ahead_bytes, (item) => item.imageBytes?.byteLength ?? 0, { onWaiting: (waiting) => tail.decodeWaits(waiting) }));
      const fetchAndDecode = order.section<ImageTextRaw>(compose(fetchAhead, decode));
      const captionRules: Stage<ImageTextRaw, ImageTextRaw> = hasCaptions ? captionRulesStage(config.caption) : passThrough();
      const contentDedup: Stage<DecodedImageTextSample, DecodedImageTextSample> = dedup.exact ? contentDedupStage() : passThrough();
      const nearDedup: Stage<DecodedImageTextSample, WebDecoded> = dedup.phash ? phashStage({ maxDistance: dedup.phash_max_distance, concurrency: config.run.concurrency }) : passThrough();
      const decontaminate: Stage<WebDecoded, WebDecoded> = decon ? (decon.stage as unknown as Stage<WebDecoded, WebDecoded>) : passThrough();
      const classify: Stage<WebDecoded, WebDecoded & SafetyFields> = safety ? safety.stage : passThrough();
      const score: Stage<WebDecoded & SafetyFields, WebSample> = scoring ? scoring.stage : passThrough();
      const language: Stage<ImageTextRaw, ImageTextRaw> = identifyLanguage ? captionLanguageStage(config.caption) : passThrough();
      return pipe(
        readSource('source', (c) => readWebUnit(unit, src, c), ctx),
        ctx,
        captionRules,
        language,
        fetchAndDecode,
        contentDedup,
        nearDedup,
        decontaminate,
        classify,
        score,
      );
    },
    approxBytes: (s) => s.image.bytes.byteLength + s.caption.length + 400,
    example: (s) => scoredExample(s),
    dropExample: (item) => dropExample(item),
    ...(scoring ? { scorers: [scoring.entry] } : {}),
    ...(sidecars ? { sidecars } : {}),
    close: async () => {
      await fetcher.close();
      await safety?.close();
      await scoring?.close();
    },
  };
}

/** Web image-caption data: exact dedup by sha256 and, with dedup.phash, perceptual dedup across the run at finalise. */
export const definition: KindDefinition = {
  source: 'web',
  createPlugin: async (loaded) => webPlugin(loaded, await openRunScorer(loaded), await openRunSafety(loaded), await openRunDecontamination(loaded)),
  report: [{ id: 'hosts', title: 'Fetch hosts', render: (stats) => fetchHostsSection(stats) }],
  runWideDedup: (config) => {
    const dedup = (config as { dedup?: { phash?: boolean; phash_max_distance?: number } }).dedup;
    return { phashMaxDistance: dedup?.phash === false ? null : (dedup?.phash_max_distance ?? 4) };
  },
};
