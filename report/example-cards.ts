// Example cards: a sample of kept and dropped items per category, so an auditor can see what
// a filter actually removed. Every field comes from the data and is escaped; a thumb is shown
// only when it is an inline raster data URI; boxes are drawn over the thumbnail in its pixels.
import type { BottomKJSON } from '../core/sketch/bottom-k.ts';
import type { TopKJSON } from '../core/sketch/top-k.ts';
import type { Example } from '../core/stats.ts';
import { anchorId, codeHtml, esc, fmtNum, truncate } from './html-text.ts';
import { safeThumb, type InlineImage } from '../stages/decode/thumbnails.ts';
import { parseDroppedSetName, stratifiedDropped } from './example-sets.ts';

/** Keys with a conventional meaning; any other scalar field is listed under the card. */
const KNOWN_KEYS = new Set(['id', 'source', 'caption', 'thumb', 'reason', 'detail', 'stage', 'boxes', 'kind']);
/** Displayed size of the thumbnail's longest side, in CSS pixels. */
const THUMB_DISPLAY = 176;

export interface ExampleBox {
  label: string;
  box: [number, number, number, number];
  score?: number;
}

/** Boxes with four finite coordinates; malformed entries are skipped (they come from data). */
function parseBoxes(value: unknown): ExampleBox[] {
  if (!Array.isArray(value)) return [];
  const out: ExampleBox[] = [];
  for (const b of value) {
    if (typeof b !== 'object' || b === null) continue;
    const { label, box, score } = b as Record<string, unknown>;
    if (!Array.isArray(box) || box.length !== 4 || !box.every((v) => typeof v === 'number' && Number.isFinite(v))) continue;
    const [x0, y0, x1, y1] = box as number[];
    out.push({
      label: label === undefined ? '' : String(label),
      box: [Math.min(x0, x1), Math.min(y0, y1), Math.max(x0, x1), Math.max(y0, y1)],
      ...(typeof score === 'number' && Number.isFinite(score) ? { score } : {}),
    });
  }
  return out;
}

function thumbHtml(img: InlineImage | undefined, rawThumb: unknown, boxes: ExampleBox[], alt: string): string {
  if (!img) {
    const why = rawThumb === undefined ? 'no picture: the item had no readable image when it was recorded' : 'picture refused: not an inline raster image';
    return `<div class="thumb none">${esc(why)}</div>`;
  }
  const { width, height } = img;
  if (!width || !height) {
    const note = boxes.length ? `<p class="note">${boxes.length} box(es) not drawn: thumbnail size unknown</p>` : '';
    return `<div class="thumb"><img src="${esc(img.uri)}" alt="${esc(alt)}"></div>${note}`;
  }
  const scale = THUMB_DISPLAY / Math.max(width, height);
  const dw = Math.round(width * scale);
  const dh = Math.round(height * scale);
  if (!boxes.length) return `<div class="thumb"><img src="${esc(img.uri)}" width="${dw}" height="${dh}" alt="${esc(alt)}"></div>`;
  // Boxes carry only their number (a badge in the corner, which cannot overlap other text much);
  // the phrases are listed under the picture with the same colour and number.
  const badge = Math.max(6, Math.round(Math.max(width, height) / 9));
  const shapes = boxes.map((b, i) => {
    const [x0, y0, x1, y1] = b.box;
    const tag = b.label + (b.score === undefined ? '' : ` ${fmtNum(b.score)}`);
    const bx = Math.min(Math.max(0, x0), width - badge);
    const by = Math.min(Math.max(0, y0), height - badge);
    return (
      `<g class="box box-${i % 6}"><rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}"><title>${esc(tag)}</title></rect>` +
      `<rect class="badge" x="${bx}" y="${by}" width="${badge}" height="${badge}"/><text x="${bx + badge / 2}" y="${by + badge * 0.8}" font-size="${Math.round(badge * 0.85)}" text-anchor="middle">${i + 1}</text></g>`
    );
  });
  const keys = boxes.map((b, i) => `<li class="box-key box-${i % 6}"><span class="key">${i + 1}</span>${esc(truncate(b.label, 60))}${b.score === undefined ? '' : ` <span class="muted">${esc(fmtNum(b.score))}</span>`}</li>`);
  return (
    `<div class="thumb"><svg class="boxed" viewBox="0 0 ${width} ${height}" width="${dw}" height="${dh}" role="img" aria-label="${esc(alt)}">` +
    `<image href="${esc(img.uri)}" x="0" y="0" width="${width}" height="${height}"/>${shapes.join('')}</svg></div>` +
    `<ol class="boxes-key" title="phrase: similarity of the phrase to its region">${keys.join('')}</ol>`
  );
}

function scalarText(v: unknown): string | undefined {
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return truncate(v, 160);
  if (typeof v === 'boolean') return String(v);
  return undefined;
}

