// The report's fetch-hosts section: per host, the requests sent, the time the run had work for
// it, the effective request rate that makes (what the host saw, adaptive rate and queueing
// included) and the items that failed there. Reads the fetch stage's counters
// fetch_host_requests, fetch_host_active_ms and failures_by_host.
import type { RunStatsJSON } from '../core/stats.ts';
import type { ClaimedStats } from './claimed-stats.ts';
import { table } from './html-table.ts';
import { esc, fmtInt, fmtNum, truncate } from './html-text.ts';

const TOP_HOSTS = 25;

export function fetchHostsSection(stats: RunStatsJSON): { html: string; claimed: ClaimedStats } | null {
  const requests = stats.counters?.fetch_host_requests;
  if (!requests || Object.keys(requests).length === 0) return null;
  const activeMs = stats.counters.fetch_host_active_ms ?? {};
  const failures = stats.counters.failures_by_host ?? {};
  const hosts = Object.keys({ ...requests, ...failures }).sort((a, b) => (requests[b] ?? 0) - (requests[a] ?? 0) || (a < b ? -1 : 1));
  const rows = hosts.slice(0, TOP_HOSTS).map((h) => {
    const sent = requests[h] ?? 0;
    const seconds = (activeMs[h] ?? 0) / 1000;
    return [`<code>${esc(truncate(h, 80))}</code>`, fmtInt(sent), fmtNum(seconds), seconds > 0 ? fmtNum(sent / seconds) : '–', fmtInt(failures[h] ?? 0)];
  });
  const more = hosts.length > TOP_HOSTS ? `<p class="muted">${fmtInt(hosts.length - TOP_HOSTS)} more hosts in stats.json.</p>` : '';
  const note = '<p class="muted">Effective rate: requests sent to the host divided by the time a unit had one of its URLs queued or in flight, summed over units. It includes the adaptive per-host rate, Retry-After pauses and queueing, so it is what the host saw.</p>';
  return {
    html: note + table(['host', 'requests', 'active s', 'effective req/s', 'failed items'], rows, [false, true, true, true, true]) + more,
    claimed: { histograms: new Set(), sketches: new Set(), counters: new Set(['fetch_host_requests', 'fetch_host_active_ms']), worst: new Set() },
  };
}
