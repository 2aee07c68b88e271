// Small readers over the rendered report for assertions: sections, table rows, SVG snippets,
// and a tag-balance check that catches unclosed or crossed elements.

export function sectionById(html: string, id: string): string {
  const start = html.indexOf(`<section id="${id}">`);
  if (start < 0) throw new Error(`no section #${id}`);
  // Sections of the page are not nested in each other (example sets are, inside #examples).
  const end = id === 'examples' ? html.lastIndexOf('</section>') : html.indexOf('</section>', start);
  return html.slice(start, end + '</section>'.length);
}

/** Text content of each body row's cells, tags stripped and entities decoded. */
export function tableRows(fragment: string): string[][] {
  return [...fragment.matchAll(/<tbody>([\s\S]*?)<\/tbody>/g)].flatMap((m) =>
    [...m[1].matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map((row) => [...row[1].matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].map((c) => textOf(c[1]))),
  );
}

export function textOf(fragment: string): string {
  return fragment
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

export function svgSnippets(fragment: string, cls: string): string[] {
  return [...fragment.matchAll(new RegExp(`<svg class="${cls}[ "][\\s\\S]*?</svg>`, 'g'))].map((m) => m[0]);
}

const VOID = new Set(['meta', 'img', 'br', 'hr', 'link', 'input', 'source', 'wbr']);

/**
 * Throws unless every start tag is closed in order (self-closing and HTML void elements
 * aside) and attribute values are quoted; good enough to catch broken markup from bad escaping.
 */
export function assertBalanced(markup: string): void {
  const stack: string[] = [];
  const body = markup.replace(/<!DOCTYPE[^>]*>/i, '').replace(/<style>[\s\S]*?<\/style>/g, '');
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*(\/?)>|<|>/g;
  for (const m of body.matchAll(tag)) {
    if (m[0] === '<' || m[0] === '>') throw new Error(`stray ${m[0]} at ${m.index}: ${body.slice(Math.max(0, (m.index ?? 0) - 60), (m.index ?? 0) + 60)}`);
    const [, closing, name, , selfClosing] = m;
    const n = name.toLowerCase();
    if (selfClosing || (!closing && VOID.has(n))) continue;
    if (!closing) stack.push(n);
    else if (stack.pop() !== n) throw new Error(`</${n}> closes the wrong element at ${m.index}`);
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(' > ')}`);
}

/** Every attribute name of every tag in the markup (values are skipped, so escaped text inside them is ignored). */
export function attributeNames(markup: string): string[] {
  const names: string[] = [];
  for (const m of markup.matchAll(/<[a-zA-Z][\w:-]*((?:\s+[\w:-]+(?:="[^"]*")?)*)\s*\/?>/g)) {
    for (const a of m[1].matchAll(/([\w:-]+)(?:="[^"]*")?/g)) names.push(a[1].toLowerCase());
  }
  return names;
}
