// A real HTTP server on loopback that misbehaves on request, for the fetcher tests. Each path
// is one fault; the server records every request (path and arrival time) so tests can assert
// on what reached it, measured on the server's side.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import zlib from 'node:zlib';
import sharp from 'sharp';

export interface Hit {
  path: string;
  at: number;
  userAgent: string;
  /** When the exchange ended (answered, or closed by the client); undefined while open. */
  closedAt?: number;
}

export interface FaultServer {
  /** e.g. http://127.0.0.1:40123 */
  base: string;
  port: number;
  hits: Hit[];
  hitsOf(path: string): Hit[];
  /** Body served as /robots.txt; null answers 404. */
  robotsTxt: string | null;
  /** Requests being answered right now, and the most there ever were at once. */
  active: number;
  maxActive: number;
  /** Requests to /held.jpg waiting for releaseHeld(), which answers them all with the JPEG. */
  held: number;
  releaseHeld(): void;
  /** Called with each request as it arrives (after it is counted in hits and active). */
  onHit: ((hit: Hit) => void) | null;
  /** Answer for /heal-later: 503 until set to true. */
  healed: boolean;
  jpeg: Buffer;
  close(): Promise<void>;
}

const bombs = new Map<string, Buffer>();

/** `head` then `mib` MiB of zeros, compressed with `encoding` (cached: compressing takes a while). */
function bomb(encoding: string, head: Buffer, mib: number): Buffer {
  const key = `${encoding}:${mib}`;
  let b = bombs.get(key);
  if (!b) {
    const plain = Buffer.concat([head, Buffer.alloc(mib * 1024 * 1024)]);
    b = encoding === 'br' ? zlib.brotliCompressSync(plain, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5 } }) : encoding === 'deflate' ? zlib.deflateSync(plain, { level: 9 }) : zlib.gzipSync(plain, { level: 9 });
    bombs.set(key, b);
  }
  return b;
}

