// The report's video section: how well each clip's audio is in sync with its picture (offset
// and confidence histograms, and the worst clips as filmstrips with the motion and audio-onset
// signals drawn under the frames), and, when narration alignment ran, a timeline of sentences
// at their original and aligned times. Reads the stats named in VIDEO_STATS; the thresholds
// drawn on the charts come from the run's config in the manifest.
import type { Manifest } from '../schemas/manifest.ts';
import type { Example, RunStatsJSON } from '../core/stats.ts';
import { VIDEO_STATS } from '../schemas/video.ts';
import type { ClaimedStats } from './claimed-stats.ts';
import { histogramBlock } from './distribution-blocks.ts';
import { esc, fmtInt, fmtNum, truncate } from './html-text.ts';
import { stageFunnelTable } from './html-table.ts';
import { safeThumb } from '../stages/decode/thumbnails.ts';
import { syncCurveSvg } from './sync-curve.ts';

interface SyncThresholds {
  maxAbsOffsetMs?: number;
  minConfidence?: number;
  correct?: boolean;
}

function thresholdsOf(manifest: Manifest): SyncThresholds {
  const cfg = manifest.config as { source?: { sync?: Record<string, unknown> } } | null | undefined;
  const sync = cfg?.source?.sync;
  if (typeof sync !== 'object' || sync === null) return {};
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  return { maxAbsOffsetMs: num(sync.max_abs_offset_ms), minConfidence: num(sync.min_confidence), correct: sync.correct === true };
}

/** subtitles.visual_min_score: where a picture match starts to count as re-timing evidence. */
function visualMinScore(manifest: Manifest): number[] {
  const cfg = manifest.config as { source?: { subtitles?: { retime?: unknown; visual_min_score?: unknown } } } | null | undefined;
  const sub = cfg?.source?.subtitles;
  return sub?.retime === true && typeof sub.visual_min_score === 'number' ? [sub.visual_min_score] : [];
}

const HOW_TO_READ = `<div class="howto">
<p><b>How to read this section.</b> Each clip's audio offset was measured from onsets: visual
onsets (rises of motion energy, the mean change between consecutive frames; rises while outlines
vanish count less) were correlated with audio onsets (rises of the band spectrum, the spectral
flux) at every shift of a few frames either way; the <b>offset</b> is the shift where they match
best, refined to a fraction of a frame (positive: the audio is late), the <b>confidence</b>
(0 to 1) how far that correlation peak stands above the next-best one, at least two frames away. A well-synced corpus piles up
at offset 0 with high confidence; a pile elsewhere is a systematic delay (a muxing or encoder
offset), low confidence means the clip has too few shared events to tell (talking heads without
visible motion, music over stills), not that it is out of sync.</p>
<p>The <b>worst clips</b> are drawn as a filmstrip with the two signals under it:
<span style="color:#3b6fb6">■</span> motion energy, <span style="color:#b8402f">■</span> audio onsets,
both scaled to their own maximum. In a synced clip the peaks line up; in a delayed one the red
peaks follow (or precede) the blue ones by the offset. Under it, the <b>sync curve</b>: the onset
correlation at every shift tried, with the chosen offset as a dashed red line. A sure estimate
is one sharp peak under the line; a flat curve or a second peak nearly as high is why the
confidence is low. The <b>weakest kept clips</b> are the kept clips with the lowest confidence:
where the kept data's sync is least certain. Kept and dropped clips are both counted.</p>
</div>`;