function exampleCard(example: Example): string {
  const str = (k: string) => (typeof example[k] === 'string' ? (example[k] as string) : example[k] === undefined ? '' : String(example[k]));
  const id = str('id');
  const caption = str('caption');
  const boxes = parseBoxes(example.boxes);
  const parts = ['<figure class="card">', thumbHtml(safeThumb(example.thumb), example.thumb, boxes, truncate(caption || id, 120))];
  parts.push('<figcaption>');
  if (caption) parts.push(`<p class="caption">${esc(truncate(caption, 400))}</p>`);
  if (example.reason !== undefined) {
    const where = example.stage !== undefined ? `${str('stage')} · ` : '';
    parts.push(`<p class="verdict">${esc(where)}<b>${esc(str('reason')).replace(/_/g, '_<wbr>')}</b></p>`);
  }
  if (example.detail !== undefined) parts.push(`<p class="detail">${esc(truncate(str('detail'), 300))}</p>`);
  const extras = Object.keys(example)
    .filter((k) => !KNOWN_KEYS.has(k))
    .sort()
    .flatMap((k) => {
      const v = scalarText(example[k]);
      return v === undefined ? [] : [`<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`];
    });
  if (extras.length) parts.push(`<dl>${extras.join('')}</dl>`);
  parts.push(`<p class="id" title="${esc(str('source'))}">${esc(truncate(id, 80))}</p>`);
  parts.push('</figcaption></figure>');
  return parts.join('');
}

/**
 * One titled grid per example set, sets sorted by name; the per-reason dropped sets of a kind
 * become one "dropped" grid stratified over the reasons (example-sets.ts). `dropCount` gives a
 * reason's drop count (from the stage stats), `budget` the dropped cards per kind.
 */
export function exampleSections(examples: Record<string, BottomKJSON<Example>>, dropCount: (stage: string, reason: string) => number = () => 0, budget = 12): string {
  const names = Object.keys(examples).sort();
  if (!names.length) return '<p class="empty">No examples were recorded.</p>';
  const droppedByKind = new Map<string, { stage: string; reason: string; set: BottomKJSON<Example> }[]>();
  for (const name of names) {
    const d = parseDroppedSetName(name);
    if (d) droppedByKind.set(d.kind, [...(droppedByKind.get(d.kind) ?? []), { stage: d.stage, reason: d.reason, set: examples[name] }]);
  }
  const dropped = [...droppedByKind].map(([kind, sets]) => {
    const strata = stratifiedDropped(sets, dropCount, budget);
    const cards = strata.flatMap((s) => s.items.map((e) => exampleCard(e)));
    const legend = strata.map((s) => `<li><code>${esc(s.stage)}</code> · ${codeHtml(s.reason)}: ${s.items.length} of ${s.count} shown</li>`).join('');
    return (
      `<section class="examples" id="${esc(anchorId('examples', `dropped:${kind}`))}"><h3>dropped: ${esc(kind)} <small>${cards.length} cards over ${strata.length} reasons, each reason in proportion to its count (at least 2), sampled by id hash</small></h3>` +
      `<ul class="strata">${legend}</ul><div class="grid">${cards.join('')}</div></section>`
    );
  });
  return dropped.join('\n') + names
    .filter((name) => !parseDroppedSetName(name))
    .map((name) => {
      const set = examples[name];
      const cards = set.items.map((e) => exampleCard(e.item));
      return (
        `<section class="examples" id="${esc(anchorId('examples', name))}"><h3>${esc(setTitle(name))} <small>${set.items.length} of at most ${set.k}, sampled by id hash</small></h3>` +
        (cards.length ? `<div class="grid">${cards.join('')}</div>` : '<p class="empty">empty</p>') +
        '</section>'
      );
    })
    .join('\n');
}

/**
 * Worst examples (TopK by a value, e.g. the largest registration residual) as card grids, one
 * per set, highest value first. `describe` gives a set's subtitle; `skip` leaves out sets that
 * another section shows. Rendered in <div>s: the page's sections are not nested.
 */
export function worstSections(
  worst: Record<string, TopKJSON<Example>>,
  options: { skip?: ReadonlySet<string>; describe?: (name: string) => string | undefined; showValue?: boolean } = {},
): string {
  const names = Object.keys(worst)
    .filter((n) => !options.skip?.has(n))
    .sort();
  return names
    .map((name) => {
      const set = worst[name];
      // A "lowest" set is ranked by the negated value (TopK keeps the largest): show it as stored.
      const lowest = /(^|[:\s])lowest\s/.test(name);
      const cards = set.items.map((e) => exampleCard(options.showValue === false ? e.item : { ...e.item, ranked_by: lowest ? -e.value : e.value }));
      const what = options.describe?.(name) ?? `${set.items.length} of at most ${set.k}, ${lowest ? 'lowest' : 'highest'} value first`;
      return (
        `<div class="examples worst" id="${esc(anchorId('worst', name))}"><h3>${esc(worstTitle(name))} <small>${esc(what)}</small></h3>` +
        (cards.length ? `<div class="grid">${cards.join('')}</div>` : '<p class="empty">empty</p>') +
        '</div>'
      );
    })
    .join('\n');
}

/** What a sampled set shows, in words: `kept:image_text` is a random sample of kept items. */
function setTitle(name: string): string {
  const m = /^kept:([\w-]+)$/.exec(name);
  return m ? `kept: ${m[1]}, a random sample` : name;
}


/** `kept:lowest score_x` -> what the gallery shows, in words. */
function worstTitle(name: string): string {
  const m = /^(kept|dropped):(lowest|highest) (.+)$/.exec(name);
  if (!m) return name;
  return m[1] === 'kept' ? `kept, nearest the cut: the ${m[2]} ${m[3]} among kept items` : `dropped, nearest the cut: the ${m[2]} ${m[3]} among dropped items`;
}
