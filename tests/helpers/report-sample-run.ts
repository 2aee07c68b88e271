// A realistic small run for the report tests: 1000 items pushed through real stages built with
// the stage contract, so stats and the rejects ledger are produced the way the pipeline does.
import sharp from 'sharp';
import { filterStage, mapStage, pipe, drop, type StageContext, type Traceable } from '../../core/stage.ts';
import { RunStats } from '../../core/stats.ts';
import { RejectLedger } from '../../core/rejects.ts';
import { silentLogger } from '../../core/logger.ts';
import type { Manifest } from '../../schemas/manifest.ts';
import { makeThumbnail } from '../../stages/decode/thumbnails.ts';
import { mulberry32 } from '../../core/random.ts';

export const EVIL_CAPTION = `<script>alert("pwned")</script> a "quoted" caption with 'single' quotes & an <img src=x onerror="alert(1)">`;
export const SCORE_THRESHOLD = 0.25;

interface Item extends Traceable {
  n: number;
  caption: string;
  score?: number;
}

/** Deterministic pseudo-random numbers in [0, 1). */
export const seeded = mulberry32;

/** A 160x120 picture with a red square at (40,30)-(100,90): boxes drawn on its thumbnail are checkable. */
export async function samplePicture(): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120"><rect width="160" height="120" fill="#2c7fb8"/><rect x="40" y="30" width="60" height="60" fill="#e34a33"/></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export interface SampleRun {
  manifest: Manifest;
  stats: RunStats;
  rejects: RejectLedger;
  /** Scores of the items that reached the score stage, for checking quantiles. */
  scores: number[];
  thumb: string;
}

export async function buildSampleRun(): Promise<SampleRun> {
  const stats = new RunStats();
  stats.stage('read'); // first in pipeline order, like the executor's source stage
  const rejects = new RejectLedger();
  const ctx: StageContext = {
    config: {},
    stats,
    rejects,
    log: silentLogger,
    signal: new AbortController().signal,
    unit: { id: 'list-00000', source: 'urls.jsonl' },
  };
  const thumb = await makeThumbnail(await samplePicture());
  const random = seeded(7);
  const scores: number[] = [];

  const fetch = filterStage<Item>('fetch', (it) => {
    if (it.n % 17 === 0) return drop('http_404', `GET http://img${it.n % 5}.example.com/${it.n}.jpg -> 404`);
    if (it.n % 29 === 0) return drop('http_timeout', 'no response after 10 s');
    return true;
  });
  const decode = filterStage<Item>('decode', (it) => (it.n % 23 === 0 ? drop('decode_failed', 'Input buffer contains unsupported image format') : true));
  const caption = filterStage<Item>('caption', (it) => (it.n % 31 === 0 ? drop('caption_too_short', '0 words < min_words 1') : true));
  const score = mapStage<Item, Item>('score', (it, c) => {
    // Two overlapping populations, like a real dual-encoder score: mostly aligned pairs plus noise.
    const s = it.n % 4 === 0 ? random() * 0.3 : 0.35 + 0.5 * random();
    scores.push(s);
    c.stats.histogram('score:clip', 0, 1, 20).add(s);
    c.stats.sketch('score:clip').add(s);
    const example = { id: it.id, source: it.source, caption: it.caption, thumb, clip: s, boxes: [{ label: 'red square', box: [24, 18, 60, 54], score: 0.91 }] };
    if (s < SCORE_THRESHOLD) {
      c.stats.exampleSet('dropped:image_text', 6).add(it.id, { ...example, stage: 'score', reason: 'score_below_threshold', detail: `clip ${s.toFixed(3)} < ${SCORE_THRESHOLD}` });
      return drop('score_below_threshold', `clip ${s.toFixed(3)} < ${SCORE_THRESHOLD}`);
    }
    c.stats.exampleSet('kept:image_text', 6).add(it.id, example);
    return { ...it, score: s };
  });

  async function* source(): AsyncGenerator<Item> {
    for (let n = 1; n <= 1000; n++) {
      stats.stage('read').in++;
      stats.stage('read').out++;
      stats.kind('image_text').seen++;
      yield { id: `urls.jsonl#${n}`, kind: 'image_text', source: `http://img${n % 5}.example.com/${n}.jpg`, n, caption: `a photo of thing number ${n}` };
    }
  }
  let kept = 0;
  for await (const it of pipe(source(), ctx, fetch, decode, caption, score)) {
    kept++;
    void it;
  }
  const kt = stats.kind('image_text');
  kt.kept = kept;
  kt.dropped = kt.seen - kept;
  for (const row of rejects.rows) stats.count('failures_by_host', new URL(row.source).host);
  for (let h = 0; h < 25; h++) stats.count('retries_by_host', `cdn${String(h).padStart(2, '0')}.example.org`, 100 - h * 3);
  // Examples from the web that the report must neutralise.
  const web = stats.exampleSet('kept:web_captions', 4);
  web.add('web#1', { id: 'web#1', source: 'http://a.example/1.jpg', caption: EVIL_CAPTION, thumb });
  web.add('web#2', { id: 'web#2', source: 'http://a.example/2.jpg', caption: 'remote thumb', thumb: 'https://evil.example/track.jpg' });
  web.add('web#3', { id: 'web#3', source: 'http://a.example/3.svg', caption: 'svg thumb', thumb: `data:image/svg+xml;base64,${Buffer.from('<svg onload="alert(1)"/>').toString('base64')}` });
  stats.units = 1;
  stats.wallMs = 4321;

  const manifest: Manifest = {
    schema_version: 1,
    weft_version: '0.1.0',
    config_fingerprint: 'f1e2d3c4b5a69788',
    config: { name: 'laion-mini <test>', source: { kind: 'image_text', path: 'urls.jsonl' } },
    scorers: [{ id: 'clip-vit-b32-onnx', model_sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', preprocessing_hash: 'pp-01' }],
    filters: [{ column: 'clip', threshold: SCORE_THRESHOLD, op: '>=' }],
    units: [{ id: 'list-00000', source: 'urls.jsonl', kept, dropped: kt.dropped, committed_at: '2024-01-01T00:00:00.000Z' }],
    shards: [{ path: 'shards/image_text-list-00000-0000.arrow', kind: 'image_text', rows: kept, bytes: 3_456_789, sha256: 'ab'.repeat(32), unit: 'list-00000' }],
    totals: { kept, dropped: kt.dropped, shards: 1, bytes: 3_456_789 },
  };
  return { manifest, stats, rejects, scores, thumb };
}
