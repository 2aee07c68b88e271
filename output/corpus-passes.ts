// The corpus passes of curate.corpus, run when an OUT folder is finalised, over the per-unit
// corpus sidecars in unit order (so one process and a merge of many ranks compute the same):
//   clusters        k-means (stages/curate/kmeans.ts): index columns cluster_id, cluster_distance
//   semantic_dedup  per cluster (members spilled to one temp file per cluster, then read one
//                   cluster at a time): semantic_duplicate_of; with drop, marked rows leave the
//                   index (stage semantic_dedup, reason semantic_duplicate)
//   balance         MetaCLIP entries and counts (stages/curate/concept-balance.ts): balance_kept;
//                   with drop, rows not drawn leave the index (stage balance, reason balance_not_drawn)
//   image_cluster_filter  DataComp's image-based filter: the reference images (corpus-references.ts)
//                   embedded, their nearest centroids are the reference clusters: reference_cluster;
//                   with drop (default), rows outside them leave the index (stage and reason image_cluster_filter)
//   embedding decontamination (curate.decontaminate.embedding_min_cosine): the eval images
//                   embedded; eval_embedding_cosine (highest cosine to one), eval_embedding_match;
//                   with drop (default), matches leave the index (stage decontaminate_embedding,
//                   reason eval_contamination)
// The index columns are filled unit by unit as index.parquet is written: each unit's sidecar is
// read again and its rows assigned, so what is held is the centroids, the entry counts, the
// duplicate marks and one unit's rows.
import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { applyFinaliseCuts, type FinaliseCut } from './finalise-cuts.ts';
import path from 'node:path';
import type { IndexRow, RunInfo, UnitCompletion } from './out-dir.ts';
import type { RunStats } from '../core/stats.ts';
import type { Manifest } from '../schemas/manifest.ts';
import type { RejectRecord } from '../core/rejects.ts';
import { SpillFile } from '../core/external-sort.ts';
import { embeddingDecontamination, type CorpusConfig, type DecontaminateConfig } from '../schemas/curate-config.ts';
import { embedImageSet, openRunScorerAgain, type ReferenceImage } from './corpus-references.ts';
import type { FlatColumn } from './parquet-tables.ts';
import { CorpusSidecars } from './corpus-sidecars.ts';
import { cpuMsSince, dot, nearestCentroid, runKMeans, type EmbeddedRow, type KMeansPass } from '../stages/curate/kmeans.ts';
import { semanticDuplicates } from '../stages/curate/semantic-dedup.ts';
import { balanceKeeps, captionNgrams, EntryCounts, EntryMatcher, parseEntryList } from '../stages/curate/concept-balance.ts';

export const SEMANTIC_DEDUP_STAGE = 'semantic_dedup';
export const SEMANTIC_DUPLICATE_REASON = 'semantic_duplicate';
export const BALANCE_STAGE = 'balance';
export const BALANCE_REASON = 'balance_not_drawn';
export const IMAGE_CLUSTER_STAGE = 'image_cluster_filter';
export const IMAGE_CLUSTER_REASON = 'image_cluster_filter';
export const EMBEDDING_DECONTAMINATION_STAGE = 'decontaminate_embedding';
export const EVAL_CONTAMINATION_REASON = 'eval_contamination';

export const CORPUS_INDEX_COLUMNS = {
  clusters: [
    { name: 'cluster_id', type: 'INT64', optional: true },
    { name: 'cluster_distance', type: 'DOUBLE', optional: true },
  ],
  semanticDedup: [{ name: 'semantic_duplicate_of', type: 'UTF8', optional: true }],
  balance: [{ name: 'balance_kept', type: 'BOOLEAN', optional: true }],
  imageClusterFilter: [{ name: 'reference_cluster', type: 'BOOLEAN', optional: true }],
  evalEmbedding: [
    { name: 'eval_embedding_cosine', type: 'DOUBLE', optional: true },
    { name: 'eval_embedding_match', type: 'UTF8', optional: true },
  ],
} satisfies Record<string, FlatColumn[]>;

