/**
 * One stream on a mux as its user sees it: a StreamChannel, the part of SecureChannel a stream's users touch
 * (bytes, messages, drain, close), so the same code serves a stream on a channel of its own or on a mux. The stream
 * keeps its handlers, and what arrives before the first of each kind (up to MAX_HELD_BYTES or MAX_HELD_FRAMES; more
 * resets the stream); everything it sends goes through its mux (MuxSink), which owns the wire and the queue.
 */

import { describeError } from '../../errors.ts';
import { TransportError } from '../../transport/endpoint.ts';
import type { Disposer } from '../../transport/secure-channel.ts';
import type { Logger } from '../../util/logger.ts';
import { MAX_STREAM_PAYLOAD_BYTES, type Control } from './wire.ts';

/**
 * What a stream's users need of a channel: ChannelStream (mesh), MeshStreamServer, the UDP relay and ingress, and
 * the log streams use exactly these. A SecureChannel is one; so is a stream on a StreamMux.
 */
export interface StreamChannel {
  readonly peer: { readonly nodeId: string };
  readonly closed: boolean;
  /** A control message (JSON) in order with the bytes; false when the stream is closed. */
  send(message: unknown): boolean;
  /**
   * Bytes; false when closed, or when the sender should wait for onDrain (the bytes were taken). The caller may
   * reuse `bytes` once this returns: whoever keeps them longer copies them.
   */
  sendBytes(bytes: Uint8Array): boolean;
  /** Byte payloads in order; those that came before the first handler are delivered to it. */
  onBytes(handler: (bytes: Uint8Array) => void): Disposer;
  /** Messages in order; those that came before the first handler are delivered to it. */
  onMessage(handler: (message: unknown) => void): Disposer;
  onDrain(handler: () => void): Disposer;
  /** Called once: null for a clean close, the reason otherwise. After the close, it is called at once (async). */
  onClose(handler: (reason: Error | null) => void): Disposer;
  close(reason?: string): void;
}

export type StreamState = 'opening' | 'accepting' | 'open' | 'closed';
/** A frame held for the channel: data (header and payload in one buffer of its own), or one of the stream's messages. */
export type Outgoing = { frame: Uint8Array } | { control: Control };

/** What a stream asks of its mux (closures, so the mux's state stays private). */
export interface MuxSink {
  data(stream: MuxStream, bytes: Uint8Array): boolean;
  message(stream: MuxStream, message: unknown): boolean;
  close(stream: MuxStream, reason: string | undefined): void;
}

/** What a stream holds before its first bytes or message handler; more resets the stream. */
export const MAX_HELD_BYTES = 4 << 20;
export const MAX_HELD_FRAMES = 1_024;

/** One stream on a mux, as its user sees it; the mux drives the rest through its public fields and methods. */
export class MuxStream implements StreamChannel {
  readonly id: number;
  readonly peer: { readonly nodeId: string };
  state: StreamState;
  /** Entries of this stream in the mux's queue: its messages must wait behind them. */
  queued = 0;
  /** What the handler sent before its accept went out (serving side, while accepting). */
  pending: Outgoing[] | null = null;
  /** The peer or the mux ended it: its queued frames are dropped rather than sent. */
  discard = false;
  /** sendBytes answered false while it was accepting: onDrain is owed once the accept is out. */
  owedDrain = false;
  /** The opener's side, while it waits for accept or refuse. */
  opening: { resolve(reply: unknown): void; reject(error: Error): void } | null = null;
  readonly #sink: MuxSink;
  readonly #bytesHandlers = new Set<(bytes: Uint8Array) => void>();
  readonly #messageHandlers = new Set<(message: unknown) => void>();
  readonly #drainHandlers = new Set<() => void>();
  readonly #closeHandlers = new Set<(reason: Error | null) => void>();
  #heldBytes: Uint8Array[] | null = [];
  #heldMessages: unknown[] | null = [];
  #held = 0;
  #closeReason: Error | null = null;
  readonly #log: Logger;

