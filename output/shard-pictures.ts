// Captions and thumbnails of a few committed samples, streamed from their shards by (shard, row):
// for report examples of samples the run did not sample while it ran (duplicate groups, pairs
// dropped at finalise). Batches are read one at a time, so memory stays at one batch.
import { createReadStream } from 'node:fs';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import { makeThumbnail } from '../stages/decode/thumbnails.ts';

export interface ShardPicture {
  caption?: string;
  thumb?: string;
}

export async function picturesFromShards(root: string, where: ReadonlyMap<string, { shard: string; row: number }>): Promise<Map<string, ShardPicture>> {
  const out = new Map<string, ShardPicture>();
  const byShard = new Map<string, Map<number, string>>();
  for (const [id, w] of where) {
    const m = byShard.get(w.shard) ?? new Map<number, string>();
    m.set(w.row, id);
    byShard.set(w.shard, m);
  }
  for (const [shard, rows] of byShard) {
    try {
      const reader = await arrow.RecordBatchReader.from(createReadStream(path.join(root, shard)));
      let offset = 0;
      for await (const batch of reader) {
        for (const [r, id] of rows) {
          if (r < offset || r >= offset + batch.numRows) continue;
          const image = batch.getChild('image')?.get(r - offset) as { bytes?: Uint8Array } | null;
          const caption = batch.getChild('caption')?.get(r - offset);
          const entry: ShardPicture = typeof caption === 'string' ? { caption } : {};
          if (image?.bytes) {
            const thumb = await makeThumbnail(image.bytes).catch(() => undefined);
            if (thumb) entry.thumb = thumb;
          }
          out.set(id, entry);
        }
        offset += batch.numRows;
      }
    } catch {
      // an unreadable shard leaves its samples without pictures; their cards say so
    }
  }
  return out;
}
