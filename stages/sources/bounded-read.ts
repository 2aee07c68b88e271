// Reads a local file with a byte cap, never more: opened non-blocking (a FIFO that appeared
// after the source's check does not hang the reader), checked with fstat to be a regular
// file, and read in chunks that stop at the cap (a sparse or growing file, or a device, is cut
// off there instead of filling memory).
import { open } from 'node:fs/promises';
import { constants } from 'node:fs';

export type BoundedRead = { bytes: Uint8Array } | { reason: 'not_regular_file' | 'too_large'; detail: string };

const CHUNK = 1 << 20;

/** Throws the file system's error (ENOENT, EACCES, EIO, EMFILE) for the caller to treat as a read failure. */
export async function readFileBounded(file: string, maxBytes: number, name: string): Promise<BoundedRead> {
  const fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { reason: 'not_regular_file', detail: `${name} is not a regular file` };
    if (st.size > maxBytes) return { reason: 'too_large', detail: `${name} is ${st.size} bytes, above max_file_bytes ${maxBytes}` };
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const want = Math.min(CHUNK, maxBytes + 1 - total);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      chunks.push(bytesRead === want ? buf : buf.subarray(0, bytesRead));
      total += bytesRead;
      if (total > maxBytes) return { reason: 'too_large', detail: `${name} grew past max_file_bytes ${maxBytes} while being read` };
    }
    return { bytes: Buffer.concat(chunks, total) };
  } finally {
    await fh.close();
  }
}