export function videoSection(stats: RunStatsJSON, manifest: Manifest): { html: string; claimed: ClaimedStats } | null {
  const S = VIDEO_STATS;
  const histograms = new Set([S.offsetHistogram, S.confidenceHistogram, S.narrationShift, S.narrationScore, S.retimeShift, S.retimeGain].filter((n) => stats.histograms?.[n]));
  const worst = new Set([S.worstOffset, S.worstConfidence, S.worstConfidenceKept].filter((n) => stats.worst?.[n]));
  const narration = stats.examples?.[S.narration];
  const retime = stats.examples?.[S.retime];
  const retimeCounts = stats.counters?.[S.retimeEvidence];
  if (!histograms.size && !worst.size && !narration && !retime && !retimeCounts) return null;
  const t = thresholdsOf(manifest);
  const parts = [HOW_TO_READ, overview(stats)];

  parts.push('<h3>Audio-visual offset</h3>');
  const offsets = stats.histograms?.[S.offsetHistogram];
  if (offsets) {
    const cuts = t.maxAbsOffsetMs === undefined || t.correct ? [] : [-t.maxAbsOffsetMs, t.maxAbsOffsetMs];
    parts.push(histogramBlock(S.offsetHistogram, offsets, cuts, `offset, ms (positive: audio late)${t.correct ? '; offsets were corrected' : ''}`));
  } else parts.push('<p class="empty">No clip was checked for sync (no audio, or sync.enabled is false).</p>');
  const confidence = stats.histograms?.[S.confidenceHistogram];
  if (confidence) parts.push(histogramBlock(S.confidenceHistogram, confidence, t.minConfidence ? [t.minConfidence] : [], 'confidence: the correlation peak over the next-best one at least two frames away'));
  const weakest = stats.worst?.[S.worstConfidenceKept];
  if (weakest) {
    parts.push('<h3>Weakest kept clips</h3>');
    parts.push(
      `<div class="examples worst" id="worst-video-lowest-av-confidence-kept"><h3>${esc(S.worstConfidenceKept)} <small>the ${weakest.items.length} kept clips with the lowest sync confidence, lowest first (ties by id), each with its sync curve</small></h3>` +
        (weakest.items.length ? `<div class="grid">${weakest.items.map((e) => clipCard(e.item)).join('')}</div>` : '<p class="empty">No clip was kept.</p>') +
        '</div>',
    );
  }

  const worstShown = [...worst].filter((n) => n !== S.worstConfidenceKept);
  if (worstShown.length) {
    parts.push('<h3>Worst clips</h3>');
    const described: Record<string, string> = {
      [S.worstOffset]: 'largest |offset|, the more confident first; kept and dropped clips',
      [S.worstConfidence]: 'lowest confidence; kept and dropped clips',
    };
    for (const name of worstShown.sort()) {
      const set = stats.worst[name];
      parts.push(`<div class="examples worst"><h3>${esc(name)} <small>${esc(described[name] ?? '')}</small></h3><div class="grid">${set.items.map((e) => clipCard(e.item)).join('')}</div></div>`);
    }
  }

  if (narration) {
    parts.push('<h3>Narration alignment</h3>');
    const shift = stats.histograms?.[S.narrationShift];
    if (shift) parts.push(histogramBlock(S.narrationShift, shift, [], 'aligned − original sentence start, s'));
    const score = stats.histograms?.[S.narrationScore];
    if (score) parts.push(histogramBlock(S.narrationScore, score, visualMinScore(manifest), 'narration score: mean similarity of a sentence over its matched frames (alignable sentences)'));
    parts.push(
      '<p class="legend"><span style="color:#9aa3ad">■</span> original subtitle time <span style="color:#2e8b57">■</span> aligned time <span style="color:#b8402f">■</span> not alignable (kept at its original time)</p>',
    );
    parts.push(narration.items.length ? narration.items.map((e) => sentenceTimeline(e.item)).join('\n') : '<p class="empty">no videos</p>');
  }
  if (retime || retimeCounts) parts.push(retimeBlock(stats));
  return { html: parts.join('\n'), claimed: { histograms, sketches: new Set(), counters: new Set(retimeCounts ? [S.retimeEvidence] : []), worst } };
}

const EVIDENCE: [string, string][] = [
  ['speech', 'speech: re-timed to the voice in the audio track'],
  ['both', 'both: speech and pictures agree'],
  ['visual', 'visual: pictures only (no speech matched)'],
  ['none', 'none: neither supports the cue; not moved'],
];