export async function startFaultServer(host = '127.0.0.1'): Promise<FaultServer> {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: { r: 200, g: 30, b: 30 } } }).jpeg().toBuffer();
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const state: FaultServer = {
    base: '',
    port: 0,
    hits: [],
    hitsOf: (path) => state.hits.filter((h) => h.path === path),
    robotsTxt: null,
    healed: false,
    active: 0,
    maxActive: 0,
    get held() {
      return heldResponses.length;
    },
    releaseHeld: () => {
      for (const res of heldResponses.splice(0)) if (!res.destroyed) sendJpeg(res);
    },
    onHit: null,
    jpeg,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const heldResponses: http.ServerResponse[] = [];
  const seen = (path: string) => state.hitsOf(path).length;
  const sendJpeg = (res: http.ServerResponse, headers: http.OutgoingHttpHeaders = {}) => {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length, ...headers });
    res.end(jpeg);
  };
  const sendEncoded = (res: http.ServerResponse, encoding: string, body: Buffer) => {
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-encoding': encoding, 'content-length': body.length });
    res.end(body);
  };
  const redirect = (res: http.ServerResponse, location: string) => {
    res.writeHead(302, { location, 'content-length': 0 });
    res.end();
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const hit: Hit = { path, at: performance.now(), userAgent: req.headers['user-agent'] ?? '' };
    state.hits.push(hit);
    state.maxActive = Math.max(state.maxActive, ++state.active);
    res.once('close', () => {
      hit.closedAt = performance.now();
      state.active--;
      const i = heldResponses.indexOf(res);
      if (i >= 0) heldResponses.splice(i, 1);
    });
    if (path === '/held.jpg') heldResponses.push(res);
    state.onHit?.(state.hits[state.hits.length - 1]);
    switch (path) {
      case '/held.jpg':
        return; // answered by releaseHeld()
      case '/robots.txt':
        if (state.robotsTxt === null) {
          res.writeHead(404).end('no robots here');
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' }).end(state.robotsTxt);
        }
        return;
      case '/404.jpg':
        res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>not found</h1>');
        return;
      case '/500-then-ok.jpg':
        if (seen(path) === 1) res.writeHead(500).end('oops');
        else sendJpeg(res);
        return;
      case '/always-503.jpg':
        res.writeHead(503).end('down');
        return;
      case '/503-retry-after.jpg':
        res.writeHead(503, { 'retry-after': url.searchParams.get('after') ?? '3600' }).end('come back later');
        return;
      case '/hang.jpg':
        // Never answers; the request stays open until the client gives up or the server closes.
        return;
      case '/gzip.jpg':
        sendEncoded(res, 'gzip', zlib.gzipSync(jpeg));
        return;
      case '/deflate.jpg':
        sendEncoded(res, 'deflate', zlib.deflateSync(jpeg));
        return;
      case '/deflate-raw.jpg':
        sendEncoded(res, 'deflate', zlib.deflateRawSync(jpeg));
        return;
      case '/br.jpg':
        sendEncoded(res, 'br', zlib.brotliCompressSync(jpeg));
        return;
      case '/gzip-then-br.jpg':
        sendEncoded(res, 'gzip, br', zlib.brotliCompressSync(zlib.gzipSync(jpeg)));
        return;
      case '/gzip-bomb.jpg': {
        // A real JPEG header followed by megabytes of zeros: a few KiB on the wire.
        const mib = Number(url.searchParams.get('mib') ?? 64);
        sendEncoded(res, url.searchParams.get('enc') ?? 'gzip', bomb(url.searchParams.get('enc') ?? 'gzip', jpeg, mib));
        return;
      }
      case '/bad-gzip.jpg':
        sendEncoded(res, 'gzip', Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(64, 0x55)]));
        return;
      case '/zstd.jpg':
        sendEncoded(res, 'zstd', jpeg);
        return;
      case '/heal-later.jpg':
        if (state.healed) sendJpeg(res);
        else res.writeHead(503).end('down');
        return;
      case '/429-then-ok.jpg':
        if (seen(path) === 1) res.writeHead(429, { 'retry-after': url.searchParams.get('after') ?? '1' }).end('slow down');
        else sendJpeg(res);
        return;
      case '/always-429.jpg':
        res.writeHead(429, { 'retry-after': url.searchParams.get('after') ?? '1' }).end('slow down');
        return;
      case '/slow-headers.jpg':
        later(Number(url.searchParams.get('ms') ?? 2000), () => sendJpeg(res));
        return;
      case '/stall-body.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
        res.write(jpeg.subarray(0, jpeg.length >> 1));
        later(2000, () => res.end(jpeg.subarray(jpeg.length >> 1)));
        return;
      case '/trickle.jpg': {
        // Never silent for long, but never done either: only the total timeout ends it.
        res.writeHead(200, { 'content-type': 'image/jpeg' });
        res.write(jpeg.subarray(0, 64));
        const drip = () => {
          if (res.destroyed) return;
          res.write(Buffer.alloc(16));
          later(50, drip);
        };
        later(50, drip);
        return;
      }
      case '/reset-mid-body.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': jpeg.length });
        res.write(jpeg.subarray(0, jpeg.length >> 1), () => req.socket.destroy());
        return;
      case '/loop-a.jpg':
        redirect(res, '/loop-b.jpg');
        return;
      case '/loop-b.jpg':
        redirect(res, `${state.base}/loop-a.jpg`);
        return;
      case '/redirect-to-ok.jpg':
        redirect(res, '/ok.jpg');
        return;
      case '/redirect-to':
        redirect(res, url.searchParams.get('to') ?? '/');
        return;
      case '/big-declared.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': 1_000_000 });
        res.end(Buffer.concat([jpeg, Buffer.alloc(1_000_000 - jpeg.length)]));
        return;
      case '/big-chunked.jpg': {
        res.writeHead(200, { 'content-type': 'image/jpeg' }); // no length: chunked
        res.write(jpeg);
        let sent = 0;
        const more = () => {
          if (res.destroyed || sent > 5_000_000) {
            res.end();
            return;
          }
          sent += 64 * 1024;
          res.write(Buffer.alloc(64 * 1024), () => later(1, more));
        };
        more();
        return;
      }
      case '/html-as-jpeg.jpg':
        res.writeHead(200, { 'content-type': 'image/jpeg' }).end('<!DOCTYPE html><html><body>Image not available</body></html>');
        return;
      case '/x-robots.jpg':
        sendJpeg(res, { 'x-robots-tag': url.searchParams.getAll('tag') });
        return;
      case '/chain': {
        const n = Number(url.searchParams.get('n') ?? 0);
        redirect(res, `/chain?n=${n + 1}`);
        return;
      }
      default:
        if (path.endsWith('.jpg')) sendJpeg(res);
        else res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  state.port = (server.address() as AddressInfo).port;
  state.base = `http://${host}:${state.port}`;
  return state;
}
