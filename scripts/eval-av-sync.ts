// Accuracy of the AV sync estimate over the synthetic clip family (make-av-sync-fixtures.ts),
// against the aims it is built for:
//   - delayed clips with events on both sides: offset within ±1 frame of the delay (>= 90 %);
//   - confidence separates right estimates from wrong ones (AUROC >= 0.9);
//   - clips with nothing to align (silence, no motion, unrelated audio) below min_confidence.
// Prints the totals and one table per parameter (markdown, as in docs/video.md).
//
//   node --import tsx scripts/eval-av-sync.ts [--seeds 1,2,3] [--cases 60]
import { pathToFileURL } from 'node:url';
import { audioOnsetEnvelope, estimateAvOffset } from '../stages/align/av-sync.ts';
import { videoSourceSchema } from '../schemas/video-config.ts';
import { renderSyncCase, SAMPLE_RATE, syncFamily, type SyncCaseParams } from './make-av-sync-fixtures.ts';

export interface SyncOutcome {
  params: SyncCaseParams;
  alignable: boolean;
  offsetMs: number;
  confidence: number;
  /** Alignable and within ±1 frame of the true delay. */
  right: boolean;
  /** Confidence at or above the default min_confidence. */
  trusted: boolean;
}

export const VSHIFT = 15;

export function evaluateSync(cases: SyncCaseParams[]): SyncOutcome[] {
  const minConfidence = videoSourceSchema.parse({ kind: 'video', path: '.' }).sync.min_confidence;
  return cases.map((params) => {
    const c = renderSyncCase(params, VSHIFT);
    const onsets = audioOnsetEnvelope(c.pcm, SAMPLE_RATE, params.fps);
    const r = estimateAvOffset({ visual: c.motion, structure: c.structure, audio: onsets, audioLead: c.leadFrames, fps: params.fps, vshift: VSHIFT });
    const right = c.alignable && params.delayMs !== null && Math.abs(r.offsetMs - params.delayMs) <= 1000 / params.fps + 1e-6;
    return { params, alignable: c.alignable, offsetMs: r.offsetMs, confidence: r.confidence, right, trusted: r.confidence >= minConfidence };
  });
}

/** Probability that a random right estimate has higher confidence than a random wrong one (ties count half). */
export function auroc(outcomes: SyncOutcome[]): number {
  const right = outcomes.filter((o) => o.right).map((o) => o.confidence);
  const wrong = outcomes.filter((o) => !o.right).map((o) => o.confidence);
  if (right.length === 0 || wrong.length === 0) return NaN;
  let sum = 0;
  for (const a of right) for (const b of wrong) sum += a > b ? 1 : a === b ? 0.5 : 0;
  return sum / (right.length * wrong.length);
}

export interface SyncSummary {
  clips: number;
  alignable: number;
  alignableRight: number;
  /** Clips with nothing to align. */
  empty: number;
  emptyTrusted: number;
  /** Wrong estimates (incl. empty clips) that were trusted. */
  wrongTrusted: number;
  wrong: number;
  rightTrusted: number;
  auroc: number;
}

export function summariseSync(outcomes: SyncOutcome[]): SyncSummary {
  const alignable = outcomes.filter((o) => o.alignable);
  const empty = outcomes.filter((o) => !o.alignable);
  const wrong = outcomes.filter((o) => !o.right);
  return {
    clips: outcomes.length,
    alignable: alignable.length,
    alignableRight: alignable.filter((o) => o.right).length,
    empty: empty.length,
    emptyTrusted: empty.filter((o) => o.trusted).length,
    wrong: wrong.length,
    wrongTrusted: wrong.filter((o) => o.trusted).length,
    rightTrusted: outcomes.filter((o) => o.right && o.trusted).length,
    auroc: auroc(outcomes),
  };
}

const pct = (a: number, b: number) => (b === 0 ? '–' : `${((100 * a) / b).toFixed(1)} %`);
const HEADER = '| value | clips | alignable within ±1 frame | nothing to align, yet trusted | wrong but trusted | right and trusted | AUROC |\n| --- | --- | --- | --- | --- | --- | --- |';
function row(label: string, s: SyncSummary): string {
  return `| ${label} | ${s.clips} | ${s.alignableRight}/${s.alignable} (${pct(s.alignableRight, s.alignable)}) | ${s.emptyTrusted}/${s.empty} | ${s.wrongTrusted}/${s.wrong} | ${s.rightTrusted}/${s.alignableRight} | ${Number.isNaN(s.auroc) ? '–' : s.auroc.toFixed(3)} |`;
}

export function syncTables(outcomes: SyncOutcome[]): string {
  const parts = [`**All clips**\n\n${HEADER}\n${row('all', summariseSync(outcomes))}`];
  const groups: [string, (p: SyncCaseParams) => string][] = [
    ['frame rate', (p) => String(p.fps)],
    ['clip kind', (p) => p.kind],
    ['events between frames', (p) => String(p.betweenFrames)],
    ['audio noise σ', (p) => String(p.noise)],
    ['|delay| (frames)', (p) => {
      if (p.delayMs === null) return 'unrelated';
      const f = Math.abs((p.delayMs * p.fps) / 1000);
      return f === 0 ? '0' : f <= 3 ? '(0, 3]' : f <= 6 ? '(3, 6]' : '(6, 10]';
    }],
  ];
  for (const [name, key] of groups) {
    const values = [...new Set(outcomes.map((o) => key(o.params)))].sort();
    parts.push(`**${name}**\n\n${HEADER}\n${values.map((v) => row(v, summariseSync(outcomes.filter((o) => key(o.params) === v)))).join('\n')}`);
  }
  return parts.join('\n\n');
}

async function main(argv: string[]): Promise<void> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) flags.set(argv[i].replace(/^--/, ''), argv[i + 1]);
  const seeds = (flags.get('seeds') ?? '1,2,3').split(',').map(Number);
  const outcomes = evaluateSync(syncFamily({ seeds, casesPerSeed: Number(flags.get('cases') ?? 60) }));
  if (flags.get('misses')) {
    for (const o of outcomes) if (o.right !== o.trusted) process.stdout.write(`${o.right ? 'right, untrusted' : 'wrong, trusted'} ${JSON.stringify(o.params)} -> ${o.offsetMs.toFixed(0)} ms conf ${o.confidence.toFixed(3)}\n`);
  }
  process.stdout.write(`${syncTables(outcomes)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
