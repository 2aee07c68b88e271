// Turning a URL from a list into something we are willing to request. The WHATWG parser
// already canonicalises the tricky host spellings (http://2130706433/, http://0x7f.1/,
// http://[::ffff:7f00:1]/ all become plain IP literals), so the address guard only ever sees
// the canonical form.
import { isIP } from 'node:net';

export type ParsedUrl = { ok: true; url: URL } | { ok: false; detail: string };

/**
 * Parses an http(s) URL from a list. Fragments are dropped (never sent to a server), and so
 * are credentials: they would otherwise be sent on and stored with the sample's final URL.
 */
export function parseFetchUrl(raw: string, base?: string | URL): ParsedUrl {
  const text = raw.trim();
  if (text === '') return { ok: false, detail: 'empty URL' };
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    return { ok: false, detail: `unparseable URL: ${text.slice(0, 200)}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { ok: false, detail: `unsupported scheme ${url.protocol.slice(0, 20)}` };
  }
  if (url.hostname === '') return { ok: false, detail: 'URL has no host' };
  url.hash = '';
  url.username = '';
  url.password = '';
  return { ok: true, url };
}

/** The IP address a URL names directly (brackets removed for IPv6), or null for a host name. */
export function ipLiteralOf(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) ? host : null;
}

/** The host name to resolve and to rate-limit by (lowercase, no brackets, no port). */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/** The path and query robots.txt rules are matched against. */
export function pathAndQuery(url: URL): string {
  return (url.pathname || '/') + url.search;
}
