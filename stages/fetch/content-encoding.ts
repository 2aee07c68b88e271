// Content-Encoding decoding (gzip, deflate, br) for response bodies. weft asks for `identity`
// for images, but servers compress anyway (nginx `gzip_types *`, CDNs), so a body is decoded
// whatever was asked. The wire bytes are capped here; the decoded bytes are capped by the body
// sink reading the output, so a compression bomb ends as `too_large` after at most the cap is
// held in memory (zlib streams pause while nobody reads their output).
import { Readable, pipeline, type Transform } from 'node:stream';
import zlib from 'node:zlib';

export const BODY_TOO_LARGE_CODE = 'ERR_BODY_TOO_LARGE';
export const CONTENT_DECODING_CODE = 'ERR_CONTENT_DECODING';

type Layer = (src: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/** The codings of a Content-Encoding header in the order they were applied; `identity` left out. */
export function contentCodings(header: string | null): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
}

/** Null when every coding can be decoded, else the detail of why the body cannot be. */
export function unsupportedCoding(codings: readonly string[]): string | null {
  const bad = codings.find((c) => !DECODERS[c]);
  return bad === undefined ? null : `Content-Encoding ${bad} is not supported (gzip, deflate and br are)`;
}

/**
 * The decoded body: `wire` with `codings` undone in reverse order. Throws (while iterating) an
 * error with code BODY_TOO_LARGE_CODE past `maxWireBytes` on the wire, CONTENT_DECODING_CODE
 * when the bytes do not decode, or the wire's own error (a reset, a timeout).
 */
export function decodeBody(wire: AsyncIterable<Uint8Array>, codings: readonly string[], maxWireBytes: number, onWireChunk: () => void): AsyncIterable<Uint8Array> {
  let body: AsyncIterable<Uint8Array> = countWire(wire, maxWireBytes, onWireChunk);
  for (const coding of [...codings].reverse()) body = DECODERS[coding](body);
  return body;
}

async function* countWire(src: AsyncIterable<Uint8Array>, max: number, onChunk: () => void): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of src) {
    onChunk();
    size += chunk.length;
    if (size > max) throw codedError(BODY_TOO_LARGE_CODE, `compressed body passed ${max} bytes on the wire`);
    yield chunk;
  }
}

/** A decoding layer around a zlib stream chosen from the first chunk. */
function zlibLayer(name: string, make: (head: Uint8Array) => Transform): Layer {
  return async function* (src) {
    const it = src[Symbol.asyncIterator]();
    let sourceError: unknown;
    const first = await it.next();
    if (first.done) return; // an empty body decodes to nothing
    const input = Readable.from(
      (async function* () {
        yield first.value;
        try {
          for (;;) {
            const next = await it.next();
            if (next.done) return;
            yield next.value;
          }
        } catch (err) {
          sourceError = err;
          throw err;
        }
      })(),
      { objectMode: false },
    );
    const decoder = make(first.value);
    const out = pipeline(input, decoder, () => undefined);
    try {
      for await (const chunk of out) yield chunk as Uint8Array;
    } catch (err) {
      if (sourceError !== undefined) throw sourceError;
      throw codedError(CONTENT_DECODING_CODE, `${name} body does not decode: ${(err as Error).message}`);
    } finally {
      input.destroy();
      decoder.destroy();
      await it.return?.();
    }
  };
}

/** RFC 9110 `deflate` is zlib-wrapped; some servers send raw deflate, told apart by the header's checksum. */
function isZlibHeader(head: Uint8Array): boolean {
  return head.length >= 2 && (head[0] & 0x0f) === 8 && ((head[0] << 8) | head[1]) % 31 === 0;
}

const DECODERS: Record<string, Layer> = {
  gzip: zlibLayer('gzip', () => zlib.createGunzip()),
  'x-gzip': zlibLayer('gzip', () => zlib.createGunzip()),
  deflate: zlibLayer('deflate', (head) => (isZlibHeader(head) ? zlib.createInflate() : zlib.createInflateRaw())),
  br: zlibLayer('br', () => zlib.createBrotliDecompress()),
};

function codedError(code: string, message: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  err.code = code;
  return err;
}