/** subtitles.retime: cues by evidence (the unsupported ones counted), the shift histogram, per-video timelines with the speech found. */
function retimeBlock(stats: RunStatsJSON): string {
  const S = VIDEO_STATS;
  const counts = stats.counters?.[S.retimeEvidence] ?? {};
  const total = EVIDENCE.reduce((a, [k]) => a + (counts[k] ?? 0), 0);
  const rows = EVIDENCE.map(([k, label]) => `<tr><td>${esc(label)}</td><td class="num">${fmtInt(counts[k] ?? 0)}</td><td class="num">${total ? ((100 * (counts[k] ?? 0)) / total).toFixed(1) : '0.0'} %</td></tr>`).join('');
  const parts = ['<h3>Subtitle re-timing</h3>', `<table><thead><tr><th>evidence</th><th>cues</th><th>share</th></tr></thead><tbody>${rows}</tbody></table>`];
  if (counts.videos_without_speech) parts.push(`<p class="muted">${fmtInt(counts.videos_without_speech)} videos with subtitles had no speech found in their audio.</p>`);
  const shift = stats.histograms?.[S.retimeShift];
  if (shift) parts.push(histogramBlock(S.retimeShift, shift, [], 're-timed − original cue start, s (moved cues)'));
  const gain = stats.histograms?.[S.retimeGain];
  if (gain) parts.push(histogramBlock(S.retimeGain, gain, [], 'speech-match gain of cues re-timed by the speech (1: the voice starts and ends where the shifted cue does)'));
  const examples = stats.examples?.[S.retime];
  if (examples?.items.length) {
    parts.push('<p class="legend"><span style="color:#3b6fb6">■</span> speech found <span style="color:#9aa3ad">■</span> original cue time <span style="color:#2e8b57">■</span> re-timed <span style="color:#b8402f">■</span> not supported (kept at its original time)</p>');
    parts.push(examples.items.map((e) => sentenceTimeline(e.item)).join('\n'));
  }
  return parts.join('\n');
}

/** Clips through each video stage and what each dropped. */
function overview(stats: RunStatsJSON): string {
  return stageFunnelTable(stats, (stage) => stage.startsWith('video_') || stage === 'av_sync' || stage.startsWith('narration') || stage === 'subtitle_retime', 'Probe and subtitles count videos; the later stages count clips.');
}

const STRIP_W = 384;
const SIGNAL_H = 56;
const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const numbers = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)) : []);
const r1 = (x: number) => String(Math.round(x * 10) / 10);

/** A clip's card: its filmstrip with the motion and onset signals under it, then the verdict. */
function clipCard(e: Example): string {
  const str = (k: string) => (typeof e[k] === 'string' ? (e[k] as string) : '');
  return (
    '<figure class="card" style="grid-column: span 2">' +
    filmstripSvg(e) +
    syncCurveOf(e) +
    '<figcaption>' +
    `<p class="caption">${esc(truncate(str('caption'), 300))}</p>` +
    (e.reason !== undefined ? `<p class="verdict">${esc(str('stage'))} · <b>${esc(str('reason'))}</b></p><p class="detail">${esc(truncate(str('detail'), 300))}</p>` : `<p class="verdict">${esc(str('verdict'))}</p>`) +
    `<p class="id" title="${esc(str('source'))}">${esc(truncate(str('id'), 80))}</p>` +
    '</figcaption></figure>'
  );
}

/** The clip's correlation at every shift with the chosen offset marked, where the example recorded it. */
function syncCurveOf(e: Example): string {
  const fps = num(e.analysis_fps);
  const offsetMs = num(e.offset_ms);
  if (fps === undefined || offsetMs === undefined) return '';
  return syncCurveSvg({ distances: numbers(e.distances), fps, offsetMs, confidence: num(e.confidence) });
}

