// Accuracy of the RGB-D registration check over the synthetic fixture family
// (make-registration-fixtures.ts), measured against the aims the check is built for:
//   - shifted frames: the estimate within ±1 px of the true shift on both axes (>= 95 %);
//   - unshifted frames: never `misregistered` (a confident shift beyond max_registration_shift);
//   - estimates off by more than 1 px: flagged `low_registration_confidence` (>= 90 %).
// Prints the totals and one table per fixture parameter (markdown, as in docs/rgbd.md).
//
//   node --import tsx scripts/eval-rgbd-registration.ts [--seeds 1,2,3] [--cases 40] [--sizes 320x240,640x480]
import { pathToFileURL } from 'node:url';
import { registerDepthToRgb, type RegistrationOptions } from '../stages/align/rgbd-registration.ts';
import { judgeRgbdPair } from '../stages/curate/rgbd-quality.ts';
import { rgbdQualitySchema } from '../schemas/rgbd-config.ts';
import { registrationFamily, renderRegistrationCase, type RegistrationCaseParams } from './make-registration-fixtures.ts';

export interface RegistrationOutcome {
  params: RegistrationCaseParams;
  dx: number;
  dy: number;
  confidence: number;
  margin: number;
  support: number;
  /** max(|dx - true dx|, |dy - true dy|), px. */
  error: number;
  /** The quality stage's verdict with default thresholds (valid ratio and skew not applied). */
  verdict: 'keep' | 'correct' | string;
  ms: number;
}

export interface RegistrationSummary {
  frames: number;
  shifted: number;
  shiftedWithin1: number;
  unshifted: number;
  unshiftedMisregistered: number;
  offByMoreThan1: number;
  offFlagged: number;
  /** Right estimates (within ±1 px) that were flagged all the same (the price of the flags). */
  rightFlagged: number;
  right: number;
  msMean: number;
}

export function evaluateRegistration(cases: RegistrationCaseParams[], options: RegistrationOptions = {}): RegistrationOutcome[] {
  const quality = rgbdQualitySchema.parse({});
  return cases.map((params) => {
    const c = renderRegistrationCase(params);
    const started = performance.now();
    const r = registerDepthToRgb(c.rgb, c.depth, options);
    const ms = performance.now() - started;
    const error = Math.max(Math.abs(r.dx - params.shift.dx), Math.abs(r.dy - params.shift.dy));
    const v = judgeRgbdPair({ skewMs: null, registration: r, validRatio: 1 }, quality);
    return { params, dx: r.dx, dy: r.dy, confidence: r.confidence, margin: r.margin ?? 0, support: r.support ?? 0, error, verdict: typeof v === 'string' ? v : v.reason, ms };
  });
}

const isShifted = (o: RegistrationOutcome) => o.params.shift.dx !== 0 || o.params.shift.dy !== 0;

export function summarise(outcomes: RegistrationOutcome[]): RegistrationSummary {
  const shifted = outcomes.filter(isShifted);
  const unshifted = outcomes.filter((o) => !isShifted(o));
  const off = outcomes.filter((o) => o.error > 1);
  const right = outcomes.filter((o) => o.error <= 1);
  return {
    frames: outcomes.length,
    shifted: shifted.length,
    shiftedWithin1: shifted.filter((o) => o.error <= 1).length,
    unshifted: unshifted.length,
    unshiftedMisregistered: unshifted.filter((o) => o.verdict === 'misregistered').length,
    offByMoreThan1: off.length,
    offFlagged: off.filter((o) => o.verdict === 'low_registration_confidence').length,
    right: right.length,
    rightFlagged: right.filter((o) => o.verdict === 'low_registration_confidence').length,
    msMean: outcomes.reduce((a, o) => a + o.ms, 0) / Math.max(1, outcomes.length),
  };
}

const pct = (a: number, b: number) => (b === 0 ? '–' : `${((100 * a) / b).toFixed(1)} %`);

function row(label: string, s: RegistrationSummary): string {
  return `| ${label} | ${s.frames} | ${s.shiftedWithin1}/${s.shifted} (${pct(s.shiftedWithin1, s.shifted)}) | ${s.unshiftedMisregistered}/${s.unshifted} | ${s.offFlagged}/${s.offByMoreThan1} (${pct(s.offFlagged, s.offByMoreThan1)}) | ${s.rightFlagged}/${s.right} | ${s.msMean.toFixed(1)} |`;
}

