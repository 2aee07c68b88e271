// Reading an OUT folder's shards as a training loader would: the rows the index lists (or a SQL
// selection of them), optionally shuffled through a seeded buffer, split across ranks. Both IPC
// stream and IPC file shards are read. `weft train-scorer` and `weft export` read through this,
// so the project consumes its shards the way a user's loader does. readBatches groups the rows
// into batches, optionally with at most one row per value of an index column (cluster_id:
// false-negative-aware contrastive batches, core/distinct-batches.ts).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { mulberry32 } from '../core/random.ts';
import { DistinctGroupBatcher } from '../core/distinct-batches.ts';
import type { IndexRow } from './out-dir.ts';
import { selectIndexRows } from './index-query.ts';

export interface ReadShardsOptions {
  /** SQL expression over index.parquet's columns; only rows where it holds. */
  where?: string | null;
  /** Shuffle through a buffer of this many rows (0: shard order). Shard order is shuffled too. */
  shuffleBuffer?: number;
  seed?: number;
  /** This reader's share: the selected rows whose position modulo worldSize equals rank. */
  rank?: number;
  worldSize?: number;
  /** Shard columns to decode (default: all). */
  columns?: string[];
}

export interface ShardSample {
  /** The index row (id, kind, shard, row, unit and the kind's and scorers' columns). */
  index: IndexRow;
  /** The shard row's values: strings, numbers, Uint8Array, plain objects and arrays. */
  values: Record<string, unknown>;
  /** The shard's Arrow schema (fields and metadata). */
  schema: arrow.Schema;
}

/** Rows of OUT's shards that its index lists, as an async iterator. */
export async function* readShards(out: string, o: ReadShardsOptions = {}): AsyncGenerator<ShardSample> {
  const worldSize = o.worldSize ?? 1;
  const rank = o.rank ?? 0;
  if (!Number.isInteger(worldSize) || worldSize < 1 || !Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new Error(`rank ${rank} / world size ${worldSize}: need 0 <= rank < world size`);
  const { rows } = await selectIndexRows(out, o.where);
  const mine = rows.filter((_, i) => i % worldSize === rank);
  const byShard = new Map<string, IndexRow[]>();
  for (const r of mine) {
    const list = byShard.get(String(r.shard)) ?? [];
    list.push(r);
    byShard.set(String(r.shard), list);
  }
  const shards = [...byShard.keys()];
  const buffer = o.shuffleBuffer ?? 0;
  const random = mulberry32(o.seed ?? 0);
  if (buffer > 0) shuffle(shards, random);
  const held: ShardSample[] = [];
  for (const shard of shards) {
    const table = arrow.tableFromIPC(await readFile(path.join(out, shard)));
    const fields = table.schema.fields.filter((f) => !o.columns || o.columns.includes(f.name));
    for (const index of byShard.get(shard)!) {
      const i = Number(index.row);
      const values: Record<string, unknown> = {};
      for (const f of fields) values[f.name] = plainValue(table.getChild(f.name)!.get(i), f.type);
      const sample = { index, values, schema: table.schema };
      if (buffer <= 0) {
        yield sample;
        continue;
      }
      // A shuffle buffer as WebDataset's: once full, each new row swaps out a random held one.
      if (held.length < buffer) {
        held.push(sample);
        continue;
      }
      const k = Math.floor(random() * held.length);
      const out = held[k];
      held[k] = sample;
      yield out;
    }
  }
  shuffle(held, random);
  yield* held;
}

export interface ReadBatchesOptions extends ReadShardsOptions {
  batchSize: number;
  /** An index column (e.g. cluster_id): rows of one value go to different batches where possible; null values are distinct. */
  distinctBy?: string;
}

/** readShards' rows in batches of batchSize (the last may be smaller). With distinctBy, a row whose
 *  value the open batch already holds waits for a later batch (a bounded wait: see DistinctGroupBatcher). */
export async function* readBatches(out: string, o: ReadBatchesOptions): AsyncGenerator<ShardSample[]> {
  const column = o.distinctBy;
  let checked = false;
  const groupOf = (s: ShardSample): string | number | null => {
    if (!column) return null;
    if (!checked && !(column in s.index)) throw new Error(`readBatches distinctBy: ${out}'s index has no column ${column}`);
    checked = true;
    const v = s.index[column];
    return v === null || v === undefined ? null : typeof v === 'number' || typeof v === 'string' ? v : String(v);
  };
  const batcher = new DistinctGroupBatcher<ShardSample>(o.batchSize, groupOf);
  for await (const sample of readShards(out, o)) yield* batcher.push(sample);
  yield* batcher.flush();
}

function shuffle<T>(xs: T[], random: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
}

/** An Arrow value as plain JS: structs to objects, lists to arrays, bigints to numbers. */
export function plainValue(v: any, type: arrow.DataType): unknown {
  if (v === null || v === undefined) return null;
  if (arrow.DataType.isStruct(type)) return Object.fromEntries(type.children.map((c) => [c.name, plainValue(v[c.name], c.type)]));
  if (arrow.DataType.isList(type)) return [...(v as Iterable<unknown>)].map((x) => plainValue(x, type.children[0].type));
  if (typeof v === 'bigint') return Number(v);
  return v;
}