function filmstripSvg(e: Example): string {
  const duration = num(e.duration) ?? 0;
  const frames = (Array.isArray(e.filmstrip) ? e.filmstrip : []).flatMap((f) => {
    const img = safeThumb((f as { thumb?: unknown })?.thumb);
    const time = num((f as { time?: unknown })?.time);
    return img && time !== undefined ? [{ img, time }] : [];
  });
  const slot = frames.length ? STRIP_W / frames.length : STRIP_W;
  const aspect = frames[0]?.img.width && frames[0].img.height ? frames[0].img.height / frames[0].img.width : 0.75;
  const frameH = Math.round((slot - 2) * aspect);
  const height = frameH + 8 + SIGNAL_H + 14;
  const parts = [`<svg viewBox="0 0 ${STRIP_W} ${height}" width="${STRIP_W}" height="${height}" role="img" aria-label="filmstrip with motion and audio onset signals" style="display:block;max-width:100%;height:auto;font-size:9px">`];
  frames.forEach((f, i) => {
    parts.push(`<image href="${esc(f.img.uri)}" x="${r1(i * slot + 1)}" y="0" width="${r1(slot - 2)}" height="${frameH}" preserveAspectRatio="xMidYMid slice"/>`);
    parts.push(`<text x="${r1(i * slot + 3)}" y="${frameH - 3}" fill="#fff" stroke="#000" stroke-width="2" paint-order="stroke">${esc(fmtNum(f.time))} s</text>`);
  });
  const top = frameH + 8;
  parts.push(`<rect x="0" y="${top}" width="${STRIP_W}" height="${SIGNAL_H}" fill="#f4f6f9"/>`);
  const polyline = (values: number[], colour: string) => {
    if (values.length < 2) return '';
    const pts = values.map((v, i) => `${r1((i / (values.length - 1)) * STRIP_W)},${r1(top + SIGNAL_H - 2 - Math.max(0, Math.min(1, v)) * (SIGNAL_H - 6))}`).join(' ');
    return `<polyline points="${pts}" fill="none" stroke="${colour}" stroke-width="1.3"/>`;
  };
  parts.push(polyline(numbers(e.motion), '#3b6fb6'), polyline(numbers(e.onsets), '#b8402f'));
  const offset = num(e.offset_ms);
  parts.push(`<text x="2" y="${top + SIGNAL_H + 11}" fill="#5c6670">0 s</text><text x="${STRIP_W - 2}" y="${top + SIGNAL_H + 11}" text-anchor="end" fill="#5c6670">${esc(fmtNum(duration))} s</text>`);
  if (offset !== undefined) parts.push(`<text x="${STRIP_W / 2}" y="${top + SIGNAL_H + 11}" text-anchor="middle" fill="#1d232b">offset ${offset >= 0 ? '+' : ''}${esc(fmtNum(offset))} ms, confidence ${esc(fmtNum(num(e.confidence) ?? NaN))}</text>`);
  parts.push('</svg>');
  return parts.join('');
}

interface TimelineSentence {
  text: string;
  start: number;
  end: number;
  alignedStart: number;
  alignedEnd: number;
  score: number | undefined;
  alignable: boolean;
  evidence?: string;
}

function sentencesOf(e: Example): TimelineSentence[] {
  const list = Array.isArray(e.sentences) ? e.sentences : [];
  return list.flatMap((raw) => {
    const s = raw as Record<string, unknown>;
    const [start, end, as, ae] = [num(s.start), num(s.end), num(s.aligned_start), num(s.aligned_end)];
    if (start === undefined || end === undefined || as === undefined || ae === undefined) return [];
    return [{ text: String(s.text ?? ''), start, end, alignedStart: as, alignedEnd: ae, score: num(s.score), alignable: s.alignable === true, ...(typeof s.evidence === 'string' ? { evidence: s.evidence } : {}) }];
  });
}