function curateConfigOf(info: RunInfo): { corpus: CorpusConfig | null; decontaminate: DecontaminateConfig | undefined } {
  const curate = (info.config as { curate?: { corpus?: CorpusConfig; decontaminate?: DecontaminateConfig } } | null)?.curate;
  return { corpus: curate?.corpus ?? null, decontaminate: curate?.decontaminate };
}

interface UnitLookup {
  unit: string;
  cluster: Map<string, { cluster: number; distance: number }>;
  entries: Map<string, string[]>;
  /** Highest cosine to an eval image and that image. */
  eval: Map<string, { cosine: number; name: string }>;
}

export class CorpusPasses {
  readonly columns: FlatColumn[] = [];
  private centroids: Float32Array[] = [];
  private passes: KMeansPass[] = [];
  private readonly duplicateOf = new Map<string, string>();
  private counts: EntryCounts | null = null;
  private matcher: EntryMatcher | null = null;
  private readonly after = new EntryCounts();
  private lookup: UnitLookup | null = null;
  /** The passes' reject rows, spilled to a file as the index streams (see rejectsTo). */
  private below: SpillFile<RejectRecord> | null = null;
  private readonly droppedByStage = new Map<string, number>();
  private readonly droppedByKind = new Map<string, number>();
  private readonly passed = new Map<string, number>();
  private readonly clusterSizes = new Map<number, number>();
  private entryCount = 0;
  /** Clusters that are some reference image's nearest (image_cluster_filter), and the reference count. */
  private referenceClusters: Set<number> | null = null;
  private referenceImages = 0;
  private evalImages: ReferenceImage[] = [];
  private evalMatched = 0;
  /** Image-embedding view of the sidecars for the eval comparison (the clustered one when it is the image embedding). */
  private imageSidecars: CorpusSidecars | null = null;
  /** Wall time of each pass (for `weft bench curate`; never written to the outputs). */
  readonly timings = { seeding_ms: 0, kmeans_ms: 0, dedup_ms: 0, lloyd_ms: [] as number[], seeding_cpu_ms: 0, lloyd_cpu_ms: [] as number[], dedup_cpu_ms: 0 };

  private constructor(private readonly cfg: CorpusConfig, private readonly sidecars: CorpusSidecars, private readonly decon: DecontaminateConfig | undefined) {}

  /** Runs the configured passes over the sidecars; null when the run has none. */
  static async run(root: string, info: RunInfo, completions: UnitCompletion[], log: (line: string) => void = () => undefined): Promise<CorpusPasses | null> {
    const { corpus: cfg, decontaminate } = curateConfigOf(info);
    const evalEmbedding = embeddingDecontamination(decontaminate);
    if (!cfg || (cfg.clusters.k === null && !cfg.balance.enabled && !evalEmbedding)) return null;
    const sidecars = await CorpusSidecars.open(root, completions, cfg.clusters.embedding);
    const p = new CorpusPasses(cfg, sidecars, decontaminate);
    if (cfg.clusters.k !== null) {
      if (!sidecars.hasEmbeddings && sidecars.units.length > 0) throw new Error('curate.corpus.clusters: the corpus sidecars hold no embeddings');
      p.columns.push(...CORPUS_INDEX_COLUMNS.clusters);
      const started = performance.now();
      const cpu = process.cpuUsage();
      const result = await runKMeans(sidecars, { k: cfg.clusters.k, seed: cfg.clusters.seed, iterations: cfg.clusters.iterations, tolerance: cfg.clusters.tolerance, seedSample: cfg.clusters.seed_sample });
      p.centroids = result.centroids;
      p.passes = result.passes;
      p.timings.kmeans_ms = performance.now() - started;
      p.timings.lloyd_ms = result.passes.map((x) => x.ms);
      p.timings.seeding_ms = p.timings.kmeans_ms - p.timings.lloyd_ms.reduce((a, b) => a + b, 0);
      p.timings.lloyd_cpu_ms = result.passes.map((x) => x.cpuMs);
      p.timings.seeding_cpu_ms = cpuMsSince(cpu) - p.timings.lloyd_cpu_ms.reduce((a, b) => a + b, 0);
      for (const pass of result.passes) log(`k-means pass ${pass.pass}: moved ${pass.moved.toExponential(2)}, mean distance ${pass.meanDistance.toFixed(4)}, ${pass.ms.toFixed(0)} ms`);
      if (cfg.semantic_dedup.enabled) {
        p.columns.push(...CORPUS_INDEX_COLUMNS.semanticDedup);
        const dedupStarted = performance.now();
        const dedupCpu = process.cpuUsage();
        await p.semanticDedup(root);
        p.timings.dedup_ms = performance.now() - dedupStarted;
        p.timings.dedup_cpu_ms = cpuMsSince(dedupCpu);
      }
    }
    if ((cfg.clusters.k !== null && cfg.image_cluster_filter.reference !== null) || evalEmbedding) await p.embedImageSets(root, info, completions, evalEmbedding);
    if (cfg.balance.enabled) {
      p.columns.push(...CORPUS_INDEX_COLUMNS.balance);
      await p.countEntries();
    }
    return p;
  }

