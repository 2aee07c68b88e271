// Semantic dedup within one cluster (NeMo Curator's SemDeDup): members are visited in keep
// order (highest score first, ties and `first_id` by id), and a member whose cosine to an
// already kept member exceeds 1 - eps is marked a duplicate of the most similar kept one;
// otherwise it is kept. Marks only: the index gets `semantic_duplicate_of`, and a filter
// (curate.corpus.semantic_dedup.drop) leaves marked rows out. Cost: members x kept per cluster.
import { dot, type EmbeddedRow } from './kmeans.ts';

export type KeepRule = 'highest_score' | 'first_id';

const byId = (a: EmbeddedRow, b: EmbeddedRow) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function keepOrder(members: EmbeddedRow[], keep: KeepRule): EmbeddedRow[] {
  const sorted = [...members];
  if (keep === 'first_id') return sorted.sort(byId);
  const s = (r: EmbeddedRow) => (r.score === null || !Number.isFinite(r.score) ? -Infinity : r.score);
  return sorted.sort((a, b) => s(b) - s(a) || byId(a, b));
}

/** Duplicate id -> id of the kept member it duplicates, for one cluster's members. */
export function semanticDuplicates(members: EmbeddedRow[], eps: number, keep: KeepRule): Map<string, string> {
  const marks = new Map<string, string>();
  const kept: EmbeddedRow[] = [];
  const cut = 1 - eps;
  for (const m of keepOrder(members, keep)) {
    let best: EmbeddedRow | null = null;
    let bestSim = cut;
    for (const k of kept) {
      const s = dot(m.vector, k.vector);
      if (s > bestSim) {
        bestSim = s;
        best = k;
      }
    }
    if (best) marks.set(m.id, best.id);
    else kept.push(m);
  }
  return marks;
}
