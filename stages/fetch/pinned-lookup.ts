// Resolve a host once, check every address it resolved to, and make the connection use exactly
// those addresses. Checking one resolution and letting the socket resolve again would leave a
// gap a DNS-rebinding server could use to swap in 127.0.0.1 between check and connect.
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress, LookupOneOptions, LookupAllOptions } from 'node:dns';
import { isIP } from 'node:net';
import { abortable } from './abortable.ts';
import { blockedCategory, inAnyRange } from './address-guard.ts';

/** Host name to IP addresses. Injectable so tests can map names to 127.0.0.1. */
export type Resolver = (host: string) => Promise<string[]>;

export const systemResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => a.address);

export type AddressCheck =
  | { ok: true; addresses: string[]; release: () => void }
  | { ok: false; reason: 'dns' | 'blocked_address'; detail: string; transient: boolean };

/** DNS answers that may change on a later try; NXDOMAIN and "no data" will not. */
const TRANSIENT_DNS_CODES = new Set(['EAI_AGAIN', 'ESERVFAIL', 'ETIMEOUT', 'ECONNREFUSED', 'ETIMEDOUT']);

/** dns.lookup runs on libuv's small thread pool; URL lists hit the same hosts over and over. */
const RESOLVED_TTL_MS = 30_000;
const RESOLVED_MAX_HOSTS = 10_000;

export class PinnedLookup {
  private readonly pinned = new Map<string, { addresses: string[]; refs: number }>();
  private readonly resolved = new Map<string, { addresses: Promise<string[]>; expiresAt: number }>();

  constructor(
    private readonly resolve: Resolver,
    private readonly allowPrivate: boolean,
    /** CIDRs allowed even when private addresses are not. */
    private readonly allowedRanges: readonly string[] = [],
  ) {}

  /** Resolves through a short-lived cache shared by concurrent callers; failures are not cached. */
  private resolveCached(host: string): Promise<string[]> {
    const now = performance.now();
    const hit = this.resolved.get(host);
    if (hit && hit.expiresAt > now) return hit.addresses;
    const addresses = this.resolve(host);
    this.resolved.set(host, { addresses, expiresAt: now + RESOLVED_TTL_MS });
    addresses.catch(() => {
      if (this.resolved.get(host)?.addresses === addresses) this.resolved.delete(host);
    });
    if (this.resolved.size > RESOLVED_MAX_HOSTS) this.resolved.delete(this.resolved.keys().next().value!);
    return addresses;
  }

  /**
   * Resolves `host` (or takes it as is when it is an IP literal), refuses it when any address
   * is non-public (unless private addresses are allowed), and pins the checked addresses for
   * connections to `host` until `release` is called.
   */
  async check(host: string, signal?: AbortSignal): Promise<AddressCheck> {
    let addresses: string[];
    if (isIP(host)) {
      addresses = [host];
    } else {
      try {
        addresses = await abortable(this.resolveCached(host), signal);
      } catch (err) {
        if (signal?.aborted) throw err;
        const code = (err as NodeJS.ErrnoException).code ?? '';
        return { ok: false, reason: 'dns', detail: `${host}: ${code || (err as Error).message}`, transient: TRANSIENT_DNS_CODES.has(code) };
      }
      if (addresses.length === 0) return { ok: false, reason: 'dns', detail: `${host}: no addresses`, transient: false };
    }
    if (!this.allowPrivate) {
      for (const a of addresses) {
        const category = blockedCategory(a);
        if (category && !inAnyRange(a, this.allowedRanges)) return { ok: false, reason: 'blocked_address', detail: `${host} resolves to ${a} (${category})`, transient: false };
      }
    }
    return { ok: true, addresses, release: this.pin(host, addresses) };
  }

  private pin(host: string, addresses: string[]): () => void {
    const entry = this.pinned.get(host);
    // Any pinned set was checked, so a newer resolution may replace an older one.
    if (entry) {
      entry.addresses = addresses;
      entry.refs += 1;
    } else {
      this.pinned.set(host, { addresses, refs: 1 });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const e = this.pinned.get(host);
      if (e && --e.refs <= 0) this.pinned.delete(host);
    };
  }

  /** A `net.connect` lookup function that answers only from pinned addresses. */
  readonly lookup = (
    hostname: string,
    options: LookupOneOptions | LookupAllOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    const entry = this.pinned.get(hostname);
    const wanted = options.family === 4 || options.family === 6 ? options.family : 0;
    const found = (entry?.addresses ?? [])
      .map((address) => ({ address, family: isIP(address) }))
      .filter((a) => wanted === 0 || a.family === wanted);
    if (found.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`no checked address pinned for ${hostname}`);
      err.code = 'ERR_UNPINNED_HOST';
      process.nextTick(callback, err, '', 0);
      return;
    }
    if (options.all) process.nextTick(callback, null, found);
    else process.nextTick(callback, null, found[0].address, found[0].family);
  };
}
