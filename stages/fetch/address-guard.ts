// Which IP addresses a URL list may make us connect to. A URL list is untrusted input: without
// this check, `http://169.254.169.254/...` or a name resolving to 10.0.0.5 would let it read
// cloud credentials or probe internal services. The fetcher checks the *resolved* address of
// every hop and then connects only to the addresses it checked (see pinned-lookup.ts).
import { isIP } from 'node:net';

/** Why an address is refused; null means it is a public unicast address. */
export type BlockedCategory =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link_local'
  | 'metadata'
  | 'unique_local'
  | 'multicast'
  | 'reserved';

interface Range {
  bytes: number[];
  bits: number;
  category: BlockedCategory;
}

const v4 = (cidr: string, category: BlockedCategory): Range => {
  const [ip, bits] = cidr.split('/');
  return { bytes: parseIPv4(ip)!, bits: Number(bits), category };
};
const v6 = (cidr: string, category: BlockedCategory): Range => {
  const [ip, bits] = cidr.split('/');
  return { bytes: parseIPv6(ip)!, bits: Number(bits), category };
};

// Most specific first: the first match names the category.
const IPV4_BLOCKED: Range[] = [
  v4('169.254.169.254/32', 'metadata'), // AWS, GCP, Azure, OpenStack instance metadata
  v4('100.100.100.200/32', 'metadata'), // Alibaba Cloud instance metadata
  v4('0.0.0.0/8', 'unspecified'),
  v4('10.0.0.0/8', 'private'),
  v4('100.64.0.0/10', 'cgnat'),
  v4('127.0.0.0/8', 'loopback'),
  v4('169.254.0.0/16', 'link_local'),
  v4('172.16.0.0/12', 'private'),
  v4('192.0.0.0/24', 'reserved'),
  v4('192.0.2.0/24', 'reserved'),
  v4('192.168.0.0/16', 'private'),
  v4('198.18.0.0/15', 'reserved'),
  v4('198.51.100.0/24', 'reserved'),
  v4('203.0.113.0/24', 'reserved'),
  v4('224.0.0.0/4', 'multicast'),
  v4('240.0.0.0/4', 'reserved'), // includes 255.255.255.255
];

const IPV6_BLOCKED: Range[] = [
  v6('::/128', 'unspecified'),
  v6('::1/128', 'loopback'),
  v6('fd00:ec2::254/128', 'metadata'), // AWS instance metadata over IPv6
  v6('64:ff9b:1::/48', 'reserved'),
  v6('100::/64', 'reserved'),
  v6('2001::/32', 'reserved'), // Teredo: tunnels to an IPv4 address we cannot check cheaply
  v6('2001:db8::/32', 'reserved'),
  v6('fc00::/7', 'unique_local'),
  v6('fe80::/10', 'link_local'),
  v6('fec0::/10', 'private'), // deprecated site-local
  v6('ff00::/8', 'multicast'),
];

/**
 * The category an address is refused under, or null when it is public. IPv6 forms that carry
 * an IPv4 address (mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::/96, 6to4
 * 2002::/16) are judged by that IPv4 address. Anything unparseable is refused as `reserved`.
 */
export function blockedCategory(address: string): BlockedCategory | null {
  const family = isIP(stripZone(address));
  if (family === 4) return matchRange(parseIPv4(address)!, IPV4_BLOCKED);
  if (family !== 6) return 'reserved';
  const bytes = parseIPv6(stripZone(address));
  if (!bytes) return 'reserved';
  const embedded = embeddedIPv4(bytes);
  if (embedded) return matchRange(embedded, IPV4_BLOCKED);
  return matchRange(bytes, IPV6_BLOCKED);
}

/** Whether `cidr` is "address/bits" with bits within the address family's width. */
export function isCidr(cidr: string): boolean {
  return parseCidr(cidr) !== null;
}

/** Whether `address` lies in one of `cidrs` (IPv4-mapped IPv6 addresses count as IPv4). */
export function inAnyRange(address: string, cidrs: readonly string[]): boolean {
  const bytes = addressBytes(address);
  if (!bytes) return false;
  return cidrs.some((c) => {
    const r = parseCidr(c);
    return r !== null && r.bytes.length === bytes.length && inPrefix(bytes, r.bytes, r.bits);
  });
}

function parseCidr(cidr: string): { bytes: number[]; bits: number } | null {
  const [ip, bitsText, extra] = cidr.trim().split('/');
  if (extra !== undefined || bitsText === undefined || !/^\d{1,3}$/.test(bitsText)) return null;
  const bytes = addressBytes(ip);
  const bits = Number(bitsText);
  return bytes && bits <= bytes.length * 8 ? { bytes, bits } : null;
}

/** 4 bytes for IPv4 (and IPv4-mapped IPv6), 16 for other IPv6, null when not an address. */
function addressBytes(address: string): number[] | null {
  const plain = stripZone(address);
  const family = isIP(plain);
  if (family === 4) return parseIPv4(plain);
  if (family !== 6) return null;
  const bytes = parseIPv6(plain);
  if (bytes && bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytes.slice(12);
  return bytes;
}

function embeddedIPv4(b: number[]): number[] | null {
  const zeros = (from: number, to: number) => b.slice(from, to).every((x) => x === 0);
  // ::ffff:a.b.c.d (mapped)
  if (zeros(0, 10) && b[10] === 0xff && b[11] === 0xff) return b.slice(12);
  // ::a.b.c.d (deprecated compatible form); :: and ::1 themselves are left to the v6 table.
  if (zeros(0, 12) && !(zeros(12, 15) && b[15] <= 1)) return b.slice(12);
  // 64:ff9b::a.b.c.d (NAT64 well-known prefix)
  if (b[0] === 0x00 && b[1] === 0x64 && b[2] === 0xff && b[3] === 0x9b && zeros(4, 12)) return b.slice(12);
  // 2002:aabb:ccdd::/48 (6to4)
  if (b[0] === 0x20 && b[1] === 0x02) return b.slice(2, 6);
  return null;
}

function matchRange(bytes: number[], ranges: Range[]): BlockedCategory | null {
  for (const r of ranges) if (inPrefix(bytes, r.bytes, r.bits)) return r.category;
  return null;
}

function inPrefix(bytes: number[], prefix: number[], bits: number): boolean {
  let left = bits;
  for (let i = 0; left > 0; i++, left -= 8) {
    const mask = left >= 8 ? 0xff : (0xff << (8 - left)) & 0xff;
    if ((bytes[i] & mask) !== (prefix[i] & mask)) return false;
  }
  return true;
}

function stripZone(address: string): string {
  const pct = address.indexOf('%');
  return pct < 0 ? address : address.slice(0, pct);
}

function parseIPv4(s: string): number[] | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = parts.map((p) => (/^\d{1,3}$/.test(p) ? Number(p) : NaN));
  return out.every((n) => n >= 0 && n <= 255) ? out : null;
}

function parseIPv6(s: string): number[] | null {
  let text = s;
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4part = parseIPv4(text.slice(lastColon + 1));
    if (!v4part) return null;
    tail = v4part;
    text = text.slice(0, lastColon + 1) + '0:0';
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = halves.length === 2 ? groups(halves[1]) : [];
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...rest];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}
