/**
 * The life of one forwarded connection, whatever moves its bytes: a client socket joined to a container socket, or
 * either to a mesh stream to another node (socket-splice.ts has both splicers). Both ends of the mesh follow the
 * same rules:
 *
 * - backpressure both ways: a direction stops reading its source while the destination holds what it was given,
 *   so a slow reader costs a bounded buffer, never a growing one;
 * - half-close: a side's end (FIN, or the stream's `end`) ends the other side's writing; the connection is over
 *   when both directions have ended and every byte was taken;
 * - a reset (error, or a side closing before both directions ended) destroys the other side too;
 * - an idle timeout: no bytes either way for that long (a client that vanished without a FIN) closes both;
 * - a hard bound on what a destination may hold: a stream that ignores backpressure is closed, not buffered.
 */

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface SpliceOptions {
  idleTimeoutMs: number;
  maxBufferedBytes: number;
}

/** How a spliced connection ended: cleanly (both directions ended) or not, and why. */
export interface SpliceEnd {
  clean: boolean;
  reason: string | null;
}

/** A spliced connection in progress. */
export interface Splice {
  /** Settles when both sides are closed. */
  readonly done: Promise<SpliceEnd>;
  /** Closes both sides now (a reset): the listener stops. */
  abort(reason: string): void;
}

/** What the two directions of one spliced connection share, whatever moves their bytes. */
export interface SpliceShared {
  /** performance.now() when a byte last moved either way. */
  lastActivity: number;
  readonly maxBufferedBytes: number;
  abort(reason: string): void;
}

/**
 * The life of a spliced pair, whatever moves its bytes (`wire`, once per direction, which must keep
 * `shared.lastActivity` current and pass each side's end on): the idle timeout, an abort as a reset of both sides,
 * an error or an early close as an abort, and the end once both sides have closed.
 */
export function spliceEnds<S extends Duplex>(a: S, b: S, options: SpliceOptions, wire: (from: S, to: S, shared: SpliceShared) => void): Splice {
  let reason: string | null = null;
  let idle: NodeJS.Timeout | undefined;
  let settle!: (end: SpliceEnd) => void;
  const done = new Promise<SpliceEnd>((resolve) => (settle = resolve));

  const abort = (why: string) => {
    reason ??= why;
    reset(a);
    reset(b);
  };
  const shared: SpliceShared = { lastActivity: performance.now(), maxBufferedBytes: options.maxBufferedBytes, abort };
  const armIdle = (ms: number) => {
    idle = setTimeout(() => {
      const quiet = performance.now() - shared.lastActivity;
      if (quiet >= options.idleTimeoutMs) abort(`no bytes either way for ${options.idleTimeoutMs} ms`);
      else armIdle(options.idleTimeoutMs - quiet);
    }, ms);
    idle.unref();
  };

  let closed = 0;
  for (const [from, to] of [[a, b], [b, a]] as const) {
    from.on('error', (err: Error) => abort(err.message));
    from.on('close', () => {
      // Closed with both directions over is the normal end; anything else resets the other side.
      if (!(from.readableEnded && from.writableFinished)) abort(reason ?? 'one side closed before the connection ended');
      if (++closed === 2) {
        clearTimeout(idle);
        settle({ clean: reason === null, reason });
      }
    });
    wire(from, to, shared);
  }
  armIdle(options.idleTimeoutMs);
  return { done, abort };
}

/**
 * Ends a side as a reset: a socket sends RST, so a client holding its half open learns the connection was cut
 * instead of waiting for more; a mesh stream closes its channel, which the other node takes as a reset.
 */
export function reset(stream: Duplex): void {
  if (stream instanceof Socket && !stream.destroyed && !stream.connecting) stream.resetAndDestroy();
  else stream.destroy();
}
