/**
 * The requests a channel has sent and not yet had answered. Replies are matched by a 32-bit id, not by order,
 * because a handler may answer a slow request after a fast one; every request has its own deadline so a lost or
 * never-sent reply costs the caller a timeout, not a hang; and a reply that comes after its deadline finds no
 * entry and is dropped. When the channel closes, every waiting request is rejected at once.
 */

import { ERROR_STATUS, SwarmletError, type ErrorCode } from '../errors.ts';
import type { RemoteFailure } from './envelope.ts';
import type { TransportError } from './errors.ts';

/** The peer's request handler failed; `code` is its stable code when it gave one of ours, else 'internal'. */
export class RemoteError extends SwarmletError {
  readonly remoteCode: string | undefined;

  constructor(failure: RemoteFailure) {
    super(failure.code !== undefined && failure.code in ERROR_STATUS ? (failure.code as ErrorCode) : 'internal', failure.message);
    this.name = 'RemoteError';
    this.remoteCode = failure.code;
  }
}

interface Waiting {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests {
  readonly #waiting = new Map<number, Waiting>();
  #lastId = 0;

  /**
   * Registers a request and calls `send(id)` to put it on the wire; the promise settles with the reply, the
   * deadline's error, or what `send` threw.
   */
  start(timeoutMs: number, onTimeout: () => TransportError, send: (id: number) => void): Promise<unknown> {
    do this.#lastId = (this.#lastId + 1) % 2 ** 32; while (this.#waiting.has(this.#lastId));
    const id = this.#lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(onTimeout());
      }, timeoutMs);
      this.#waiting.set(id, { resolve, reject, timer });
      try {
        send(id);
      } catch (err) {
        this.#settle(id)?.reject(err as Error);
      }
    });
  }

  /** Settles request `id` with a reply; false if no request with that id waits (it timed out, or never was). */
  resolve(id: number, value: unknown): boolean {
    const waiting = this.#settle(id);
    waiting?.resolve(value);
    return waiting !== undefined;
  }

  /** Settles request `id` with the peer's failure; false if no request with that id waits. */
  reject(id: number, failure: RemoteFailure): boolean {
    const waiting = this.#settle(id);
    waiting?.reject(new RemoteError(failure));
    return waiting !== undefined;
  }

  /** Rejects every waiting request (the channel closed). */
  rejectAll(error: () => Error): void {
    const all = [...this.#waiting.keys()];
    for (const id of all) this.#settle(id)?.reject(error());
  }

  #settle(id: number): Waiting | undefined {
    const waiting = this.#waiting.get(id);
    if (!waiting) return undefined;
    this.#waiting.delete(id);
    clearTimeout(waiting.timer);
    return waiting;
  }
}
