// Run-wide dedup marks (stages/curate/run-wide-dedup.ts says what they mean) in bounded memory,
// for finalise: the same marks as runWideDedupMarks, computed from sorted runs on disk instead
// of maps over every index row. Rows are numbered in canonical order (seq) as they stream by.
//   url_sibling_of  (normalised URL, seq, id) records, external-sorted: the first of each key
//                   is the leader, the others its siblings.
//   duplicate_of    (sha256, seq, id, URL key) records, external-sorted: the first of each
//                   sha256 is kept, a later one with another URL key points at it.
//   near_dup_of     needs the roots of every earlier row, in seq order. Rows are taken in
//                   blocks of `blockRows`: a block's hashes are indexed by pHash band in typed
//                   arrays (stages/curate/packed-near-index.ts) and the roots of earlier blocks
//                   stream past them from a binary file (near-roots-file.ts), giving each row
//                   its nearest earlier-block root; then the block is marked in seq order
//                   against its own roots, the nearer (earlier on ties) winning. Exact, like the
//                   in-memory pass; memory is one block of typed arrays, and the scans parse
//                   nothing and leave no garbage per root; time grows as rows^2 / blockRows
//                   root records read (200k rows: 20 blocks).
// URL siblings take their leader's near mark: they are resolved after the pass, joining
// (leader seq, seq) records sorted by leader seq with the near marks in seq order.
// All marks end in one sorted run keyed by seq, which finalise reads in step with the rows.
import path from 'node:path';
import { rm } from 'node:fs/promises';
import { DEFAULT_SPILL_RECORDS, ExternalSorter, SpillFile } from '../core/external-sort.ts';
import type { FieldType } from '../core/packed-records.ts';
import { normaliseUrl } from '../stages/curate/url-dedup.ts';
import { PackedNearIndex } from '../stages/curate/packed-near-index.ts';
import { phashWords } from '../stages/decode/pixel-hash.ts';
import { NearRootsFile } from './near-roots-file.ts';
import type { DedupRow } from '../stages/curate/run-wide-dedup.ts';

export interface StreamingMarksOptions {
  /** Scratch folder for the sorted runs; removed by `close`. */
  dir: string;
  /** Records held in memory per sorter before a run is written. */
  spillRecords?: number;
  /** Rows of one near-duplicate block. */
  blockRows?: number;
}

export interface RowMarks {
  urlSiblingOf?: string;
  duplicateOf?: string;
  nearDupOf?: string;
}

const DEFAULT_BLOCK_ROWS = 10_000;
/** kind: 'u' (URL sibling), 'd' (content duplicate) or 'n' (near duplicate). */
type MarkRecord = [seq: number, kind: string, target: string];

// Field layouts of the sorted records.
/** (normalised URL, seq, id) */
const URL_RECORD = ['str', 'num', 'str'] as const;
/** (sha256, seq, id, URL key or null) */
const SHA_RECORD = ['str', 'num', 'str', 'str?'] as const;
/** (seq, kind, target id) */
const MARK_RECORD = ['num', 'str', 'str'] as const;
/** (seq, other seq) */
const SEQ_PAIR = ['num', 'num'] as const;
const SEQ_ONLY = ['num'] as const;
type Sorters = <S extends readonly FieldType[]>(name: string, fields: S) => ExternalSorter<S>;

/** The marks of rows by seq, read in increasing seq order. */
export class StreamedMarks {
  private pending: MarkRecord | null = null;
  private done = false;

  constructor(
    private readonly records: AsyncIterator<MarkRecord>,
    private readonly dir: string,
  ) {}

  /** Marks of the row numbered `seq`; calls must come in increasing seq order. */
  async at(seq: number): Promise<RowMarks> {
    const marks: RowMarks = {};
    for (;;) {
      if (!this.pending && !this.done) {
        const n = await this.records.next();
        if (n.done) this.done = true;
        else this.pending = n.value;
      }
      if (!this.pending || this.pending[0] > seq) return marks;
      const [s, kind, target] = this.pending;
      this.pending = null;
      if (s < seq) continue;
      if (kind === 'u') marks.urlSiblingOf = target;
      else if (kind === 'd') marks.duplicateOf = target;
      else marks.nearDupOf = target;
    }
  }

