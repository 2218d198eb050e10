// Response bodies, read one way for every request that Transport.send makes (the sources' and the OCI client's):
// chunk by chunk with an idle timeout and back-pressure (bodyChunks), whole under a byte cap (readCapped), or thrown
// away (discard); and the one mapping of a failed exchange to a coded error (failure).
import type { Readable } from 'node:stream';
import type { Response } from 'node-fetch';
import { BootosError, isBootosError } from '../core/error.js';
import { tooLarge } from './source.js';

/** A response as Transport.send returns it. */
export interface SentResponse extends Response {
  /** Detaches the response from the caller's signal (done once its body has been read or destroyed). */
  cleanup?: () => void;
  /** The caller's signal: it aborts the body too, and says whether a failure was a timeout or an abort. */
  callerSignal?: AbortSignal;
}

export interface BodyOptions {
  /** Longest wait for the next bytes (limits.bodyIdleTimeoutMs); then TIMEOUT. */
  idleTimeoutMs: number;
  /** Bytes received but not yet consumed before the socket is paused (limits.bodyQueueBytes). */
  queueBytes: number;
}

export function aborted(signal: AbortSignal | undefined): BootosError {
  return new BootosError('ABORTED', 'the request was aborted', { cause: signal?.reason });
}

/**
 * What a failed exchange means: a coded error stays as it is; the caller's signal → ABORTED, or TIMEOUT when that
 * signal is a deadline (AbortSignal.timeout); anything else (refused, reset, DNS, TLS) → NETWORK.
 */
export function failure(err: unknown, what: string, signal: AbortSignal | undefined): BootosError {
  if (isBootosError(err)) return err;
  if (signal?.aborted) {
    const reason = signal.reason as { name?: unknown; message?: unknown } | undefined;
    if (reason?.name === 'TimeoutError') return new BootosError('TIMEOUT', `${what}: ${String(reason.message ?? 'timed out')}`, { cause: err });
    return aborted(signal);
  }
  // node-fetch says "request to URL failed, reason: connect ECONNREFUSED …": the URL is in `what` already.
  const message = ((err as Error)?.message ?? String(err)).replace(/^request to \S+ failed, reason: /, '');
  return new BootosError('NETWORK', `${what}: ${message}`, { cause: err });
}

/** Stops reading a response: its socket is closed (nothing more of it is wanted). */
export function destroyBody(response: Response): void {
  (response as SentResponse).cleanup?.();
  (response.body as unknown as Readable | null)?.destroy();
}

/** Reads a response's body to its end and ignores it, so that the connection can be reused; a broken body is no error here. */
export async function discard(response: Response): Promise<void> {
  try {
    for await (const _ of response.body ?? []) void _;
  } catch {
    // The body is of no interest.
  } finally {
    (response as SentResponse).cleanup?.();
  }
}

/** The whole body, refused past `maxBytes` whether declared or received (endless data): DOCUMENT_TOO_LARGE names `what`. */
export async function readCapped(response: Response, maxBytes: number, what: string, options: BodyOptions): Promise<Buffer> {
  if (Number(response.headers.get('content-length') ?? NaN) > maxBytes) {
    destroyBody(response);
    throw tooLarge(what, maxBytes);
  }
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of bodyChunks(response, options)) {
    length += chunk.length;
    if (length > maxBytes) {
      destroyBody(response);
      throw tooLarge(what, maxBytes);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, length);
}

/**
 * The body's chunks. The body flows into a small queue (paused above queueBytes) so that every byte that reached
 * this process before a connection broke is still handed over: a resume then starts exactly where the received bytes
 * end. Waiting longer than idleTimeoutMs for the next bytes cuts the connection (TIMEOUT).
 */
export async function* bodyChunks(response: Response, options: BodyOptions): AsyncGenerator<Buffer> {
  const { cleanup, callerSignal: signal } = response as SentResponse;
  const what = response.url;
  const body = response.body as unknown as Readable | null;
  if (!body) {
    cleanup?.();
    return;
  }
  const queue: Buffer[] = [];
  let queued = 0;
  let ended = false;
  let broken: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    queue.push(chunk);
    queued += chunk.length;
    if (queued >= options.queueBytes) body.pause();
    notify();
  };
  const onEnd = () => {
    ended = true;
    notify();
  };
  const onError = (err: unknown) => {
    broken ??= err;
    notify();
  };
  const onClose = () => {
    if (!ended) broken ??= new Error('the connection closed before the body ended');
    notify();
  };
  body.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  try {
    for (;;) {
      while (queue.length) {
        const chunk = queue.shift()!;
        queued -= chunk.length;
        if (queued < options.queueBytes && body.isPaused() && !ended) body.resume();
        yield chunk;
      }
      if (ended) return;
      if (broken) throw failure(broken, what, signal);
      let idle = false;
      await new Promise<void>((resolve) => {
        // When the timer fires, the verdict waits for setImmediate, which runs after the event loop's I/O phase: on a
        // starved process (a loaded device) bytes that arrived meanwhile are taken first instead of a false TIMEOUT.
        const timer = setTimeout(() => {
          setImmediate(() => {
            idle = true;
            resolve();
          });
        }, options.idleTimeoutMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (idle && queue.length === 0 && !ended && !broken) {
        throw new BootosError('TIMEOUT', `${what}: no bytes for ${options.idleTimeoutMs} ms`);
      }
    }
  } finally {
    wake = null;
    body.off('data', onData).off('end', onEnd).off('close', onClose);
    // Keep an error listener: destroying the body may still emit one.
    body.on('error', () => {});
    cleanup?.();
    if (!ended) body.destroy();
  }
}
