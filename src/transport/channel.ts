/**
 * WsChannel, the SecureChannel over one authenticated WebSocket after the handshake: every ws message is exactly one sealed
 * frame, opened by the Session in order. The first thing wrong — a text message, a frame that fails to open, an
 * envelope that does not parse, a ws protocol error — closes the channel with a close code naming the reason and
 * one log line naming the peer and its address: a broken peer is visible at once, and nothing it sends after the
 * first bad frame is trusted.
 *
 * Messages, requests and replies travel in control frames (envelope.ts), byte payloads in bulk frames; a payload
 * may be handed over in parts (a header and its data), sealed as one without joining them first. Sends never block:
 * control messages are small and go straight to the socket; bulk senders are told to wait by sendBytes answering
 * false above the high-water mark and resume on onDrain, so a stream cannot fill memory. Above maxBufferedBytes the
 * peer is taken to have stopped reading and the channel is closed ('stalled').
 *
 * Frames sent in one tick leave in one write: the socket is corked at the first send of a tick and uncorked on
 * the next. A dispatcher answering a burst of status updates, or a stream refilling its window, then costs one
 * syscall instead of one per frame; measured on loopback, small messages went from about 55,000 to 90,000 a
 * second and 64 KiB bulk frames gained too. The delay ends as soon as the sending callback returns (nextTick).
 * A received frame is freed as soon as it is opened, when ws assembled it in a buffer of its own (frames.ts says
 * why): the payload handed on is a separate buffer, so only the ciphertext goes.
 *
 * Liveness is each end's own job: a ws ping every keepaliveMs, and a channel on which nothing at all (frame,
 * ping or pong) has been heard for keepaliveMisses periods is closed. That finds half-open connections — a peer
 * that lost power, a NAT that forgot the flow — which TCP alone would keep for hours.
 *
 * Handlers run synchronously as frames arrive. Until the first handler of a kind (message, request, bytes) is
 * registered, frames of that kind are held (up to 1024 of them and maxBufferedBytes) and delivered to it on
 * registration: a caller that sets its handlers after an await — checking the peer against its registry first,
 * say — loses nothing, and a request is not answered "no handler" only because it came early. After that, a
 * frame with no handler is dropped (a request gets a failure reply). A handler that throws is logged; it does
 * not close the channel.
 */

import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import { SwarmletError, describeError } from '../errors.ts';
import type { Logger } from '../util/logger.ts';
import { CLOSE_GOING_AWAY, CLOSE_NORMAL } from './close-codes.ts';
import type { ChannelKind } from './kinds.ts';
import type { TransportLimits } from './limits.ts';
import { decodeEnvelope, encodeEnvelope, type Envelope, type RemoteFailure } from './envelope.ts';
import { PendingRequests } from './requests.ts';
import type { ChannelStats, Disposer, RequestHandler, SecureChannel } from './secure-channel.ts';
import { TransportError } from './errors.ts';
import { FRAME_OVERHEAD, FRAME_TYPE, payloadLength, releaseBuffer, type FrameType, type Payload } from './frames.ts';
import type { VerifiedPeer } from './handshake.ts';
import type { Session } from './session.ts';
import { closeSoon, closeWithError, guard, peerCloseError, protocolError, toBytes } from './ws-link.ts';

export interface ChannelInit {
  ws: WebSocket;
  /** The ws's TCP socket, corked for the rest of a tick at each tick's first send. */
  socket: Socket;
  kind: ChannelKind;
  peer: VerifiedPeer;
  remoteAddress: string;
  session: Session;
  limits: TransportLimits;
  log: Logger;
  now?: () => number;
}

/** Frames of one kind held until its first handler arrives; null once it has. */
type Held = { deliver(): void; size: number }[] | null;
const MAX_HELD_FRAMES = 1024;
/** Bulk frames at least this big are sealed into the buffers of frames already written (see #spares). */
const REUSE_MIN_FRAME_BYTES = 16 * 1024;

