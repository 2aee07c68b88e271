// Web-crawled image-caption data (URL lists, WebDataset tars):
// source -> caption rules -> [fetch (once per normalised URL) -> decode/resize, back in row
// order] -> exact dedup
// -> perceptual hash -> [score] -> sink. Consent and fetch facts become columns of the output.
import * as arrow from 'apache-arrow';
import type { LoadedConfig } from '../config.ts';
import type { SourcePlugin } from '../source-plugin.ts';
import type { RunScorer } from '../plugins.ts';
import { pipe, type Stage, type Traceable } from '../stage.ts';
import { imageTextSchema, optionalImageTextColumns, type ImageTextRaw } from '../../schemas/image-text.ts';
import { hf, type ColumnSpec, type IndexColumnSpec, type KindSchema } from '../../schemas/kind-schema.ts';
import { listWebUnits, readWebUnit, urlListFormatOfPath } from '../../stages/sources/url-list.ts';
import { captionRulesStage } from '../../stages/curate/caption-rules.ts';
import { Fetcher } from '../../stages/fetch/fetcher.ts';
import { fetchStage } from '../../stages/fetch/fetch-stage.ts';
import { sharedDownloadStage } from '../../stages/curate/url-dedup.ts';
import { imageDecodeStage, type DecodedImageTextSample } from '../../stages/decode/image-decode.ts';
import { RowOrder } from '../row-order.ts';
import { contentDedupStage } from '../../stages/curate/content-dedup.ts';
import { phashColumns, phashIndexColumns, phashStage, type PhashedSample } from '../../stages/curate/phash.ts';
import { scoredExample, type ScoredSample } from '../../stages/score/score-columns.ts';

type WebSample = ScoredSample & Partial<PhashedSample>;

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

export function webSchema(withPhash: boolean, scoring: RunScorer | null = null, optional: ColumnSpec<WebSample>[] = []): KindSchema<WebSample> {
  return {
    ...imageTextSchema,
    columns: [
      ...(imageTextSchema.columns as ColumnSpec<WebSample>[]),
      ...fetchColumns,
      ...optional,
      ...(withPhash ? (phashColumns as ColumnSpec<WebSample>[]) : []),
      ...((scoring?.columns ?? []) as ColumnSpec<WebSample>[]),
    ],
    index: [
      ...(imageTextSchema.index as IndexColumnSpec<WebSample>[]),
      ...fetchIndexColumns,
      ...(withPhash ? (phashIndexColumns as IndexColumnSpec<WebSample>[]) : []),
      ...((scoring?.index ?? []) as IndexColumnSpec<WebSample>[]),
    ],
  };
}

export function webPlugin({ config, baseDir }: LoadedConfig, scoring: RunScorer | null = null): SourcePlugin {
  const src = config.source;
  if (src.kind !== 'web') throw new Error(`webPlugin given source kind ${src.kind}`);
  const fetcher = new Fetcher(config.fetch);
  const dedup = config.dedup;
  // A list without captions (a .txt of URLs, or caption_column: null) is an image-only corpus:
  // the caption rules would reject every row, so they do not run.
  const format = src.format === 'auto' ? urlListFormatOfPath(src.path) : src.format;
  const hasCaptions = src.caption_column !== null && format !== 'txt';
  const schema = webSchema(dedup.phash, scoring, optionalImageTextColumns(config.decode, src.bbox_column !== null) as ColumnSpec<WebSample>[]);
  return {
    kinds: [schema],
    listUnits: () => listWebUnits(src, baseDir),
    processUnit: (unit, ctx) => {
      const stages: Stage<any, any>[] = [];
      if (hasCaptions) stages.push(captionRulesStage(config.caption));
      // Fetch and decode finish items out of order (a hanging URL holds one slot, not the unit);
      // the RowOrder section hands them on in row order, so dedup, marks and shards are the same
      // on every run. What waits there is bounded by reorder_buffer_bytes.
      const order = new RowOrder<DecodedImageTextSample>(config.fetch.reorder_buffer_bytes, (s) => s.image.bytes.byteLength);
      const download = fetchStage(fetcher, config.fetch.concurrency, { completionOrder: order });
      const fetchOnce = dedup.url ? sharedDownloadStage<ImageTextRaw, ImageTextRaw>(download) : download;
      const decode = imageDecodeStage(config.decode, config.run.concurrency);
      stages.push(order.section<ImageTextRaw>((input, ctx) => decode(fetchOnce(input, ctx), ctx)));
      if (dedup.exact) stages.push(contentDedupStage());
      if (dedup.phash) stages.push(phashStage({ maxDistance: dedup.phash_max_distance, concurrency: config.run.concurrency }));
      if (scoring) stages.push(scoring.stage);
      return pipe(readWebUnit(unit, src, ctx), ctx, ...stages) as AsyncIterable<Traceable>;
    },
    approxBytes: (s: Traceable) => (s as WebSample).image.bytes.byteLength + (s as WebSample).caption.length + 400,
    example: (s: Traceable) => scoredExample(s as WebSample),
    ...(scoring ? { scorers: [scoring.entry] } : {}),
    close: async () => {
      await fetcher.close();
      await scoring?.close();
    },
  };
}