  /** Embeds the reference images (their nearest centroids become the reference clusters) and the eval images. */
  private async embedImageSets(root: string, info: RunInfo, completions: UnitCompletion[], evalEmbedding: boolean): Promise<void> {
    const reference = this.cfg.clusters.k !== null ? this.cfg.image_cluster_filter.reference : null;
    const scorer = await openRunScorerAgain(info, reference !== null ? 'curate.corpus.image_cluster_filter' : 'curate.decontaminate.embedding_min_cosine');
    try {
      if (reference !== null && this.centroids.length) {
        this.columns.push(...CORPUS_INDEX_COLUMNS.imageClusterFilter);
        const images = await embedImageSet(scorer, reference, 'curate.corpus.image_cluster_filter.reference');
        this.referenceImages = images.length;
        this.referenceClusters = new Set(images.map((r) => nearestCentroid(r.vector, this.centroids).cluster));
      }
      if (evalEmbedding) {
        if (!this.sidecars.hasEmbeddings && this.sidecars.units.length > 0) throw new Error('curate.decontaminate.embedding_min_cosine: the corpus sidecars hold no embeddings');
        this.columns.push(...CORPUS_INDEX_COLUMNS.evalEmbedding);
        this.evalImages = await embedImageSet(scorer, this.decon!.eval_images!, 'curate.decontaminate.eval_images');
        this.imageSidecars = this.cfg.clusters.embedding === 'image' ? this.sidecars : await CorpusSidecars.open(root, completions, 'image');
      }
    } finally {
      await scorer.close();
    }
  }

