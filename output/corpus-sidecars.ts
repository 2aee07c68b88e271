// Reading the corpus sidecars (stages/curate/corpus-sidecar.ts) back at finalise: one unit's
// files at a time, in unit order, so a pass holds one unit's rows, never the corpus.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as arrow from 'apache-arrow';
import type { UnitCompletion } from './out-dir.ts';
import { normalise, type EmbeddedRow, type EmbeddingSource } from '../stages/curate/kmeans.ts';
import { FLOAT16_VALUES } from '../stages/curate/corpus-sidecar.ts';

export interface SidecarRow extends EmbeddedRow {
  caption: string;
}

export class CorpusSidecars implements EmbeddingSource {
  readonly units: string[];
  private readonly files = new Map<string, string[]>();
  dim = 0;

  private constructor(private readonly root: string, completions: UnitCompletion[], private readonly column: 'image_embedding' | 'text_embedding') {
    for (const c of completions) if (c.sidecars?.length) this.files.set(c.unit, c.sidecars.map((s) => s.path));
    this.units = [...this.files.keys()].sort();
  }

  /** Opens the sidecars of the committed units; `embedding` picks the column the passes read. */
  static async open(root: string, completions: UnitCompletion[], embedding: 'image' | 'text' = 'image'): Promise<CorpusSidecars> {
    const s = new CorpusSidecars(root, completions, embedding === 'image' ? 'image_embedding' : 'text_embedding');
    for (const unit of s.units) {
      const t = await s.table(s.files.get(unit)![0]);
      const field = t.schema.fields.find((f) => f.name === s.column);
      if (field) s.dim = (field.type as arrow.FixedSizeList).listSize;
      break;
    }
    return s;
  }

  get hasEmbeddings(): boolean {
    return this.dim > 0;
  }

  private async table(rel: string): Promise<arrow.Table> {
    return arrow.tableFromIPC(await readFile(path.join(this.root, rel)));
  }

  /** The unit's rows; vectors renormalised (null vector rows are skipped when `withVectors`). */
  async *sidecarRows(unit: string, withVectors: boolean): AsyncGenerator<SidecarRow> {
    for (const rel of this.files.get(unit) ?? []) {
      const t = await this.table(rel);
      const ids = t.getChild('id')!;
      const captions = t.getChild('caption')!;
      const scores = t.getChild('score')!;
      const vectors = withVectors ? t.getChild(this.column) : null;
      if (withVectors && !vectors) throw new Error(`${rel}: no ${this.column} column (was the run made without a scorer?)`);
      let row = 0;
      for (const batch of vectors ? vectors.data : [null]) {
        const length = batch ? batch.length : t.numRows;
        const child = batch?.children[0];
        const halves = child ? (child.values as Uint16Array) : null;
        for (let i = 0; i < length; i++, row++) {
          let vector = new Float32Array(0);
          if (batch && halves) {
            if (!vectors!.isValid(row)) continue;
            const start = (child!.offset + (batch.offset + i) * this.dim);
            vector = new Float32Array(this.dim);
            for (let d = 0; d < this.dim; d++) vector[d] = FLOAT16_VALUES[halves[start + d]];
            normalise(vector);
          }
          const score = scores.get(row) as number | null;
          yield { id: String(ids.get(row)), caption: String(captions.get(row) ?? ''), score: typeof score === 'number' && Number.isFinite(score) ? score : null, vector };
        }
      }
    }
  }

  rows(unit: string): AsyncIterable<EmbeddedRow> {
    return this.sidecarRows(unit, true);
  }
}