  /** Every mark as maps by row id (for tests comparing with the in-memory pass). */
  static async toMaps(marks: StreamedMarks, ids: string[]): Promise<{ urlSiblingOf: Map<string, string>; duplicateOf: Map<string, string>; nearDupOf: Map<string, string> }> {
    const out = { urlSiblingOf: new Map<string, string>(), duplicateOf: new Map<string, string>(), nearDupOf: new Map<string, string>() };
    for (const [seq, id] of ids.entries()) {
      const m = await marks.at(seq);
      if (m.urlSiblingOf !== undefined) out.urlSiblingOf.set(id, m.urlSiblingOf);
      if (m.duplicateOf !== undefined) out.duplicateOf.set(id, m.duplicateOf);
      if (m.nearDupOf !== undefined) out.nearDupOf.set(id, m.nearDupOf);
    }
    return out;
  }

  async close(): Promise<void> {
    await this.records.return?.();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Computes the marks of `rows` (canonical order) on disk under options.dir. */
export async function streamRunWideMarks(rows: AsyncIterable<DedupRow>, phashMaxDistance: number | null, options: StreamingMarksOptions): Promise<StreamedMarks> {
  const spill = options.spillRecords ?? DEFAULT_SPILL_RECORDS;
  const blockRows = options.blockRows ?? DEFAULT_BLOCK_ROWS;
  const dir = options.dir;
  await rm(dir, { recursive: true, force: true });
  // Packed records, not arrays: a sorter's buffered records are no objects for V8 to promote.
  const sorter: Sorters = (name, fields) => new ExternalSorter(path.join(dir, name), fields, spill);

  // Pass 1: number the rows, spill the keys.
  const byUrl = sorter('url', URL_RECORD);
  const bySha = sorter('sha', SHA_RECORD);
  const phashRows = new SpillFile<[number, string, string]>(path.join(dir, 'phash.jsonl'));
  let seq = 0;
  for await (const r of rows) {
    const id = r.id;
    if (typeof r.url === 'string') await byUrl.add([normaliseUrl(r.url) ?? r.url, seq, id]);
    if (typeof r.sha256 === 'string') {
      const url = typeof r.url === 'string' && r.url ? r.url : null;
      await bySha.add([r.sha256, seq, id, url === null ? null : (normaliseUrl(url) ?? url)]);
    }
    if (phashMaxDistance !== null && typeof r.phash === 'string') await phashRows.append([seq, id, r.phash]);
    seq++;
  }

  const marks = sorter('marks', MARK_RECORD);
  // URL siblings: (seq, leader seq) in seq order, for the near pass.
  const siblings = sorter('siblings', SEQ_PAIR);
  let leader: { key: string; id: string; seq: number } | null = null;
  for await (const [key, s, id] of byUrl.sorted()) {
    if (leader && leader.key === key) {
      await marks.add([s, 'u', leader.id]);
      await siblings.add([s, leader.seq]);
    } else leader = { key, id, seq: s };
  }
  // Content duplicates: seqs in seq order, for the near pass (they are not near-matched).
  const duplicates = sorter('duplicates', SEQ_ONLY);
  let first: { sha: string; id: string; urlKey: string | null } | null = null;
  for await (const [sha, s, id, urlKey] of bySha.sorted()) {
    if (!first || first.sha !== sha) {
      first = { sha, id, urlKey };
      continue;
    }
    if (urlKey !== null && urlKey === first.urlKey) continue; // a caption sibling
    await marks.add([s, 'd', first.id]);
    await duplicates.add([s]);
  }

  if (phashMaxDistance !== null) await nearPass(dir, phashRows, siblings, duplicates, marks, phashMaxDistance, blockRows, sorter);
  await phashRows.remove();
  return new StreamedMarks(marks.sorted()[Symbol.asyncIterator](), dir);
}

async function nearPass(
  dir: string,
  phashRows: SpillFile<[number, string, string]>,
  siblings: ExternalSorter<typeof SEQ_PAIR>,
  duplicates: ExternalSorter<typeof SEQ_ONLY>,
  marks: ExternalSorter<typeof MARK_RECORD>,
  maxDistance: number,
  blockRows: number,
  sorter: Sorters,
): Promise<void> {
  const roots = await NearRootsFile.create(path.join(dir, 'roots.bin'), path.join(dir, 'root-ids.bin'));
  const nearMarks = new SpillFile<[number, string]>(path.join(dir, 'near.jsonl'));
  const deferred = sorter('deferred', SEQ_PAIR);
  const sib = cursor(siblings.sorted());
  const dup = cursor(duplicates.sorted());
  // One block: its rows, the block indexed for the scan of earlier roots (`query`), and the
  // block's own roots so far (`own`, positions -> block row). Reused from block to block.
  const seqs = new Float64Array(blockRows);
  const his = new Uint32Array(blockRows);
  const los = new Uint32Array(blockRows);
  let ids: string[] = [];
  const query = new PackedNearIndex(maxDistance, blockRows);
  const own = new PackedNearIndex(maxDistance, blockRows);
  const ownRow = new Int32Array(blockRows);
  // Per block row, the nearest root of the earlier blocks: distance (NONE: no root within
  // reach) and where its id lies in the roots file.
  const NONE = 255;
  const bestDistance = new Uint8Array(blockRows);
  const bestIdOffset = new Float64Array(blockRows);
  const bestIdLength = new Uint32Array(blockRows);
  let rootIdOffset = 0;
  let rootIdLength = 0;
  const nearer = (p: number, distance: number) => {
    // The roots come in seq order and only a strictly nearer one replaces the best: earliest on ties.
    if (distance < bestDistance[p]) {
      bestDistance[p] = distance;
      bestIdOffset[p] = rootIdOffset;
      bestIdLength[p] = rootIdLength;
    }
  };

  const markBlock = async () => {
    const n = ids.length;
    if (!n) return;
    query.clear();
    for (let i = 0; i < n; i++) query.add(his[i], los[i]);
    bestDistance.fill(NONE, 0, n);
    await roots.scan((hi, lo, idOffset, idLength) => {
      rootIdOffset = idOffset;
      rootIdLength = idLength;
      query.forEachWithin(hi, lo, nearer);
    });
    own.clear();
    for (let i = 0; i < n; i++) {
      const here = own.nearest(his[i], los[i]);
      // An earlier block's root precedes every root of this block, so it wins ties.
      let target: string | null = null;
      if (bestDistance[i] !== NONE && (here < 0 || bestDistance[i] <= own.lastDistance)) target = await roots.id(bestIdOffset[i], bestIdLength[i]);
      else if (here >= 0) target = ids[ownRow[here]];
      if (target !== null) {
        await marks.add([seqs[i], 'n', target]);
        await nearMarks.append([seqs[i], target]);
      } else {
        ownRow[own.add(his[i], los[i])] = i;
        await roots.append(his[i], los[i], ids[i]);
      }
    }
    ids = [];
  };

  try {
    for await (const [seq, id, hex] of phashRows.read()) {
      if ((await dup.skipTo(seq)) === seq) continue;
      if ((await sib.skipTo(seq)) === seq) {
        // Takes its leader's mark, resolved once every near mark is known.
        await deferred.add([sib.value![1], seq]);
        continue;
      }
      const { hi, lo } = phashWords(hex);
      seqs[ids.length] = seq;
      his[ids.length] = hi;
      los[ids.length] = lo;
      ids.push(id);
      if (ids.length >= blockRows) await markBlock();
    }
    await markBlock();
  } finally {
    await roots.remove();
  }
  await sib.close();
  await dup.close();

  // Siblings: (leader seq, seq) in leader order joined with the near marks in seq order.
  const near = cursor(nearMarks.read());
  for await (const [leaderSeq, seq] of deferred.sorted()) {
    if ((await near.skipTo(leaderSeq)) === leaderSeq) await marks.add([seq, 'n', near.value![1]]);
  }
  await near.close();
  await nearMarks.remove();
}

/** Steps through records whose first field is an increasing seq. */
function cursor<T extends [number, ...unknown[]]>(records: AsyncIterable<T>) {
  const it = records[Symbol.asyncIterator]();
  let done = false;
  const c = {
    value: undefined as T | undefined,
    /** Advances to the first record with seq >= `seq`; its seq, or undefined at the end. */
    async skipTo(seq: number): Promise<number | undefined> {
      while (!done && (c.value === undefined || c.value[0] < seq)) {
        const n = await it.next();
        if (n.done) {
          done = true;
          c.value = undefined;
        } else c.value = n.value;
      }
      return c.value?.[0];
    },
    async close(): Promise<void> {
      await it.return?.();
    },
  };
  return c;
}
