// robots.txt per RFC 9309: parsing, matching, and a per-origin cache that fetches each file
// once (concurrent callers share the in-flight fetch).
//
// Availability rules (RFC 9309 section 2.3.1): a 4xx answer means there are no rules (allow
// everything); a 5xx answer or an unreachable server means "complete disallow" for now. We
// cache that verdict for a short while and then ask again, rather than for the whole run.

export interface RobotsRule {
  allow: boolean;
  /** The pattern as written (its length decides precedence). */
  pattern: string;
  regex: RegExp;
}

export interface RobotsGroup {
  agents: string[];
  rules: RobotsRule[];
}

export interface RobotsTxt {
  groups: RobotsGroup[];
}

/** Parses robots.txt text; unknown lines and rules outside any group are ignored. */
export function parseRobotsTxt(text: string): RobotsTxt {
  const groups: RobotsGroup[] = [];
  let current: RobotsGroup | null = null;
  let lastWasAgent = false;
  for (const rawLine of text.split(/\r\n|\r|\n/)) {
    const line = rawLine.replace(/#.*$/, '').trim();
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const key = line.slice(0, colon).trim().toLowerCase().replace(/[\s_-]/g, '');
    const value = line.slice(colon + 1).trim();
    if (key === 'useragent') {
      if (!lastWasAgent || !current) {
        current = { agents: [], rules: [] };
        groups.push(current);
      }
      current.agents.push(agentToken(value));
      lastWasAgent = true;
    } else if (key === 'allow' || key === 'disallow') {
      lastWasAgent = false;
      // An empty pattern matches nothing ("Disallow:" means allow all).
      if (!current || value === '') continue;
      const pattern = normalisePath(value);
      current.rules.push({ allow: key === 'allow', pattern, regex: patternRegex(pattern) });
    } else {
      // Sitemap, Crawl-delay and the like neither start nor end a group.
      continue;
    }
  }
  return { groups };
}

/** The rules that apply to `token`: its own groups merged, else the `*` groups, else none. */
export function rulesFor(robots: RobotsTxt, token: string): RobotsRule[] {
  const t = token.toLowerCase();
  const own = robots.groups.filter((g) => g.agents.includes(t));
  const chosen = own.length ? own : robots.groups.filter((g) => g.agents.includes('*'));
  return chosen.flatMap((g) => g.rules);
}

/**
 * Whether `pathAndQuery` may be fetched: the longest matching pattern wins, Allow wins a tie,
 * no match allows. Returns the deciding rule for the reject detail.
 */
export function robotsVerdict(rules: readonly RobotsRule[], pathAndQuery: string): { allowed: boolean; rule: RobotsRule | null } {
  const path = normalisePath(pathAndQuery);
  if (path === '/robots.txt') return { allowed: true, rule: null };
  let best: RobotsRule | null = null;
  for (const r of rules) {
    if (!r.regex.test(path)) continue;
    if (!best || r.pattern.length > best.pattern.length || (r.pattern.length === best.pattern.length && r.allow && !best.allow)) best = r;
  }
  return { allowed: best ? best.allow : true, rule: best };
}

function agentToken(value: string): string {
  // "Googlebot/2.1 (+http://...)" names the product token "googlebot".
  return value.split(/[\/\s]/)[0].toLowerCase();
}

/** Percent-encodes non-ASCII and uppercases escapes, so rules and URLs compare byte-wise. */
function normalisePath(s: string): string {
  return s
    .replace(/[^\x00-\x7f]+/g, (m) => encodeURIComponent(m))
    .replace(/%[0-9a-fA-F]{2}/g, (m) => m.toUpperCase());
}

function patternRegex(pattern: string): RegExp {
  const anchored = pattern.endsWith('$');
  const body = anchored ? pattern.slice(0, -1) : pattern;
  const source = body
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp('^' + source + (anchored ? '$' : ''));
}

/** How fetching one robots.txt went, in RFC 9309 terms. */
export type RobotsFetchOutcome =
  | { kind: 'found'; text: string }
  /** 4xx: the site has no rules for anyone. */
  | { kind: 'unavailable'; status: number }
  /** 5xx or network failure: treat as complete disallow until asked again. `reason` is the
   *  fetch's failure reason (http_5xx, connect, timeout, ...). */
  | { kind: 'unreachable'; reason?: string; detail: string };

export interface RobotsCheck {
  /** `unreachable`: no usable answer from the server, which RFC 9309 treats as disallow. */
  verdict: 'allowed' | 'disallowed' | 'unreachable';
  /** For `unreachable`: the reject reason for URLs of this origin (see unreachableReason). */
  reason: string;
  detail: string;
}

/** Failures that say the robots.txt request never got an answer: a URL of that origin is
 *  rejected with that reason (the real cause), not as `robots_txt_unreachable`, which is kept
 *  for servers that answered robots.txt with an error status. */
const NETWORK_REASONS = new Set(['dns', 'blocked_address', 'connect', 'tls', 'timeout', 'connection_reset', 'bad_response', 'network', 'queue_timeout', 'circuit_open']);

export function unreachableReason(fetchReason: string | undefined): string {
  return fetchReason !== undefined && NETWORK_REASONS.has(fetchReason) ? fetchReason : 'robots_txt_unreachable';
}

interface CacheEntry {
  verdict: Promise<(pathAndQuery: string) => RobotsCheck>;
  expiresAt: number;
}

const FOUND_TTL_MS = 24 * 3600_000; // RFC 9309: should not be cached longer than 24 hours
const UNREACHABLE_TTL_MS = 5 * 60_000;
const MAX_ORIGINS = 100_000;

export class RobotsCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** robots.txt fetches started (for tests and stats). */
  fetches = 0;

  constructor(
    private readonly token: string,
    private readonly fetchRobots: (robotsUrl: URL) => Promise<RobotsFetchOutcome>,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether `url` may be fetched by this cache's user-agent token. Never rejects. */
  check(url: URL): Promise<RobotsCheck> {
    const origin = url.origin;
    let entry = this.entries.get(origin);
    if (!entry || entry.expiresAt <= this.now()) {
      entry = this.load(origin);
      this.entries.delete(origin);
      this.entries.set(origin, entry);
      if (this.entries.size > MAX_ORIGINS) this.entries.delete(this.entries.keys().next().value!);
    }
    const path = url.pathname + url.search;
    return entry.verdict.then((judge) => judge(path));
  }

  private load(origin: string): CacheEntry {
    this.fetches += 1;
    // Never expires while the fetch is in flight, so concurrent callers share it.
    const entry = { expiresAt: Infinity } as CacheEntry;
    entry.verdict = this.fetchRobots(new URL('/robots.txt', origin))
      .catch((err): RobotsFetchOutcome => ({ kind: 'unreachable', detail: String((err as Error)?.message ?? err) }))
      .then((outcome) => {
        entry.expiresAt = this.now() + (outcome.kind === 'unreachable' ? UNREACHABLE_TTL_MS : FOUND_TTL_MS);
        return this.judge(origin, outcome);
      });
    return entry;
  }

  private judge(origin: string, outcome: RobotsFetchOutcome): (pathAndQuery: string) => RobotsCheck {
    if (outcome.kind === 'unavailable') return () => ({ verdict: 'allowed', reason: '', detail: `${origin}/robots.txt: HTTP ${outcome.status}, no rules` });
    if (outcome.kind === 'unreachable') {
      const reason = unreachableReason(outcome.reason);
      return () => ({ verdict: 'unreachable', reason, detail: `robots.txt of ${origin} unreachable (${outcome.detail}): complete disallow per RFC 9309` });
    }
    const rules = rulesFor(parseRobotsTxt(outcome.text), this.token);
    return (path) => {
      const v = robotsVerdict(rules, path);
      const rule = v.rule ? `${v.rule.allow ? 'Allow' : 'Disallow'}: ${v.rule.pattern}` : 'no matching rule';
      return { verdict: v.allowed ? 'allowed' : 'disallowed', reason: '', detail: `robots.txt of ${origin} ${v.allowed ? 'allows' : 'disallows'} ${path.slice(0, 200)} for ${this.token} (${rule})` };
    };
  }
}
