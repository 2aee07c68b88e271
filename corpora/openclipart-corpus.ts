// Builds a real-data URL list from Debian's openclipart-svg package: about 7500 clip-art SVGs
// whose RDF metadata (title, description, keywords) was typed by the artists, so the captions
// are real and noisy the way web alt text is (file-name-like titles, author names among the
// keywords, empty descriptions, the same drawing filed under two categories).
//
//   node --import tsx scripts/make-openclipart-corpus.ts OUT_DIR [--count N] [--base-url URL] [--root DIR] [--size PX]
//
// Output: OUT_DIR/images/*.png (serve this folder over HTTP), OUT_DIR/urls.parquet (columns
// url, caption, title, description, keywords, collection, svg; url = BASE_URL/<png name>) and
// OUT_DIR/corpus.json (what was rendered and what was skipped, with the reason). The subset is
// deterministic: SVG paths ordered by the sha1 of their path, so it spreads over categories and
// the same options always pick the same files.
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import pLimit from 'p-limit';
import parquet from 'parquetjs-lite';

/** Where Debian installs the package's SVGs. */
export const OPENCLIPART_ROOT = '/usr/share/openclipart/svg';

export interface OpenclipartOptions {
  /** SVGs to pick (default 300). Some may fail to render; corpus.json lists them. */
  count?: number;
  /** URL prefix of the served images folder (default http://127.0.0.1:8000). */
  baseUrl?: string;
  /** Folder holding the SVG tree (default OPENCLIPART_ROOT). */
  root?: string;
  /** Longest side of the rendered PNGs in pixels (default 256). */
  size?: number;
  /** SVGs rendered at once (default 2). */
  concurrency?: number;
}

export interface SvgMetadata {
  title: string;
  description: string;
  keywords: string[];
}

export interface CorpusRow {
  url: string;
  caption: string;
  title: string;
  description: string;
  keywords: string;
  collection: string;
  svg: string;
}

export interface OpenclipartCorpus {
  dir: string;
  imagesDir: string;
  parquetPath: string;
  rows: CorpusRow[];
  skipped: { svg: string; reason: string }[];
}

/** Relative paths of the regular .svg files under root (links skipped: they repeat files), sorted. */
export async function listSvgFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.svg'))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

/** The deterministic subset: `count` paths in order of sha1(path). */
export function pickSubset(files: string[], count: number): string[] {
  const keyed = files.map((f) => ({ f, k: createHash('sha1').update(f).digest('hex') }));
  keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0));
  return keyed.slice(0, count).map((x) => x.f);
}

/**
 * Title, description and keywords of the work an SVG describes (its cc:Work, without the
 * nested agents whose dc:title is a person or publisher), falling back to the SVG <title>.
 */