const TIMELINE_W = 720;
const LABEL_W = 220;
const ROW_H = 18;
/** Sentences drawn per video; the rest are counted. */
const MAX_ROWS = 40;

/** One row per sentence: its original span (grey) above its aligned span (green, red if not alignable). */
function sentenceTimeline(e: Example): string {
  const sentences = sentencesOf(e);
  const title = `<h4 style="margin:14px 0 4px">${esc(truncate(String(e.source ?? e.id ?? ''), 120))} <small class="muted">${fmtInt(sentences.length)} sentences, ${fmtInt(sentences.filter((s) => s.alignable).length)} alignable</small></h4>`;
  if (!sentences.length) return title + '<p class="empty">no sentences</p>';
  const shown = sentences.slice(0, MAX_ROWS);
  const duration = num(e.duration) ?? Math.max(...sentences.map((s) => Math.max(s.end, s.alignedEnd)));
  const plotW = TIMELINE_W - LABEL_W - 10;
  const x = (t: number) => LABEL_W + (Math.max(0, Math.min(duration, t)) / Math.max(duration, 1e-9)) * plotW;
  const speech = (Array.isArray(e.speech) ? e.speech : []).flatMap((p) => (Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number' ? [[p[0], p[1]] as [number, number]] : []));
  const lane = speech.length ? 10 : 0;
  const height = shown.length * ROW_H + 22 + lane;
  const parts = [`<svg viewBox="0 0 ${TIMELINE_W} ${height}" width="${TIMELINE_W}" height="${height}" role="img" aria-label="sentence timeline, original and aligned" style="display:block;max-width:100%;height:auto;font-size:10px">`];
  for (const [a, b] of speech) parts.push(`<rect x="${r1(x(a))}" y="1" width="${r1(Math.max(1, x(b) - x(a)))}" height="6" fill="#3b6fb6"><title>speech ${a.toFixed(2)}-${b.toFixed(2)} s</title></rect>`);
  shown.forEach((s, i) => {
    const y = i * ROW_H + 2 + lane;
    const tip = `${s.text}\noriginal ${s.start.toFixed(2)}-${s.end.toFixed(2)} s; aligned ${s.alignedStart.toFixed(2)}-${s.alignedEnd.toFixed(2)} s${s.score === undefined ? '' : `; score ${s.score.toFixed(3)}`}${s.alignable ? '' : '; not alignable'}${s.evidence ? `; evidence ${s.evidence}` : ''}`;
    parts.push(`<g><title>${esc(tip)}</title>`);
    parts.push(`<text x="${LABEL_W - 6}" y="${y + 11}" text-anchor="end" fill="#1d232b">${esc(truncate(s.text, 38))}</text>`);
    parts.push(`<rect x="${r1(x(s.start))}" y="${y + 1}" width="${r1(Math.max(1, x(s.end) - x(s.start)))}" height="6" fill="#9aa3ad"/>`);
    parts.push(`<rect x="${r1(x(s.alignedStart))}" y="${y + 8}" width="${r1(Math.max(1, x(s.alignedEnd) - x(s.alignedStart)))}" height="6" fill="${s.alignable ? '#2e8b57' : '#b8402f'}"/>`);
    parts.push('</g>');
  });
  const axisY = shown.length * ROW_H + 6 + lane;
  parts.push(`<line x1="${LABEL_W}" y1="${axisY}" x2="${LABEL_W + plotW}" y2="${axisY}" stroke="#7c858f"/>`);
  for (let k = 0; k <= 4; k++) {
    const t = (duration * k) / 4;
    parts.push(`<text x="${r1(x(t))}" y="${axisY + 12}" text-anchor="middle" fill="#5c6670">${esc(fmtNum(Number(t.toFixed(1))))} s</text>`);
  }
  parts.push('</svg>');
  const more = sentences.length > shown.length ? `<p class="muted">${fmtInt(sentences.length - shown.length)} more sentences not drawn.</p>` : '';
  return title + parts.join('') + more;
}
