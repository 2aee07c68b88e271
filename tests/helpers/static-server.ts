// A real HTTP server on 127.0.0.1 for web-source tests: serves files from a folder and/or an
// in-memory map, answers 404 otherwise, and counts requests per path.
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export interface StaticServer {
  base: string;
  /** path (with query) -> number of requests. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

export async function startStaticServer(options: { folder?: string; files?: Record<string, Buffer> } = {}): Promise<StaticServer> {
  const hits = new Map<string, number>();
  const server: Server = createServer(async (req, res) => {
    const url = req.url ?? '/';
    hits.set(url, (hits.get(url) ?? 0) + 1);
    const pathname = decodeURIComponent(new URL(url, 'http://x').pathname);
    let body = options.files?.[pathname];
    if (!body && options.folder && !pathname.includes('..')) {
      body = await readFile(path.join(options.folder, pathname)).catch(() => undefined);
    }
    if (!body) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    const type = pathname.endsWith('.png') ? 'image/png' : pathname.endsWith('.txt') ? 'text/plain' : 'image/jpeg';
    res.writeHead(200, { 'content-type': type, 'content-length': body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
  return {
    base: `http://127.0.0.1:${address.port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