export class WsChannel implements SecureChannel {
  readonly kind: ChannelKind;
  readonly peer: VerifiedPeer;
  readonly remoteAddress: string;
  readonly #ws: WebSocket;
  readonly #socket: Socket;
  #corked = false;
  readonly #session: Session;
  readonly #limits: TransportLimits;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #messageHandlers = new Set<(message: unknown) => void>();
  readonly #bytesHandlers = new Set<(bytes: Uint8Array) => void>();
  readonly #drainHandlers = new Set<() => void>();
  readonly #closeHandlers = new Set<(reason: Error | null) => void>();
  readonly #requests = new PendingRequests();
  readonly #stats = { framesIn: 0, framesOut: 0, bytesIn: 0, bytesOut: 0 };
  #requestHandler: RequestHandler | null = null;
  readonly #held: { message: Held; request: Held; bytes: Held } = { message: [], request: [], bytes: [] };
  #heldBytes = 0;
  #droppedHeld = false;
  #closed = false;
  #closeReason: Error | null = null;
  #buffered = 0;
  #wantDrain = false;
  /**
   * Buffers of bulk frames the socket has taken, for the next frames of the same size: a stream sends one size over
   * and over, and a fresh 64 KiB buffer for each frame, later collected, cost about 2 µs of a seal's 20 and most of
   * the sending thread's garbage collections. At most the high-water mark's worth is kept.
   */
  readonly #spares: Uint8Array[] = [];
  #spareBytes = 0;
  #silentPeriods = 0;
  #lastActivity: number;
  #keepalive: NodeJS.Timeout | undefined;
  #idle: NodeJS.Timeout | undefined;

