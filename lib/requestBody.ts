// Request bodies read with a bound: a loopback server's (node's IncomingMessage: the sandbox endpoints and `serve`)
// and a Functions handler's (the web stream of an HttpRequest). A declared Content-Length over the bound is refused
// before a byte is read; a body without one is read up to the bound and no further (what the client sends beyond it
// is never read). Either way the caller gets BodyTooLargeError and answers 413.
import type { IncomingMessage } from 'node:http';
import { SnatDoctorError } from './errors.ts';

/** What the app's HTTP endpoints accept (Slack's largest payloads and an alert's are far below it). */
export const MAX_REQUEST_BODY = 1024 * 1024;

export class BodyTooLargeError extends SnatDoctorError {
  readonly maxBytes: number;
  constructor(maxBytes: number) {
    super(
      'BAD_ARGUMENT',
      `The request body is larger than ${sizeOf(maxBytes)}, the most this endpoint reads: send a smaller body.`,
      { context: { maxBytes } },
    );
    this.name = 'BodyTooLargeError';
    this.maxBytes = maxBytes;
  }
}

/**
 * The body as text. Past `maxBytes` it rejects and leaves the request paused: the caller answers (413, with
 * `Connection: close`) and the server closes the connection rather than reading the rest.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<string> {
  if (declaredBodyLength(req.headers['content-length']) > maxBytes)
    return Promise.reject(new BodyTooLargeError(maxBytes));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (outcome: () => void) => {
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      outcome();
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      req.pause();
      settle(() => reject(new BodyTooLargeError(maxBytes)));
    };
    const onEnd = () => settle(() => resolve(Buffer.concat(chunks).toString('utf8')));
    const onError = (error: Error) => settle(() => reject(error));
    const onClose = () => settle(() => reject(new Error('the client closed the connection before the body ended')));
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The part of a Functions `HttpRequest` (or a web `Request`) a bounded read needs. */
export interface StreamedRequest {
  headers: Headers;
  body: ReadableStream<Uint8Array> | null;
}

/** A Functions request's body, at most `maxBytes` of it; the stream is cancelled past the bound. */
export async function readRequestBytes(request: StreamedRequest, maxBytes: number): Promise<Uint8Array> {
  if (declaredBodyLength(request.headers.get('content-length')) > maxBytes) throw new BodyTooLargeError(maxBytes);
  if (!request.body) return new Uint8Array();
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The body as UTF-8 text (malformed sequences become U+FFFD, as `request.text()` does), at most `maxBytes`. */
export async function readRequestText(request: StreamedRequest, maxBytes: number): Promise<string> {
  return new TextDecoder().decode(await readRequestBytes(request, maxBytes));
}

/**
 * The body parsed as JSON, at most `maxBytes`; undefined when it is empty or not JSON (the caller's message says
 * what to send).
 */
export async function readRequestJson(request: StreamedRequest, maxBytes: number): Promise<unknown> {
  const text = await readRequestText(request, maxBytes);
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The Content-Length a request declares; 0 when it declares none (or garbage): the read then enforces the bound. */
export function declaredBodyLength(header: string | null | undefined): number {
  return header && /^\d+$/.test(header.trim()) ? Number(header.trim()) : 0;
}

function sizeOf(bytes: number): string {
  return bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MB` : `${bytes} bytes`;
}
