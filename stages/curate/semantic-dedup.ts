// Semantic dedup within one cluster (NeMo Curator's SemDeDup): members are visited in keep
// order (highest score first, ties and `first_id` by id), and a member whose cosine to an
// already kept member exceeds 1 - eps is marked a duplicate of the most similar kept one;
// otherwise it is kept. Marks only: the index gets `semantic_duplicate_of`, and a filter
// (curate.corpus.semantic_dedup.drop) leaves marked rows out.
// Cost: members x kept per compared group. A cluster larger than `maxGroup` is first split by
// spherical 2-means bisection until no part is larger (splitGroups), so the cost per sample is
// bounded by maxGroup and the pass is linear in N for a fixed k; a pair split across a
// bisection boundary is missed, as a pair split across two clusters is.
import { dot, normalise, type EmbeddedRow } from './kmeans.ts';

export type KeepRule = 'highest_score' | 'first_id';

const byId = (a: EmbeddedRow, b: EmbeddedRow) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

export function keepOrder(members: EmbeddedRow[], keep: KeepRule): EmbeddedRow[] {
  const sorted = [...members];
  if (keep === 'first_id') return sorted.sort(byId);
  const s = (r: EmbeddedRow) => (r.score === null || !Number.isFinite(r.score) ? -Infinity : r.score);
  return sorted.sort((a, b) => s(b) - s(a) || byId(a, b));
}

/** Duplicate id -> id of the kept member it duplicates, for one cluster's members. */
export function semanticDuplicates(members: EmbeddedRow[], eps: number, keep: KeepRule, maxGroup = Infinity): Map<string, string> {
  const marks = new Map<string, string>();
  const cut = 1 - eps;
  for (const group of splitGroups(members, maxGroup)) {
    const kept: EmbeddedRow[] = [];
    for (const m of keepOrder(group, keep)) {
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
  }
  return marks;
}

const BISECT_ITERATIONS = 5;

/** The members in groups of at most maxGroup, by recursive 2-means bisection. Deterministic in
 *  the member set (not its order): sums run in id order and the seeds are chosen by content. A
 *  group that does not split (all members on one side, e.g. copies of one vector) stays whole. */
export function splitGroups(members: EmbeddedRow[], maxGroup: number): EmbeddedRow[][] {
  if (members.length <= maxGroup) return [members];
  const out: EmbeddedRow[][] = [];
  const todo = [[...members].sort(byId)];
  while (todo.length) {
    const g = todo.pop()!;
    if (g.length <= maxGroup) {
      out.push(g);
      continue;
    }
    const [a, b] = bisect(g);
    if (a.length === 0 || b.length === 0) out.push(g);
    else todo.push(b, a);
  }
  return out;
}

/** Spherical 2-means of id-sorted members: seeds are the member farthest from the mean and the
 *  member farthest from that one (ties: first id); members go to the nearer centroid (ties: a). */
function bisect(g: EmbeddedRow[]): [EmbeddedRow[], EmbeddedRow[]] {
  const farthestFrom = (c: Float32Array) => {
    let best = g[0];
    let bestSim = Infinity;
    for (const m of g) {
      const s = dot(m.vector, c);
      if (s < bestSim) {
        bestSim = s;
        best = m;
      }
    }
    return best;
  };
  let ca: Float32Array = Float32Array.from(farthestFrom(meanDirection(g)).vector);
  let cb: Float32Array = Float32Array.from(farthestFrom(ca).vector);
  let a: EmbeddedRow[] = [];
  let b: EmbeddedRow[] = [];
  for (let it = 0; it < BISECT_ITERATIONS; it++) {
    a = [];
    b = [];
    for (const m of g) (dot(m.vector, ca) >= dot(m.vector, cb) ? a : b).push(m);
    if (a.length === 0 || b.length === 0) break;
    ca = meanDirection(a);
    cb = meanDirection(b);
  }
  return [a, b];
}

function meanDirection(g: EmbeddedRow[]): Float32Array {
  const dim = g[0].vector.length;
  const sum = new Float64Array(dim);
  for (const m of g) for (let d = 0; d < dim; d++) sum[d] += m.vector[d];
  return normalise(Float32Array.from(sum));
}
