// A clip's sync curve: the onset correlation at every whole-frame shift the av_sync stage tried
// (1 − the recorded distance), with the chosen, sub-frame refined offset marked. A confident
// clip has one sharp peak; a weak one a flat curve or a second peak nearly as high, which is
// what an auditor should see next to its confidence.
import { esc, fmtNum } from './html-text.ts';

const W = 384;
const H = 104;
const PAD_L = 34;
const PAD_R = 8;
const PAD_T = 14;
const PAD_B = 22;

const r1 = (x: number) => String(Math.round(x * 10) / 10);

export interface SyncCurveInput {
  /** Distance (1 − correlation) per shift, shifts −vshift..+vshift in analysis frames. */
  distances: number[];
  /** Analysis frames per second: one shift is 1000 / fps ms. */
  fps: number;
  /** The chosen offset, ms (positive: audio late). */
  offsetMs: number;
  confidence?: number;
}

/** The inline SVG, or '' when the curve has fewer than three shifts or no frame rate. */
export function syncCurveSvg(c: SyncCurveInput): string {
  const n = c.distances.length;
  if (n < 3 || !(c.fps > 0) || c.distances.some((d) => !Number.isFinite(d))) return '';
  const vshift = (n - 1) / 2;
  const frameMs = 1000 / c.fps;
  const corr = c.distances.map((d) => 1 - d);
  const lo = Math.min(0, ...corr);
  const hi = Math.max(lo + 1e-6, ...corr);
  const plotW = W - PAD_L - PAD_R;
  const plotH = H - PAD_T - PAD_B;
  const x = (shiftFrames: number) => PAD_L + ((shiftFrames + vshift) / (2 * vshift)) * plotW;
  const y = (v: number) => PAD_T + (1 - (v - lo) / (hi - lo)) * plotH;
  const label = `sync curve: onset correlation at shifts of ±${fmtNum(vshift * frameMs)} ms, chosen offset ${c.offsetMs >= 0 ? '+' : ''}${fmtNum(c.offsetMs)} ms`;
  const parts = [`<svg class="sync-curve" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(label)}" style="display:block;max-width:100%;height:auto;font-size:9px">`];
  parts.push(`<rect x="${PAD_L}" y="${PAD_T}" width="${plotW}" height="${plotH}" fill="#f4f6f9"/>`);
  if (lo < 0) parts.push(`<line x1="${PAD_L}" y1="${r1(y(0))}" x2="${PAD_L + plotW}" y2="${r1(y(0))}" stroke="#c9ced4"/>`);
  const pts = corr.map((v, i) => `${r1(x(i - vshift))},${r1(y(v))}`).join(' ');
  parts.push(`<polyline points="${pts}" fill="none" stroke="#3b6fb6" stroke-width="1.3"/>`);
  corr.forEach((v, i) => parts.push(`<circle cx="${r1(x(i - vshift))}" cy="${r1(y(v))}" r="1.8" fill="#3b6fb6"><title>shift ${fmtNum((i - vshift) * frameMs)} ms: correlation ${fmtNum(v)}</title></circle>`));
  // The chosen offset, clamped to the searched range (a refined offset stays within it).
  const chosen = Math.max(-vshift, Math.min(vshift, c.offsetMs / frameMs));
  const cx = r1(x(chosen));
  parts.push(`<line class="chosen-offset" x1="${cx}" y1="${PAD_T}" x2="${cx}" y2="${PAD_T + plotH}" stroke="#b8402f" stroke-width="1.5" stroke-dasharray="3 2"><title>chosen offset ${fmtNum(c.offsetMs)} ms</title></line>`);
  const conf = c.confidence === undefined ? '' : `, confidence ${fmtNum(c.confidence)}`;
  parts.push(`<text x="${PAD_L + plotW / 2}" y="10" text-anchor="middle" fill="#1d232b">offset ${c.offsetMs >= 0 ? '+' : ''}${esc(fmtNum(c.offsetMs))} ms${esc(conf)}</text>`);
  parts.push(`<text x="${PAD_L - 3}" y="${r1(y(hi) + 3)}" text-anchor="end" fill="#5c6670">${esc(fmtNum(Number(hi.toFixed(2))))}</text>`);
  parts.push(`<text x="${PAD_L - 3}" y="${r1(y(lo) + 3)}" text-anchor="end" fill="#5c6670">${esc(fmtNum(Number(lo.toFixed(2))))}</text>`);
  for (const s of [-vshift, 0, vshift]) parts.push(`<text x="${r1(x(s))}" y="${H - 8}" text-anchor="middle" fill="#5c6670">${esc(fmtNum(Math.round(s * frameMs)))} ms</text>`);
  parts.push('</svg>');
  return parts.join('');
}
