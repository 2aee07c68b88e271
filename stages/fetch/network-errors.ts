// Maps what Node and undici throw to the stable reject reasons of the fetch stage.
import { BODY_TOO_LARGE_CODE, CONTENT_DECODING_CODE } from './content-encoding.ts';
import { IDLE_TIMEOUT_CODE } from './idle-timer.ts';

// A connect that times out says the same about the host as one that is refused.
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN', 'UND_ERR_CONNECT_TIMEOUT']);
const TIMEOUT_CODES = new Set([IDLE_TIMEOUT_CODE, 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH']);
const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'ENODATA']);

export interface ClassifiedError {
  reason: string;
  detail: string;
}

/** The reason code for a network-level failure (never for an HTTP status). */
export function classifyNetworkError(err: unknown): ClassifiedError {
  const code = errorCode(err);
  const detail = `${code ? code + ': ' : ''}${messageOf(err)}`.slice(0, 500);
  if (code === BODY_TOO_LARGE_CODE) return { reason: 'too_large', detail };
  if (code === CONTENT_DECODING_CODE) return { reason: 'bad_encoding', detail };
  if (TIMEOUT_CODES.has(code)) return { reason: 'timeout', detail };
  if (CONNECT_CODES.has(code)) return { reason: 'connect', detail };
  if (RESET_CODES.has(code)) return { reason: 'connection_reset', detail };
  if (DNS_CODES.has(code)) return { reason: 'dns', detail };
  if (code === 'ERR_UNPINNED_HOST') return { reason: 'blocked_address', detail };
  if (code.startsWith('HPE_')) return { reason: 'bad_response', detail };
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || /CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return { reason: 'tls', detail };
  return { reason: 'network', detail };
}

/** The first error code found on the error, its cause, or an aggregate's members. */
function errorCode(err: unknown): string {
  const seen = new Set<unknown>();
  const queue = [err];
  while (queue.length) {
    const e = queue.shift() as { code?: unknown; cause?: unknown; errors?: unknown[] } | undefined;
    if (!e || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code;
    if (e.cause) queue.push(e.cause);
    if (Array.isArray(e.errors)) queue.push(...e.errors);
  }
  // undici's SocketError wraps nothing more specific.
  return (err as { code?: string })?.code ?? '';
}

function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0];
  return String(err);
}
