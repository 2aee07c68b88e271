// Text helpers for the report: everything shown comes from the run's data (captions scraped
// from the web, error messages, URLs), so every string goes through `esc` before it reaches
// the page, and numbers are formatted without the host's locale so the page is byte-stable.

/** Escapes text for HTML element content and double- or single-quoted attribute values. */
export function esc(value: unknown): string {
  return String(value)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Integer with thin-space-free thousands separators: 1234567 -> "1,234,567". */
export function fmtInt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const sign = n < 0 ? '-' : '';
  const digits = String(Math.round(Math.abs(n)));
  return sign + digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** A measured value with four significant digits; integers stay integers. */
export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n) && Math.abs(n) < 1e15) return fmtInt(n);
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e7)) return n.toExponential(3);
  return String(Number(n.toPrecision(4)));
}

export function fmtPct(part: number, whole: number): string {
  if (!(whole > 0)) return '–';
  return `${((100 * part) / whole).toFixed(1)}%`;
}

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) return `${fmtInt(n)} B`;
  let v = n;
  let u = 0;
  while (v >= 1024 && u < BYTE_UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${BYTE_UNITS[u]}`;
}

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m} min ${Math.round(s - m * 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Cuts long text (captions, error details) so one sample cannot blow up the page. */
export function truncate(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : chars.slice(0, max - 1).join('') + '…';
}

/** An id usable in `id=` and `href="#…"`: derived from a name, stable across runs. */
export function anchorId(prefix: string, name: string): string {
  return `${prefix}-${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
}

/** A reason or column code that may wrap only after its underscores (never mid-word). */
export function codeHtml(code: string): string {
  return `<code>${esc(code).replace(/_/g, '_<wbr>')}</code>`;
}