  constructor(id: number, state: StreamState, peer: { readonly nodeId: string }, sink: MuxSink, log: Logger) {
    this.id = id;
    this.state = state;
    this.peer = peer;
    this.#sink = sink;
    this.#log = log;
    if (state === 'accepting') this.pending = [];
  }

  get closed(): boolean {
    return this.state === 'closed';
  }

  send(message: unknown): boolean {
    return !this.closed && this.#sink.message(this, message);
  }

  sendBytes(bytes: Uint8Array): boolean {
    if (bytes.length > MAX_STREAM_PAYLOAD_BYTES) throw new TransportError('oversized', `a ${bytes.length}-byte payload is over a multiplexed stream's ${MAX_STREAM_PAYLOAD_BYTES}-byte frame limit: split it`);
    return !this.closed && this.#sink.data(this, bytes);
  }

  onBytes(handler: (bytes: Uint8Array) => void): Disposer {
    const dispose = this.#subscribe(this.#bytesHandlers, handler);
    const held = this.#heldBytes;
    this.#heldBytes = null;
    if (held?.length) queueMicrotask(() => held.forEach((bytes) => this.#emit(this.#bytesHandlers, bytes)));
    return dispose;
  }

  onMessage(handler: (message: unknown) => void): Disposer {
    const dispose = this.#subscribe(this.#messageHandlers, handler);
    const held = this.#heldMessages;
    this.#heldMessages = null;
    if (held?.length) queueMicrotask(() => held.forEach((message) => this.#emit(this.#messageHandlers, message)));
    return dispose;
  }

  onDrain(handler: () => void): Disposer {
    return this.#subscribe(this.#drainHandlers, handler);
  }

  onClose(handler: (reason: Error | null) => void): Disposer {
    if (this.closed) {
      let live = true;
      queueMicrotask(() => live && handler(this.#closeReason));
      return () => (live = false);
    }
    return this.#subscribe(this.#closeHandlers, handler);
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.#sink.close(this, reason);
    this.ended(null);
  }

  /** Bytes from the peer; false when they would overflow what may be held before a handler. */
  deliverBytes(bytes: Uint8Array): boolean {
    if (this.#heldBytes) return this.#hold(this.#heldBytes, bytes, bytes.length);
    this.#emit(this.#bytesHandlers, bytes);
    return true;
  }

  deliverMessage(message: unknown): boolean {
    if (this.#heldMessages) return this.#hold(this.#heldMessages, message, 0);
    this.#emit(this.#messageHandlers, message);
    return true;
  }

  drained(): void {
    if (!this.closed) this.#emit(this.#drainHandlers, undefined);
  }

  /** The stream is over, at this end's request (null) or for `reason`: close handlers run, nothing more is delivered. */
  ended(reason: Error | null): void {
    if (this.closed) return;
    this.state = 'closed';
    this.#closeReason = reason;
    const handlers = [...this.#closeHandlers];
    this.#bytesHandlers.clear();
    this.#messageHandlers.clear();
    this.#drainHandlers.clear();
    this.#closeHandlers.clear();
    this.#heldBytes = this.#heldMessages = null;
    this.pending = null;
    for (const handler of handlers) this.#call(handler, reason);
  }

  #hold<T>(queue: T[], item: T, size: number): boolean {
    if (queue.length >= MAX_HELD_FRAMES || this.#held + size > MAX_HELD_BYTES) return false;
    queue.push(item);
    this.#held += size;
    return true;
  }

  #subscribe<T>(set: Set<T>, handler: T): Disposer {
    if (!this.closed) set.add(handler);
    return () => void set.delete(handler);
  }

  #emit<T>(handlers: Set<(value: T) => void>, value: T): void {
    for (const handler of handlers) this.#call(handler, value);
  }

  #call<T>(handler: (value: T) => void, value: T): void {
    try {
      handler(value);
    } catch (err) {
      this.#log.error(`stream mux: a handler of stream ${this.id} with node ${this.peer.nodeId} threw: ${describeError(err)}`);
    }
  }
}