export function svgMetadata(svg: string): SvgMetadata {
  const metadata = /<metadata[\s>][\s\S]*?<\/metadata>/i.exec(svg)?.[0] ?? '';
  const work = (/<cc:Work[\s>][\s\S]*?<\/cc:Work>/.exec(metadata)?.[0] ?? metadata).replace(/<cc:Agent[\s>][\s\S]*?<\/cc:Agent>/g, '');
  const text = (tag: string, within: string) => clean(new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`).exec(within)?.[1] ?? '');
  const subject = /<dc:subject[\s>][\s\S]*?<\/dc:subject>/.exec(work)?.[0] ?? '';
  const keywords = [...subject.matchAll(/<rdf:li(?:\s[^>]*)?>([\s\S]*?)<\/rdf:li>/g)].map((m) => clean(m[1])).filter((k) => k !== '');
  const title = text('dc:title', work) || text('title', svg);
  return { title, description: text('dc:description', work), keywords };
}

/** The caption a web page would show: title, then a description that adds something. */
export function captionOf(meta: SvgMetadata): string {
  const parts = [meta.title];
  if (meta.description && meta.description.toLowerCase() !== meta.title.toLowerCase()) parts.push(meta.description);
  const caption = parts.filter((p) => p !== '').join('. ');
  return caption || meta.keywords.join(', ');
}

function clean(s: string): string {
  return decodeXmlEntities(s.replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1').replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

function decodeXmlEntities(s: string): string {
  const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return named[name.toLowerCase()] ?? whole;
  });
}

/** A file name for the PNG of an SVG path: `animals/birds/x.svg` -> `animals-birds-x.png`. */
export function pngNameOf(svgPath: string): string {
  return `${svgPath.replace(/\.svg$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-')}.png`;
}

/** Renders an SVG so its longer side is at most `size` px. Throws when librsvg cannot. */
export async function renderSvg(svg: Buffer, size: number): Promise<Buffer> {
  // SVG sizes are in points at 72 dpi; pick the density that lands near `size`, so a huge
  // canvas is not rasterised at full size first.
  const meta = await sharp(svg, { limitInputPixels: false }).metadata(); // reads the header only
  const longer = Math.max(meta.width ?? 0, meta.height ?? 0);
  if (!(longer > 0)) throw new Error('SVG has no size');
  const density = Math.min(600, Math.max(1, (72 * size) / longer));
  return sharp(svg, { density, limitInputPixels: 50_000_000 })
    .resize(size, size, { fit: 'inside', withoutEnlargement: true })
    .png({ compressionLevel: 9 })
    .timeout({ seconds: 20 })
    .toBuffer();
}

export async function makeOpenclipartCorpus(outDir: string, options: OpenclipartOptions = {}): Promise<OpenclipartCorpus> {
  const root = options.root ?? OPENCLIPART_ROOT;
  const count = options.count ?? 300;
  const size = options.size ?? 256;
  const baseUrl = (options.baseUrl ?? 'http://127.0.0.1:8000').replace(/\/+$/, '');
  const info = await stat(root).catch(() => undefined);
  if (!info?.isDirectory()) throw new Error(`${root} not found: install Debian's openclipart-svg package (apt-get install openclipart-svg)`);

  const imagesDir = path.join(outDir, 'images');
  await rm(imagesDir, { recursive: true, force: true });
  await mkdir(imagesDir, { recursive: true });
  const picked = pickSubset(await listSvgFiles(root), count);
  const limit = pLimit(options.concurrency ?? 2);
  const results = await Promise.all(
    picked.map((svgPath) =>
      limit(async (): Promise<CorpusRow | { svg: string; reason: string }> => {
        try {
          const svg = await readFile(path.join(root, svgPath));
          const meta = svgMetadata(svg.toString('utf8'));
          const png = await renderSvg(svg, size);
          const name = pngNameOf(svgPath);
          await writeFile(path.join(imagesDir, name), png);
          const collection = path.posix.dirname(svgPath);
          return {
            url: `${baseUrl}/${encodeURIComponent(name)}`,
            caption: captionOf(meta),
            title: meta.title,
            description: meta.description,
            keywords: meta.keywords.join(', '),
            collection: collection === '.' ? '' : collection,
            svg: svgPath,
          };
        } catch (err) {
          return { svg: svgPath, reason: `render_failed: ${(err as Error).message.split('\n')[0].slice(0, 300)}` };
        }
      }),
    ),
  );
  const rows = results.filter((r): r is CorpusRow => 'url' in r);
  const skipped = results.filter((r): r is { svg: string; reason: string } => !('url' in r));

  const parquetPath = path.join(outDir, 'urls.parquet');
  const columns = ['url', 'caption', 'title', 'description', 'keywords', 'collection', 'svg'] as const;
  const schema = new parquet.ParquetSchema(Object.fromEntries(columns.map((c) => [c, { type: 'UTF8', compression: 'GZIP' }])));
  await rm(parquetPath, { force: true });
  const writer = await parquet.ParquetWriter.openFile(schema, parquetPath, { rowGroupSize: 1000 });
  for (const row of rows) await writer.appendRow({ ...row });
  await writer.close();
  await writeFile(path.join(outDir, 'corpus.json'), `${JSON.stringify({ root, count, size, baseUrl, rendered: rows.length, skipped }, null, 2)}\n`);
  return { dir: outDir, imagesDir, parquetPath, rows, skipped };
}

export function parseArgs(argv: string[]): { dir: string; opts: OpenclipartOptions } {
  const opts: OpenclipartOptions = {};
  let dir: string | undefined;
  const number = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer`);
    return n;
  };
  const value = (flag: string, v: string | undefined) => {
    if (v === undefined) throw new Error(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--count') opts.count = number(a, argv[++i]);
    else if (a === '--size') opts.size = number(a, argv[++i]);
    else if (a === '--base-url') opts.baseUrl = value(a, argv[++i]);
    else if (a === '--root') opts.root = value(a, argv[++i]);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else if (dir === undefined) dir = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!dir) throw new Error('usage: make-openclipart-corpus.ts OUT_DIR [--count N] [--base-url URL] [--root DIR] [--size PX]');
  return { dir, opts };
}