const HEADER = '| value | frames | shifted within ±1 px | unshifted misregistered | off > 1 px flagged | right but flagged | ms/frame |\n| --- | --- | --- | --- | --- | --- | --- |';

export function tables(outcomes: RegistrationOutcome[]): string {
  const parts = [`**All frames**\n\n${HEADER}\n${row('all', summarise(outcomes))}`];
  const groups: [string, (p: RegistrationCaseParams) => string][] = [
    ['frame size', (p) => `${p.width}x${p.height}`],
    ['background', (p) => p.background],
    ['slanted surfaces', (p) => String(p.slanted)],
    ['thin objects', (p) => String(p.thin)],
    ['depth noise (x 0.001 z² m)', (p) => String(p.depthNoise)],
    ['colour noise (σ, grey levels)', (p) => String(p.colourNoise)],
    ['holes', (p) => p.holes],
    ['shift', (p) => p.shiftKind],
    ['shift magnitude (px)', (p) => {
      const m = Math.max(Math.abs(p.shift.dx), Math.abs(p.shift.dy));
      return m === 0 ? '0' : m <= 3 ? '(0, 3]' : m <= 6 ? '(3, 6]' : '(6, 10]';
    }],
  ];
  for (const [name, key] of groups) {
    const values = [...new Set(outcomes.map((o) => key(o.params)))].sort();
    parts.push(`**${name}**\n\n${HEADER}\n${values.map((v) => row(v, summarise(outcomes.filter((o) => key(o.params) === v)))).join('\n')}`);
  }
  return parts.join('\n\n');
}

/** Confidence quantiles of right and wrong estimates, for calibrating the cut. */
export function confidenceSpread(outcomes: RegistrationOutcome[]): string {
  const q = (xs: number[], p: number) => (xs.length ? xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))].toFixed(3) : '–');
  const right = outcomes.filter((o) => o.error <= 1).map((o) => o.confidence);
  const wrong = outcomes.filter((o) => o.error > 1).map((o) => o.confidence);
  const line = (name: string, xs: number[]) => `${name} (${xs.length}): p10 ${q(xs, 0.1)}, p50 ${q(xs, 0.5)}, p90 ${q(xs, 0.9)}, max ${q(xs, 1)}`;
  const of = (f: (o: RegistrationOutcome) => number, ok: boolean) => outcomes.filter((o) => (o.error <= 1) === ok).map(f);
  return [
    `confidence of right estimates ${line('', right)}`,
    `confidence of wrong estimates ${line('', wrong)}`,
    `margin of right estimates ${line('', of((o) => o.margin, true))}`,
    `margin of wrong estimates ${line('', of((o) => o.margin, false))}`,
    `support of right estimates ${line('', of((o) => o.support, true))}`,
    `support of wrong estimates ${line('', of((o) => o.support, false))}`,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) flags.set(argv[i].replace(/^--/, ''), argv[i + 1]);
  const seeds = (flags.get('seeds') ?? '1,2,3,4,5').split(',').map(Number);
  const sizes = flags.get('sizes')?.split(',').map((s) => s.split('x').map(Number) as [number, number]);
  const cases = registrationFamily({ seeds, casesPerSeed: Number(flags.get('cases') ?? 40), sizes });
  const outcomes = evaluateRegistration(cases, { maxShift: Number(flags.get('max-shift') ?? 12), ...(flags.has('truncate') ? { truncate: Number(flags.get('truncate')) } : {}) });
  if (flags.get('misses')) {
    for (const o of outcomes) if (o.error > 1 || (o.verdict === 'misregistered' && o.params.shiftKind === 'none')) process.stdout.write(`miss ${JSON.stringify(o.params)} -> (${o.dx}, ${o.dy}) conf ${o.confidence.toFixed(3)} margin ${o.margin.toFixed(3)} support ${o.support.toFixed(2)} ${o.verdict}\n`);
  }
  process.stdout.write(`${tables(outcomes)}\n\n${confidenceSpread(outcomes)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