  /** Spills each sample to its cluster's file, then dedups one cluster at a time. */
  private async semanticDedup(root: string): Promise<void> {
    // Spill folders of a finalise that was killed are removed first (one finalise at a time: the OUT lock).
    for (const f of await readdir(root)) if (f.startsWith('.semdedup-')) await rm(path.join(root, f), { recursive: true, force: true });
    const dir = await mkdtemp(path.join(root, '.semdedup-'));
    try {
      const dim = this.sidecars.dim;
      const buffers = new Map<number, Buffer[]>();
      const sizes = new Map<number, number>();
      const flush = async (c: number) => {
        const b = buffers.get(c);
        if (b?.length) await appendFile(path.join(dir, `${c}.bin`), Buffer.concat(b));
        buffers.set(c, []);
        sizes.set(c, 0);
      };
      for (const unit of this.sidecars.units) {
        for await (const r of this.sidecars.rows(unit)) {
          const { cluster } = nearestCentroid(r.vector, this.centroids);
          const rec = encodeRow(r, dim);
          if (!buffers.has(cluster)) buffers.set(cluster, []);
          buffers.get(cluster)!.push(rec);
          sizes.set(cluster, (sizes.get(cluster) ?? 0) + rec.length);
          if (sizes.get(cluster)! > 1 << 16) await flush(cluster);
        }
      }
      for (const c of [...buffers.keys()]) await flush(c);
      for (const c of [...buffers.keys()].sort((a, b) => a - b)) {
        const members = decodeRows(await readFile(path.join(dir, `${c}.bin`)), dim);
        for (const [dup, kept] of semanticDuplicates(members, this.cfg.semantic_dedup.eps, this.cfg.semantic_dedup.keep, this.cfg.semantic_dedup.max_group)) this.duplicateOf.set(dup, kept);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Entries (list file or derived n-grams) and their per-unit counts, merged in unit order. */
  private async countEntries(): Promise<void> {
    const b = this.cfg.balance;
    let entries: string[];
    if (b.entries_file !== null) {
      entries = parseEntryList(await readFile(b.entries_file, 'utf8'));
    } else {
      const grams = new EntryCounts();
      for (const unit of this.sidecars.units) {
        const part = new EntryCounts();
        for await (const r of this.sidecars.sidecarRows(unit, false)) for (const g of captionNgrams(r.caption, b.ngram)) part.add(g);
        grams.merge(part);
      }
      entries = [...grams.counts].filter(([, n]) => n >= b.min_count).map(([e]) => e).sort();
    }
    this.entryCount = entries.length;
    this.matcher = new EntryMatcher(entries);
    const counts = new EntryCounts();
    for (const unit of this.sidecars.units) {
      const part = new EntryCounts();
      for await (const r of this.sidecars.sidecarRows(unit, false)) for (const e of this.matcher.matches(r.caption)) part.add(e);
      counts.merge(part);
    }
    this.counts = counts;
  }

  private async unitLookup(unit: string): Promise<UnitLookup> {
    if (this.lookup?.unit === unit) return this.lookup;
    const l: UnitLookup = { unit, cluster: new Map(), entries: new Map(), eval: new Map() };
    const vectors = this.centroids.length > 0;
    const evalHere = this.imageSidecars === this.sidecars && this.evalImages.length > 0;
    for await (const r of this.sidecars.sidecarRows(unit, vectors || evalHere)) {
      if (vectors) l.cluster.set(r.id, nearestCentroid(r.vector, this.centroids));
      if (evalHere) l.eval.set(r.id, this.nearestEvalImage(r.vector));
      if (this.matcher) l.entries.set(r.id, this.matcher.matches(r.caption));
    }
    if (this.imageSidecars && !evalHere) for await (const r of this.imageSidecars.sidecarRows(unit, true)) l.eval.set(r.id, this.nearestEvalImage(r.vector));
    this.lookup = l;
    return l;
  }

  private nearestEvalImage(v: Float32Array): { cosine: number; name: string } {
    let best = { cosine: -Infinity, name: '' };
    for (const e of this.evalImages) {
      const c = dot(v, e.vector);
      if (c > best.cosine) best = { cosine: c, name: e.name };
    }
    return best;
  }

  /** Index rows with the corpus columns; rows a configured drop removes become reject rows. */
  async *index(rows: AsyncIterable<IndexRow>): AsyncGenerator<IndexRow> {
    for await (const original of rows) {
      const l = await this.unitLookup(String(original.unit));
      const id = String(original.id);
      const row: IndexRow = { ...original };
      if (this.evalImages.length) {
        const minCosine = this.decon!.embedding_min_cosine!;
        const e = l.eval.get(id);
        const match = e && e.cosine >= minCosine ? e.name : null;
        row.eval_embedding_cosine = e ? Math.round(e.cosine * 1e6) / 1e6 : null;
        row.eval_embedding_match = match;
        if (match !== null) this.evalMatched++;
        if (match !== null && this.decon!.drop) {
          await this.drop(row, EMBEDDING_DECONTAMINATION_STAGE, EVAL_CONTAMINATION_REASON, `image embedding cosine ${e!.cosine.toFixed(4)} >= ${minCosine} to eval image ${match}`);
          continue;
        }
        if (this.decon!.drop) this.pass(EMBEDDING_DECONTAMINATION_STAGE);
      }
      if (this.centroids.length) {
        const a = l.cluster.get(id);
        row.cluster_id = a?.cluster ?? null;
        row.cluster_distance = a ? Math.round(a.distance * 1e6) / 1e6 : null;
        if (a) this.clusterSizes.set(a.cluster, (this.clusterSizes.get(a.cluster) ?? 0) + 1);
      }
      if (this.cfg.semantic_dedup.enabled) {
        const of = this.duplicateOf.get(id) ?? null;
        row.semantic_duplicate_of = of;
        if (of !== null && this.cfg.semantic_dedup.drop) {
          await this.drop(row, SEMANTIC_DEDUP_STAGE, SEMANTIC_DUPLICATE_REASON, `cosine to ${of} > 1 - eps (eps ${this.cfg.semantic_dedup.eps}) in cluster ${row.cluster_id}`);
          continue;
        }
        if (this.cfg.semantic_dedup.drop) this.pass(SEMANTIC_DEDUP_STAGE);
      }
      if (this.referenceClusters) {
        const inside = row.cluster_id === null || row.cluster_id === undefined ? null : this.referenceClusters.has(Number(row.cluster_id));
        row.reference_cluster = inside;
        const f = this.cfg.image_cluster_filter;
        if (inside === false && f.drop) {
          await this.drop(row, IMAGE_CLUSTER_STAGE, IMAGE_CLUSTER_REASON, `nearest centroid ${row.cluster_id} is no reference image's (${this.referenceClusters.size} reference clusters of ${this.centroids.length})`);
          continue;
        }
        if (f.drop) this.pass(IMAGE_CLUSTER_STAGE);
      }
      if (this.counts) {
        const b = this.cfg.balance;
        const entries = l.entries.get(id) ?? [];
        const kept = entries.length === 0 ? b.keep_unmatched : balanceKeeps(id, entries, this.counts, b.t, b.seed);
        row.balance_kept = kept;
        if (kept) for (const e of entries) this.after.add(e);
        if (!kept && b.drop) {
          await this.drop(row, BALANCE_STAGE, BALANCE_REASON, entries.length ? `not drawn for any of ${entries.length} entries (${entries.slice(0, 3).map((e) => `${e}: ${this.counts!.get(e)}`).join(', ')}; t ${b.t})` : 'matches no metadata entry');
          continue;
        }
        if (b.drop) this.pass(BALANCE_STAGE);
      }
      yield row;
    }
  }

  private pass(stage: string): void {
    this.passed.set(stage, (this.passed.get(stage) ?? 0) + 1);
  }

  /** Where the passes' reject rows go (a file appended while `index` runs and read back by `rejects`); call before `index`. */
  rejectsTo(file: string): void {
    this.below = new SpillFile<RejectRecord>(file);
  }

  private async drop(row: IndexRow, stage: string, reason: string, detail: string): Promise<void> {
    if (!this.below) throw new Error('CorpusPasses: rejectsTo() before index()');
    const kind = String(row.kind);
    this.droppedByKind.set(kind, (this.droppedByKind.get(kind) ?? 0) + 1);
    this.droppedByStage.set(stage, (this.droppedByStage.get(stage) ?? 0) + 1);
    await this.below.append({ id: String(row.id), kind, source: String(row.source ?? row.unit), stage, reason, detail });
  }

  async *rejects(): AsyncGenerator<RejectRecord> {
    if (this.below) yield* this.below.read();
  }

  /** After `index`: stats (cluster sizes, entry-count distributions, drop stages) and manifest entries. */
  applyTo(stats: RunStats, manifest: Manifest): void {
    const cfg = this.cfg;
    if (this.centroids.length) {
      const sizes = stats.histogram('corpus:cluster_size', 0, 4, 40);
      for (const n of [...this.clusterSizes.values()]) sizes.add(Math.log10(n));
      manifest.filters.push({
        rule: 'kmeans',
        k: cfg.clusters.k,
        clusters: this.centroids.length,
        embedding: cfg.clusters.embedding,
        seed: cfg.clusters.seed,
        passes: this.passes.map((p) => ({ pass: p.pass, moved: round(p.moved), mean_distance: round(p.meanDistance), empty: p.empty })),
        columns: ['cluster_id', 'cluster_distance'],
        applied_to: 'index',
      });
    }
    if (cfg.semantic_dedup.enabled) {
      manifest.filters.push({ rule: 'semantic_dedup', eps: cfg.semantic_dedup.eps, keep: cfg.semantic_dedup.keep, max_group: cfg.semantic_dedup.max_group, marked: this.duplicateOf.size, drop: cfg.semantic_dedup.drop, column: 'semantic_duplicate_of', stage: SEMANTIC_DEDUP_STAGE, reason: SEMANTIC_DUPLICATE_REASON, applied_to: 'index' });
    }
    if (this.counts) {
      const before = stats.histogram('balance:entry_count_before', 0, 8, 32);
      const after = stats.histogram('balance:entry_count_after', 0, 8, 32);
      for (const n of this.counts.counts.values()) before.add(Math.log10(n));
      for (const n of this.after.counts.values()) after.add(Math.log10(n));
      const head = [...this.counts.counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 20);
      manifest.filters.push({
        rule: 'balance',
        t: cfg.balance.t,
        seed: cfg.balance.seed,
        entries: this.entryCount,
        entries_from: cfg.balance.entries_file === null ? `derived ${cfg.balance.ngram}-grams seen in >= ${cfg.balance.min_count} captions` : path.basename(cfg.balance.entries_file),
        head: head.map(([entry, n]) => ({ entry, before: n, after: this.after.get(entry) })),
        drop: cfg.balance.drop,
        column: 'balance_kept',
        stage: BALANCE_STAGE,
        reason: BALANCE_REASON,
        applied_to: 'index',
      });
    }
    if (this.referenceClusters) {
      manifest.filters.push({ rule: 'image_cluster_filter', reference: path.basename(cfg.image_cluster_filter.reference!), reference_images: this.referenceImages, reference_clusters: this.referenceClusters.size, clusters: this.centroids.length, drop: cfg.image_cluster_filter.drop, column: 'reference_cluster', stage: IMAGE_CLUSTER_STAGE, reason: IMAGE_CLUSTER_REASON, applied_to: 'index' });
    }
    if (this.evalImages.length) {
      manifest.filters.push({ rule: 'eval_embedding', eval_images: this.evalImages.length, min_cosine: this.decon!.embedding_min_cosine, matched: this.evalMatched, drop: this.decon!.drop, columns: ['eval_embedding_cosine', 'eval_embedding_match'], stage: EMBEDDING_DECONTAMINATION_STAGE, reason: EVAL_CONTAMINATION_REASON, applied_to: 'index' });
    }
    const cuts: FinaliseCut[] = [];
    const stages: [string, string, boolean][] = [
      [EMBEDDING_DECONTAMINATION_STAGE, EVAL_CONTAMINATION_REASON, this.evalImages.length > 0 && this.decon!.drop],
      [SEMANTIC_DEDUP_STAGE, SEMANTIC_DUPLICATE_REASON, cfg.semantic_dedup.enabled && cfg.semantic_dedup.drop],
      [IMAGE_CLUSTER_STAGE, IMAGE_CLUSTER_REASON, this.referenceClusters !== null && cfg.image_cluster_filter.drop],
      [BALANCE_STAGE, BALANCE_REASON, cfg.balance.enabled && cfg.balance.drop],
    ];
    for (const [name, reason, on] of stages) if (on) cuts.push({ stage: name, reason, passed: this.passed.get(name) ?? 0, dropped: this.droppedByStage.get(name) ?? 0 });
    applyFinaliseCuts(stats, manifest, cuts, this.droppedByKind, this.below?.length ?? 0);
  }
}

const round = (v: number) => Math.round(v * 1e9) / 1e9;

/** Spill record: u16 id length, id bytes, f64 score (NaN: none), dim x f32. */
function encodeRow(r: EmbeddedRow, dim: number): Buffer {
  const id = Buffer.from(r.id, 'utf8');
  const b = Buffer.alloc(2 + id.length + 8 + dim * 4);
  b.writeUInt16LE(id.length, 0);
  id.copy(b, 2);
  b.writeDoubleLE(r.score ?? NaN, 2 + id.length);
  const o = 10 + id.length;
  for (let d = 0; d < dim; d++) b.writeFloatLE(r.vector[d], o + d * 4);
  return b;
}

function decodeRows(b: Buffer, dim: number): EmbeddedRow[] {
  const out: EmbeddedRow[] = [];
  let o = 0;
  while (o < b.length) {
    const n = b.readUInt16LE(o);
    const id = b.toString('utf8', o + 2, o + 2 + n);
    const score = b.readDoubleLE(o + 2 + n);
    const v = new Float32Array(dim);
    const s = o + 10 + n;
    for (let d = 0; d < dim; d++) v[d] = b.readFloatLE(s + d * 4);
    out.push({ id, score: Number.isNaN(score) ? null : score, vector: v });
    o = s + dim * 4;
  }
  return out;
}
