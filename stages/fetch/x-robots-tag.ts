// X-Robots-Tag opt-outs. A response may carry several X-Robots-Tag headers, each a comma list
// of directives, optionally scoped to one crawler: `X-Robots-Tag: otherbot: noai, noindex`
// applies to otherbot only, and the scope lasts until the next `name:` prefix in that header.

/** Directives that take a value (`max-snippet: 20`) and so must not be read as a crawler name. */
const VALUED_DIRECTIVES = new Set(['unavailable_after', 'max-snippet', 'max-image-preview', 'max-video-preview']);

/** The product token robots rules are matched against: "weft/0.1 (...)" -> "weft". */
export function userAgentToken(userAgent: string): string {
  return userAgent.trim().split(/[\/\s]/)[0].toLowerCase();
}

/**
 * The first opt-out directive in `values` that applies to `uaToken` (e.g. "noai" or
 * "weft: noimageai"), or null when none does. `none` counts as `noindex` (its definition).
 */
export function xRobotsOptOut(values: readonly string[], uaToken: string, directives: readonly string[]): string | null {
  const optOut = new Set(directives.map((d) => d.toLowerCase()));
  const token = uaToken.toLowerCase();
  for (const value of values) {
    let scope: string | null = null;
    for (const rawPart of value.split(',')) {
      let directive = rawPart.trim();
      const scoped = /^([^:\s]+)\s*:\s*(.*)$/.exec(directive);
      if (scoped && !VALUED_DIRECTIVES.has(scoped[1].toLowerCase())) {
        scope = scoped[1].toLowerCase();
        directive = scoped[2].trim();
      }
      if (scope !== null && scope !== token) continue;
      const d = directive.toLowerCase();
      const matched = optOut.has(d) || (d === 'none' && optOut.has('noindex'));
      if (matched) return scope ? `${scope}: ${d}` : d;
    }
  }
  return null;
}