  constructor(init: ChannelInit) {
    this.kind = init.kind;
    this.peer = init.peer;
    this.remoteAddress = init.remoteAddress;
    this.#ws = init.ws;
    this.#socket = init.socket;
    this.#session = init.session;
    this.#limits = init.limits;
    this.#log = init.log;
    this.#now = init.now ?? Date.now;
    this.#lastActivity = this.#now();
    guard(this.#ws);
    this.#ws.on('message', (data, isBinary) => this.#receive(data, isBinary));
    this.#ws.on('ping', () => { this.#silentPeriods = 0; });
    this.#ws.on('pong', () => { this.#silentPeriods = 0; });
    this.#ws.on('error', (err) => this.#fail(protocolError(err)));
    this.#ws.on('close', (code, reason) => this.#peerClosed(code, reason.toString()));
    if (this.#limits.keepaliveMs > 0) {
      this.#keepalive = setInterval(() => this.#tick(), this.#limits.keepaliveMs);
      this.#keepalive.unref();
    }
    if (this.#limits.idleTimeoutMs > 0) this.#armIdle(this.#limits.idleTimeoutMs);
    if (this.#ws.readyState !== this.#ws.OPEN) queueMicrotask(() => this.#peerClosed(1006, ''));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get bufferedAmount(): number {
    return this.#buffered;
  }

  send(message: unknown): boolean {
    if (this.#closed) return false;
    this.#sendEnvelope({ kind: 'message', body: message });
    return !this.#closed;
  }

  sendBytes(bytes: Payload): boolean {
    if (this.#closed) return false;
    this.#write(FRAME_TYPE.bulk, bytes);
    if (this.#closed) return false;
    if (this.#buffered < this.#limits.highWaterMarkBytes) return true;
    this.#wantDrain = true;
    return false;
  }

  request(message: unknown, timeoutMs: number): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closedError());
    return this.#requests.start(
      timeoutMs,
      () => new TransportError('timeout', `no reply from ${this.#describePeer()} within ${timeoutMs} ms`),
      (id) => this.#sendEnvelope({ kind: 'request', id, body: message }),
    );
  }

  onRequest(handler: RequestHandler): Disposer {
    this.#requestHandler = handler;
    this.#release('request');
    return () => {
      if (this.#requestHandler === handler) this.#requestHandler = null;
    };
  }

  onMessage(handler: (message: unknown) => void): Disposer {
    const dispose = this.#subscribe(this.#messageHandlers, handler);
    this.#release('message');
    return dispose;
  }

  onBytes(handler: (bytes: Uint8Array) => void): Disposer {
    const dispose = this.#subscribe(this.#bytesHandlers, handler);
    this.#release('bytes');
    return dispose;
  }

  onDrain(handler: () => void): Disposer {
    return this.#subscribe(this.#drainHandlers, handler);
  }

  onClose(handler: (reason: Error | null) => void): Disposer {
    if (this.#closed) {
      let live = true;
      queueMicrotask(() => { if (live) handler(this.#closeReason); });
      return () => { live = false; };
    }
    return this.#subscribe(this.#closeHandlers, handler);
  }

  close(reason = 'closed by this node'): void {
    if (this.#closed) return;
    closeSoon(this.#ws, CLOSE_NORMAL, reason);
    this.#finish(null);
  }

  /** Closes with 1001 (going away): the node is shutting down, not refusing the peer. */
  goAway(reason: string): void {
    if (this.#closed) return;
    closeSoon(this.#ws, CLOSE_GOING_AWAY, reason);
    this.#finish(null);
  }

  stats(): ChannelStats {
    return { ...this.#stats, bufferedBytes: this.#buffered, aead: this.#session.aead };
  }

  #subscribe<T>(set: Set<T>, handler: T): Disposer {
    if (!this.#closed) set.add(handler);
    return () => { set.delete(handler); };
  }

  #describePeer(): string {
    return `node ${this.peer.nodeId} at ${this.remoteAddress}`;
  }

  #closedError(): TransportError {
    return new TransportError('closed', `the ${this.kind} channel with ${this.#describePeer()} is closed${this.#closeReason ? ` (${this.#closeReason.message})` : ''}`, { cause: this.#closeReason ?? undefined });
  }

  #sendEnvelope(envelope: Envelope): void {
    this.#write(FRAME_TYPE.control, encodeEnvelope(envelope));
  }

  /** Seals and sends one frame. Throws only for the caller's mistakes (oversized); a closed channel drops it. */
  #write(type: FrameType, payload: Payload): void {
    const length = payloadLength(payload);
    if (length > this.#limits.maxPayloadBytes) {
      throw new TransportError('oversized', `a ${length}-byte ${type === FRAME_TYPE.bulk ? 'payload' : 'encoded message'} is over the ${this.#limits.maxPayloadBytes}-byte frame limit: split it`);
    }
    if (this.#closed) return;
    const reuse = type === FRAME_TYPE.bulk && FRAME_OVERHEAD + length >= REUSE_MIN_FRAME_BYTES;
    const frame = this.#session.seal(type, payload, reuse ? this.#spare(FRAME_OVERHEAD + length) : undefined);
    const size = frame.length;
    this.#buffered += size;
    this.#stats.framesOut++;
    this.#stats.bytesOut += size;
    this.#lastActivity = this.#now();
    if (!this.#corked) {
      this.#corked = true;
      this.#socket.cork();
      process.nextTick(this.#uncork);
    }
    this.#ws.send(frame, (err) => this.#written(size, reuse && !err ? frame : null));
    if (this.#buffered > this.#limits.maxBufferedBytes) {
      this.#fail(new TransportError('stalled', `${this.#buffered} bytes wait to be sent to ${this.#describePeer()}, over the ${this.#limits.maxBufferedBytes}-byte limit: it stopped reading`));
    }
  }

  readonly #uncork = () => {
    this.#corked = false;
    this.#socket.uncork();
  };

  /** A buffer for a frame of `size` bytes from the spares, if one fits; a new size (the stream changed) drops them. */
  #spare(size: number): Uint8Array | undefined {
    const spare = this.#spares.pop();
    if (!spare) return undefined;
    this.#spareBytes -= spare.length;
    if (spare.length === size) return spare;
    this.#spares.length = 0;
    this.#spareBytes = 0;
    return undefined;
  }

  /** The socket has taken a frame (`reusable`: a bulk frame whose buffer may be sealed into again). */
  #written(size: number, reusable: Uint8Array | null): void {
    if (reusable && !this.#closed && this.#spareBytes + size <= this.#limits.highWaterMarkBytes) {
      this.#spares.push(reusable);
      this.#spareBytes += size;
    }
    this.#buffered -= size;
    if (!this.#wantDrain || this.#closed || this.#buffered > this.#limits.highWaterMarkBytes / 2) return;
    this.#wantDrain = false;
    this.#emit(this.#drainHandlers, undefined, 'drain');
  }

  #receive(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#closed) return;
    if (!isBinary) {
      this.#fail(new TransportError('malformed', 'the peer sent a text message; only sealed binary frames are allowed'));
      return;
    }
    const frame = toBytes(data);
    this.#stats.framesIn++;
    this.#stats.bytesIn += frame.length;
    const opened = this.#session.open(frame);
    if (!opened.ok) {
      this.#fail(opened.error);
      return;
    }
    // The payload was decrypted into a buffer of its own, ws keeps nothing of a message it has delivered, and this
    // channel is the only listener on its ws: nobody else holds the frame.
    releaseBuffer(frame);
    this.#silentPeriods = 0;
    this.#lastActivity = this.#now();
    const { payload } = opened.value;
    if (opened.value.type === FRAME_TYPE.bulk) {
      if (this.#bytesHandlers.size === 0 && this.#hold('bytes', payload.length, () => this.#emit(this.#bytesHandlers, payload, 'bytes'))) return;
      this.#emit(this.#bytesHandlers, payload, 'bytes');
      return;
    }
    const envelope = decodeEnvelope(payload);
    if (!envelope.ok) {
      this.#fail(envelope.error);
      return;
    }
    this.#dispatch(envelope.value, payload.length);
  }

  #dispatch(envelope: Envelope, size: number): void {
    switch (envelope.kind) {
      case 'message': {
        const { body } = envelope;
        if (this.#messageHandlers.size === 0 && this.#hold('message', size, () => this.#emit(this.#messageHandlers, body, 'message'))) return;
        this.#emit(this.#messageHandlers, body, 'message');
        return;
      }
      case 'request': {
        const { id, body } = envelope;
        if (!this.#requestHandler && this.#hold('request', size, () => this.#serve(id, body))) return;
        this.#serve(id, body);
        return;
      }
      case 'reply':
      case 'failure': {
        const known = envelope.kind === 'reply' ? this.#requests.resolve(envelope.id, envelope.body) : this.#requests.reject(envelope.id, envelope.error);
        if (!known) this.#log.debug(`transport: a reply from ${this.#describePeer()} to request ${envelope.id}, which timed out or never was`);
      }
    }
  }

  /** Holds a frame while its kind has never had a handler; false once it has (deliver or drop it now). */
  #hold(kind: 'message' | 'request' | 'bytes', size: number, deliver: () => void): boolean {
    const queue = this.#held[kind];
    if (!queue) return false;
    if (queue.length >= MAX_HELD_FRAMES || this.#heldBytes + size > this.#limits.maxBufferedBytes) {
      if (!this.#droppedHeld) this.#log.warn(`transport: dropping ${kind} frames from ${this.#describePeer()}: no ${kind} handler was registered on the ${this.kind} channel while ${queue.length} waited`);
      this.#droppedHeld = true;
      return true;
    }
    queue.push({ deliver, size });
    this.#heldBytes += size;
    return true;
  }

  /** A handler of this kind arrived: what was held is delivered (in order, after the caller's registration returns). */
  #release(kind: 'message' | 'request' | 'bytes'): void {
    const queue = this.#held[kind];
    this.#held[kind] = null;
    if (!queue?.length) return;
    queueMicrotask(() => {
      for (const { deliver, size } of queue) {
        this.#heldBytes -= size;
        if (!this.#closed) deliver();
      }
    });
  }

  #serve(id: number, body: unknown): void {
    const handler = this.#requestHandler;
    if (!handler) {
      this.#replyFailure(id, new SwarmletError('unavailable', `no request handler on the ${this.kind} channel`));
      return;
    }
    let result: unknown;
    try {
      result = handler(body);
    } catch (err) {
      this.#replyFailure(id, err);
      return;
    }
    if (result instanceof Promise) result.then((value) => this.#reply(id, value), (err) => this.#replyFailure(id, err));
    else this.#reply(id, result);
  }

  #reply(id: number, value: unknown): void {
    if (this.#closed) return;
    try {
      this.#sendEnvelope({ kind: 'reply', id, body: value });
    } catch (err) {
      this.#log.warn(`transport: the reply to request ${id} from ${this.#describePeer()} could not be sent: ${describeError(err)}`);
      this.#replyFailure(id, new SwarmletError('internal', `the reply could not be sent: ${describeError(err)}`));
    }
  }

  #replyFailure(id: number, err: unknown): void {
    if (this.#closed) return;
    const failure: RemoteFailure = { message: describeError(err) };
    if (err instanceof SwarmletError) failure.code = err.code;
    try {
      this.#sendEnvelope({ kind: 'failure', id, error: failure });
    } catch (sendError) {
      this.#log.warn(`transport: the failure reply to request ${id} from ${this.#describePeer()} could not be sent: ${describeError(sendError)}`);
    }
  }

  #emit<T>(handlers: Set<(value: T) => void>, value: T, what: string): void {
    for (const handler of handlers) {
      try {
        handler(value);
      } catch (err) {
        this.#log.error(`transport: a ${what} handler on the ${this.kind} channel with ${this.#describePeer()} threw: ${describeError(err)}`);
      }
    }
  }

  #tick(): void {
    if (this.#closed) return;
    if (this.#silentPeriods >= this.#limits.keepaliveMisses) {
      this.#fail(new TransportError('timeout', `nothing heard from ${this.#describePeer()} for ${this.#silentPeriods} keepalive periods of ${this.#limits.keepaliveMs} ms: the peer or the path to it is down`));
      return;
    }
    this.#silentPeriods++;
    this.#ws.ping();
  }

  #armIdle(ms: number): void {
    this.#idle = setTimeout(() => {
      const quiet = this.#now() - this.#lastActivity;
      if (quiet < this.#limits.idleTimeoutMs) {
        this.#armIdle(this.#limits.idleTimeoutMs - quiet);
        return;
      }
      this.#fail(new TransportError('timeout', `no traffic with ${this.#describePeer()} for ${this.#limits.idleTimeoutMs} ms (idle timeout)`), 'info');
    }, ms);
    this.#idle.unref();
  }

  /** This side ends the channel because of `error`: logged, sent to the peer as the close code, given to onClose. */
  #fail(error: TransportError, level: 'warn' | 'info' = 'warn'): void {
    if (this.#closed) return;
    this.#log[level](`transport: closing the ${this.kind} channel with ${this.#describePeer()}: ${error.reason}: ${error.message}`);
    closeWithError(this.#ws, error);
    this.#finish(error);
  }

  #peerClosed(code: number, text: string): void {
    if (this.#closed) return;
    const error = peerCloseError(code, text, `${this.#describePeer()} closed the ${this.kind} channel`);
    if (error) this.#log.info(`transport: ${error.message}`);
    else this.#log.debug(`transport: ${this.#describePeer()} closed the ${this.kind} channel (${code}${text ? `: ${text}` : ''})`);
    this.#finish(error);
  }

  #finish(reason: TransportError | null): void {
    this.#closed = true;
    this.#closeReason = reason;
    clearInterval(this.#keepalive);
    clearTimeout(this.#idle);
    this.#session.close(reason ?? undefined);
    this.#requests.rejectAll(() => this.#closedError());
    const handlers = [...this.#closeHandlers];
    this.#messageHandlers.clear();
    this.#bytesHandlers.clear();
    this.#drainHandlers.clear();
    this.#closeHandlers.clear();
    this.#held.message = this.#held.request = this.#held.bytes = null;
    this.#spares.length = 0;
    this.#spareBytes = 0;
    for (const handler of handlers) {
      try {
        handler(reason);
      } catch (err) {
        this.#log.error(`transport: a close handler on the ${this.kind} channel with ${this.#describePeer()} threw: ${describeError(err)}`);
      }
    }
  }
}
