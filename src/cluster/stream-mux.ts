/**
 * Many streams over one bulk channel between two nodes, as HTTP/2 carries many requests over one connection.
 * PeerNetwork.openStream dials a channel per stream — a TCP connection, a WebSocket and a handshake each — which
 * measured +35 ms per forwarded connection across hosts and capped new ones at the transport's handshake rate
 * (20/s from one address). A StreamMux runs on a bulk channel that stays up; opening a stream on it is one round
 * trip of two small messages.
 *
 * A multiplexed stream is a StreamChannel: the part of SecureChannel a stream's users touch (bytes, messages,
 * drain, close), so the same code serves a stream on a channel of its own or on a mux. Either side may open
 * streams; the other side's handler for the request's `type` accepts (its return value is the opener's reply) or
 * refuses (its throw's message goes back), as with PeerNetwork.serveStreams. Nothing stays open after a refusal or
 * a timeout.
 *
 * Wire format, on the shared channel:
 *   bytes     sendBytes frames: kind u8 (1 = data) | stream id u32 big-endian | the stream's payload. The payload
 *             is copied once, behind the header, on the way out; the receiver hands on a view, copying nothing.
 *   messages  JSON {s: stream id, t: ...}:
 *               {t: 'open', r: request}          the opener asks for a stream
 *               {t: 'accept', r: reply}          the handler took it
 *               {t: 'refuse', e: {message, code?}} the handler refused (or closed it before answering)
 *               {t: 'msg', m: message}           a stream's own control message (StreamChannel.send)
 *               {t: 'close', e?: reason}         the stream is over; with a reason, the other end's onClose has it
 *             and {s: 0, t: 'close', e: reason}: the whole mux is closing, and why.
 * Stream ids are odd for the side that dialled the channel and even for the other (HTTP/2's rule), so both sides
 * open streams without agreeing first, and only grow: an id is never used twice on one mux. A mux whose ids are
 * used up opens no more streams and closes once its last stream ends; the pool dials a fresh one.
 *
 * Backpressure: streams share the channel's send buffer. While the channel is over its high-water mark the mux
 * holds further data frames in its own queue instead of handing them to the channel (whose stall guard would
 * otherwise trip when a thousand streams each add a chunk), a stream's sendBytes answers false, and every stream
 * told so gets onDrain once the queue has gone out and the channel drained. Each waiting stream adds at most the
 * write it was refused for, so the queue is bounded by the streams' chunk sizes. A stream's messages and close keep
 * their place behind its own queued data; other streams' messages (credits, opens) go straight out. Per-stream flow
 * control stays above this layer (the mesh's ChannelStream credit window): a stream whose reader stalls stops at
 * its window and the others keep the channel.
 *
 * Frames for a stream that has closed at this end are dropped — they crossed its close on the wire — but a stream id
 * never opened, an id reused, a second answer to an open, data before an accept, or anything that does not parse
 * closes the whole mux, logged: a peer that speaks garbage is not trusted with the other streams.
 *
 * MuxPool keeps the muxes of a node: one per peer node, dialled when first needed (concurrent opens share the
 * dial), reused while open, replaced when it closes. The dialled side announces the channel as a mux with its first
 * request (muxPoolOver: a PeerNetwork stream of type 'mux'), and the serving side adopts it into its own pool, so
 * one connection carries streams both ways: half the connections and handshakes, and a node that only ever
 * answers still has a warm mux when it first needs to open a stream. Two nodes that dial each other at the same
 * moment end up with two muxes; both are used and neither is closed for being a duplicate, as with control
 * channels. A mux full of streams makes the pool dial another, up to a few per peer.
 *
 * Limits: each side may have maxStreams streams open on a mux (HTTP/2's per-direction concurrency limit, so one
 * side's load never starves the other's); an open beyond it is refused at once here, and the peer refuses one
 * beyond its own. An open waits for its answer at most its caller's timeout. A stream holds what arrives before its
 * first handler up to MAX_HELD_BYTES, and is reset beyond.
 *
 * The price of sharing: one TCP connection is one byte queue, so a new stream's open waits behind whatever bytes
 * are already in the channel's buffer and the kernel's (on loopback, beside four saturating streams, about 2 ms
 * instead of 0.4 ms). The mux bounds its part of that to the high-water mark.
 */

import { describeError, invalidArgument, notFound, SwarmletError, unavailable } from '../errors.ts';
import { DEFAULT_LIMITS, RemoteError, TransportError, type SecureChannel } from '../transport/endpoint.ts';
import type { Disposer } from '../transport/secure-channel.ts';
import type { Logger } from '../util/logger.ts';
import { isPeerMessage, type PeerMessage } from './peers.ts';

/**
 * What a stream's users need of a channel: ChannelStream (mesh), MeshStreamServer, the UDP relay and ingress, and
 * the log streams use exactly these. A SecureChannel is one; so is a stream on a StreamMux.
 */
export interface StreamChannel {
  readonly peer: { readonly nodeId: string };
  readonly closed: boolean;
  /** A control message (JSON) in order with the bytes; false when the stream is closed. */
  send(message: unknown): boolean;
  /** Bytes; false when closed, or when the sender should wait for onDrain (the bytes were taken). */
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

/** Serves one stream, as StreamHandler does for PeerNetwork: a throw refuses it; the return value is the reply. */
export type MuxStreamHandler = (request: PeerMessage, stream: StreamChannel) => Promise<unknown> | unknown;

/** A stream the other side accepted, and its handler's reply. */
export interface OpenedMuxStream {
  stream: StreamChannel;
  reply: unknown;
}

export interface StreamMuxOptions {
  /** True on the side that dialled the channel: its streams get odd ids, the other side's even ones. */
  initiator: boolean;
  log: Logger;
  /** Streams each side may have open on this mux at once; the peer's opens beyond it are refused. */
  maxStreams?: number;
  /** The highest stream id; only tests lower it, to reach the end of the id space. */
  maxStreamId?: number;
}

export const DEFAULT_MAX_STREAMS = 4_096;
const MAX_STREAM_ID = 0xffff_ffff;
const DATA_FRAME = 1;
const HEADER_BYTES = 5;
/** The largest payload of one sendBytes on a stream: the channel's frame limit less the header. */
export const MAX_STREAM_PAYLOAD_BYTES = DEFAULT_LIMITS.maxPayloadBytes - HEADER_BYTES;
/** What a stream holds before its first bytes or message handler; more resets the stream. */
const MAX_HELD_BYTES = 4 << 20;
const MAX_HELD_FRAMES = 1_024;
/** Reasons and refusals longer than this are cut: they are for a log line. */
const MAX_REASON_CHARS = 500;

type StreamState = 'opening' | 'accepting' | 'open' | 'closed';
type Control = { s: number; t: string; [key: string]: unknown };
/** A frame held for the channel: data, or one of the stream's messages. */
type Outgoing = { frame: Uint8Array } | { control: Control };
type QueueEntry = Outgoing & { stream: MuxStream };

/** What a stream asks of its mux (closures, so the mux's state stays private). */
interface MuxSink {
  data(stream: MuxStream, bytes: Uint8Array): boolean;
  message(stream: MuxStream, message: unknown): boolean;
  close(stream: MuxStream, reason: string | undefined): void;
}

/** The header and payload of one data frame, in one buffer. */
export function dataFrame(id: number, payload: Uint8Array): Uint8Array {
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame[0] = DATA_FRAME;
  frame.writeUInt32BE(id, 1);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/** A data frame's stream id and payload (a view), or what is wrong with it. */
export function parseDataFrame(frame: Uint8Array): { id: number; payload: Uint8Array } | string {
  if (frame.length < HEADER_BYTES) return `a ${frame.length}-byte data frame, shorter than its header`;
  if (frame[0] !== DATA_FRAME) return `a data frame of unknown kind ${frame[0]}`;
  const id = ((frame[1]! << 24) | (frame[2]! << 16) | (frame[3]! << 8) | frame[4]!) >>> 0;
  return { id, payload: frame.subarray(HEADER_BYTES) };
}

/** A control message with its fields checked, or what is wrong with it. */
export function parseControl(message: unknown): Control | string {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'a control message that is not an object';
  const { s, t, e } = message as Record<string, unknown>;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > MAX_STREAM_ID) return 'a control message without a valid stream id';
  if (s === 0 && t !== 'close') return 'a control message for stream 0 other than close';
  switch (t) {
    case 'open':
      if (!('r' in message)) return 'an open without a request';
      break;
    case 'accept':
    case 'msg':
      break;
    case 'refuse': {
      const failure = e as { message?: unknown; code?: unknown } | null | undefined;
      if (typeof failure?.message !== 'string' || (failure.code !== undefined && typeof failure.code !== 'string')) return 'a refusal without a message';
      break;
    }
    case 'close':
      if (e !== undefined && typeof e !== 'string') return 'a close whose reason is not text';
      break;
    default:
      return `a control message of unknown type ${JSON.stringify(t)?.slice(0, 40)}`;
  }
  return message as Control;
}

const cut = (text: string) => (text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text);

/** One stream on a mux, as its user sees it. */
class MuxStream implements StreamChannel {
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

export interface StreamMuxStats {
  /** Streams open now, by who opened them. */
  local: number;
  remote: number;
  /** Frames (and the bytes of data frames) held by the mux while the channel is over its high-water mark. */
  queuedFrames: number;
  queuedBytes: number;
}

/** Streams both ways over one bulk channel; see the top of this file. */
export class StreamMux {
  readonly #channel: SecureChannel;
  readonly #initiator: boolean;
  readonly #log: Logger;
  readonly #maxStreams: number;
  readonly #maxStreamId: number;
  readonly #streams = new Map<number, MuxStream>();
  readonly #sink: MuxSink;
  #handlers: ReadonlyMap<string, MuxStreamHandler> = new Map();
  #nextLocalId: number;
  #highestPeerId = 0;
  #localOpen = 0;
  #remoteOpen = 0;
  /** Frames waiting for the channel to drain, oldest at #queueHead. */
  #queue: (QueueEntry | undefined)[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  #blocked = false;
  /** Streams told to wait (sendBytes answered false): each gets onDrain once the queue is out. */
  readonly #waiting = new Set<MuxStream>();
  readonly #closeHandlers = new Set<(reason: Error) => void>();
  #closeError: Error | null = null;
  #closed = false;

  constructor(channel: SecureChannel, options: StreamMuxOptions) {
    this.#channel = channel;
    this.#initiator = options.initiator;
    this.#log = options.log;
    this.#maxStreams = options.maxStreams ?? DEFAULT_MAX_STREAMS;
    this.#maxStreamId = options.maxStreamId ?? MAX_STREAM_ID;
    this.#nextLocalId = options.initiator ? 1 : 2;
    this.#sink = {
      data: (stream, bytes) => this.#data(stream, bytes),
      message: (stream, message) => this.#control(stream, { s: stream.id, t: 'msg', m: message }),
      close: (stream, reason) => this.#closeStream(stream, reason),
    };
    channel.onBytes((frame) => this.#receiveBytes(frame));
    channel.onMessage((message) => this.#receiveMessage(message));
    channel.onDrain(() => this.#flush());
    channel.onClose((reason) => this.#shutdown(this.#closeError ?? reason ?? new TransportError('closed', `the bulk channel carrying the stream mux with node ${this.peerId} closed`)));
  }

  get peerId(): string {
    return this.#channel.peer.nodeId;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Whether open() may succeed now: the mux is up, has room for another stream, and ids left. */
  get canOpen(): boolean {
    return !this.#closed && this.#localOpen < this.#maxStreams && !this.#spent;
  }

  get #spent(): boolean {
    return this.#nextLocalId > this.#maxStreamId;
  }

  stats(): StreamMuxStats {
    return { local: this.#localOpen, remote: this.#remoteOpen, queuedFrames: this.#queue.length - this.#queueHead, queuedBytes: this.#queuedBytes };
  }

  /** The handlers for the peer's opens, by request type; the map is read at each open, so later additions count. */
  serve(handlers: ReadonlyMap<string, MuxStreamHandler>): void {
    this.#handlers = handlers;
  }

  /**
   * Opens a stream with `request` (whose `type` picks the peer's handler). Resolves once the handler accepted;
   * rejects, leaving nothing open, when it refuses (a RemoteError with its message and code), does not answer
   * within `timeoutMs`, or the mux closes first.
   */
  open(request: PeerMessage, timeoutMs: number): Promise<OpenedMuxStream> {
    if (this.#closed) return Promise.reject(this.#closeError ?? new TransportError('closed', `the stream mux with node ${this.peerId} is closed`));
    if (this.#spent) return Promise.reject(unavailable(`the stream mux with node ${this.peerId} has used up its stream ids: open the stream on a new one`));
    if (this.#localOpen >= this.#maxStreams) {
      return Promise.reject(unavailable(`${this.#localOpen} streams to node ${this.peerId} are open on this mux, its most: open it on another mux, or wait for some to end`));
    }
    const id = this.#nextLocalId;
    this.#nextLocalId += 2;
    const stream = new MuxStream(id, 'opening', this.#channel.peer, this.#sink, this.#log);
    this.#streams.set(id, stream);
    this.#localOpen++;
    return new Promise<OpenedMuxStream>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#forget(stream);
        stream.ended(null);
        this.#channel.send({ s: id, t: 'close', e: `the opener gave up after ${timeoutMs} ms` });
        reject(new TransportError('timeout', `node ${this.peerId} did not accept the stream within ${timeoutMs} ms`));
      }, timeoutMs);
      stream.opening = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve({ stream, reply });
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      try {
        this.#channel.send({ s: id, t: 'open', r: request });
      } catch (err) {
        this.#forget(stream);
        stream.ended(null);
        stream.opening.reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Closes every stream and the channel; the peer learns `reason`. Idempotent. */
  close(reason = 'closed by this node'): void {
    if (this.#closed) return;
    this.#closeError = new TransportError('closed', `this node closed the stream mux with node ${this.peerId}: ${reason}`);
    this.#channel.send({ s: 0, t: 'close', e: cut(reason) });
    this.#channel.close(reason);
  }

  /** Called once, when the mux has closed, with why. */
  onClose(handler: (reason: Error) => void): Disposer {
    if (this.#closed) {
      queueMicrotask(() => handler(this.#closeError!));
      return () => {};
    }
    this.#closeHandlers.add(handler);
    return () => void this.#closeHandlers.delete(handler);
  }

  #isLocal(id: number): boolean {
    return (id % 2 === 1) === this.#initiator;
  }

  /** Whether `id` was ever opened on this mux, by either side (it may have closed since). */
  #wasOpened(id: number): boolean {
    return id > 0 && (this.#isLocal(id) ? id < this.#nextLocalId : id <= this.#highestPeerId);
  }

  #forget(stream: MuxStream): void {
    if (!this.#streams.delete(stream.id)) return;
    if (this.#isLocal(stream.id)) this.#localOpen--;
    else this.#remoteOpen--;
    this.#waiting.delete(stream);
    if (this.#spent && this.#streams.size === 0) this.close('its stream ids are used up');
  }

  // Sending.

  #data(stream: MuxStream, bytes: Uint8Array): boolean {
    const frame = dataFrame(stream.id, bytes);
    if (stream.pending) {
      stream.pending.push({ frame });
      stream.owedDrain = true;
      return false;
    }
    return this.#sendData(stream, frame);
  }

  #sendData(stream: MuxStream, frame: Uint8Array): boolean {
    if (this.#blocked) {
      this.#enqueue({ stream, frame });
      this.#waiting.add(stream);
      return false;
    }
    if (this.#channel.sendBytes(frame)) return true;
    if (this.#channel.closed) return false;
    this.#blocked = true;
    this.#waiting.add(stream);
    return false;
  }

  /** A stream's control message: behind its own queued data, ahead of everyone else's. */
  #control(stream: MuxStream, control: Control): boolean {
    if (stream.pending) {
      stream.pending.push({ control });
      return true;
    }
    if (stream.queued > 0) {
      this.#enqueue({ stream, control });
      return true;
    }
    return this.#channel.send(control);
  }

  #enqueue(entry: QueueEntry): void {
    this.#queue.push(entry);
    entry.stream.queued++;
    if ('frame' in entry) this.#queuedBytes += entry.frame.length;
  }

  /** The channel drained: what waited goes out until it is full again; once all has, the waiting streams resume. */
  #flush(): void {
    this.#blocked = false;
    while (this.#queueHead < this.#queue.length && !this.#closed) {
      const entry = this.#queue[this.#queueHead]!;
      this.#queue[this.#queueHead++] = undefined;
      entry.stream.queued--;
      if ('frame' in entry) this.#queuedBytes -= entry.frame.length;
      if (entry.stream.discard) continue;
      if ('control' in entry) {
        this.#sendQueuedControl(entry.stream, entry.control);
      } else if (!this.#channel.sendBytes(entry.frame)) {
        if (this.#channel.closed) return;
        this.#blocked = true;
        break;
      }
    }
    if (this.#queueHead === this.#queue.length) {
      this.#queue = [];
      this.#queueHead = 0;
    } else if (this.#queueHead > 1_024 && this.#queueHead * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#queueHead);
      this.#queueHead = 0;
    }
    if (this.#blocked || this.#closed) return;
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const stream of waiting) stream.drained();
  }

  #sendQueuedControl(stream: MuxStream, control: Control): void {
    try {
      this.#channel.send(control);
    } catch (err) {
      // A message that could not be encoded, found only now because it waited: the stream cannot go on without it.
      this.#log.warn(`stream mux: a message of stream ${stream.id} to node ${this.peerId} could not be sent: ${describeError(err)}`);
      if (!stream.closed) stream.close('a message of the stream could not be sent');
    }
  }

  #closeStream(stream: MuxStream, reason: string | undefined): void {
    const accepting = stream.state === 'accepting';
    this.#forget(stream);
    if (this.#closed) return;
    // Closed by its handler before it answered: the opener is told it was refused, and what was held is dropped.
    if (accepting) this.#refuse(stream.id, new Error(reason ?? 'the stream was closed before it was accepted'));
    else this.#control(stream, reason === undefined ? { s: stream.id, t: 'close' } : { s: stream.id, t: 'close', e: cut(reason) });
  }

  #refuse(id: number, err: unknown): void {
    const e: { message: string; code?: string } = { message: cut(describeError(err)) };
    if (err instanceof SwarmletError) e.code = err.code;
    this.#channel.send({ s: id, t: 'refuse', e });
  }

  // Receiving.

  #receiveBytes(frame: Uint8Array): void {
    if (this.#closed) return;
    const parsed = parseDataFrame(frame);
    if (typeof parsed === 'string') return this.#violation(parsed);
    const stream = this.#streams.get(parsed.id);
    if (!stream) {
      if (!this.#wasOpened(parsed.id)) this.#violation(`data for stream ${parsed.id}, which was never opened`);
      return;
    }
    if (stream.state !== 'open') return this.#violation(`data for stream ${parsed.id} before it was accepted`);
    if (!stream.deliverBytes(parsed.payload)) this.#overflow(stream);
  }

  #receiveMessage(message: unknown): void {
    if (this.#closed) return;
    const control = parseControl(message);
    if (typeof control === 'string') return this.#violation(control);
    const { s: id, t: type } = control;
    if (id === 0) return this.#peerClosedMux(control.e as string | undefined);
    if (type === 'open') return this.#peerOpens(id, control.r);
    const stream = this.#streams.get(id);
    if (!stream) {
      if (!this.#wasOpened(id)) this.#violation(`a '${type}' for stream ${id}, which was never opened`);
      // Otherwise it crossed this end's close (or timeout) on the wire: nothing to do.
      return;
    }
    if (type === 'accept' || type === 'refuse') {
      if (!stream.opening) return this.#violation(`an answer ('${type}') for stream ${id}, which waits for none`);
      const { opening } = stream;
      stream.opening = null;
      if (type === 'accept') {
        stream.state = 'open';
        opening.resolve(control.r);
      } else {
        this.#forget(stream);
        stream.ended(null);
        opening.reject(new RemoteError(control.e as { message: string; code?: string }));
      }
      return;
    }
    if (stream.state === 'opening') {
      if (type === 'msg') return this.#violation(`a message on stream ${id} before it was accepted`);
      // Closed before an answer: as good as a refusal.
      const { opening } = stream;
      stream.opening = null;
      this.#forget(stream);
      stream.ended(null);
      opening!.reject(new RemoteError({ message: typeof control.e === 'string' ? control.e : `node ${this.peerId} closed the stream before accepting it` }));
      return;
    }
    if (type === 'msg') {
      if (stream.state !== 'open') return this.#violation(`a message on stream ${id} before it was accepted`);
      if (!stream.deliverMessage(control.m)) this.#overflow(stream);
      return;
    }
    // 'close' from the peer.
    stream.discard = true;
    this.#forget(stream);
    stream.ended(typeof control.e === 'string' ? new TransportError('closed', control.e) : null);
  }

  #peerOpens(id: number, request: unknown): void {
    if (this.#isLocal(id)) return this.#violation(`an open of stream ${id}, an id of this side's`);
    if (id <= this.#highestPeerId || id > this.#maxStreamId) return this.#violation(`an open of stream ${id}, an id already used (the last was ${this.#highestPeerId})`);
    this.#highestPeerId = id;
    if (this.#remoteOpen >= this.#maxStreams) {
      return this.#refuse(id, unavailable(`node ${this.peerId} already has ${this.#remoteOpen} streams open on this mux, the most it may: try again when some end`));
    }
    if (!isPeerMessage(request)) return this.#refuse(id, invalidArgument('a stream request must be an object with a type'));
    const handler = this.#handlers.get(request.type);
    if (!handler) return this.#refuse(id, notFound(`this node serves no stream of type ${JSON.stringify(request.type).slice(0, 40)}`));
    const stream = new MuxStream(id, 'accepting', this.#channel.peer, this.#sink, this.#log);
    this.#streams.set(id, stream);
    this.#remoteOpen++;
    void this.#serve(handler, request, stream);
  }

  async #serve(handler: MuxStreamHandler, request: PeerMessage, stream: MuxStream): Promise<void> {
    let reply: unknown;
    try {
      reply = await handler(request, stream);
    } catch (err) {
      // Already closed (the opener gave up, the handler closed it, the mux went down): nobody waits for an answer.
      if (stream.state !== 'accepting') return;
      this.#forget(stream);
      stream.ended(null);
      this.#refuse(stream.id, err);
      return;
    }
    if (stream.state !== 'accepting') return;
    try {
      this.#channel.send({ s: stream.id, t: 'accept', r: reply });
    } catch (err) {
      this.#forget(stream);
      this.#refuse(stream.id, new Error(`the stream's reply could not be sent: ${describeError(err)}`));
      stream.ended(new TransportError('closed', `the reply to the stream could not be sent: ${describeError(err)}`));
      return;
    }
    const pending = stream.pending ?? [];
    stream.pending = null;
    stream.state = 'open';
    for (const entry of pending) {
      if ('frame' in entry) this.#sendData(stream, entry.frame);
      else if (stream.queued > 0) this.#enqueue({ stream, control: entry.control });
      else this.#sendQueuedControl(stream, entry.control);
      if (stream.closed) return;
    }
    if (stream.owedDrain && !this.#waiting.has(stream)) {
      stream.owedDrain = false;
      stream.drained();
    }
  }

  #peerClosedMux(reason: string | undefined): void {
    this.#closeError = new TransportError('closed', `node ${this.peerId} closed the stream mux${reason ? `: ${reason}` : ''}`);
    this.#channel.close('the peer closed the stream mux');
  }

  /** A stream that got more than it may hold before its handlers were set: it alone is reset. */
  #overflow(stream: MuxStream): void {
    this.#log.warn(`stream mux: stream ${stream.id} from node ${this.peerId} got over ${MAX_HELD_BYTES} bytes or ${MAX_HELD_FRAMES} frames before anything read it; it was reset`);
    stream.discard = true;
    this.#forget(stream);
    this.#channel.send({ s: stream.id, t: 'close', e: `over ${MAX_HELD_BYTES} bytes or ${MAX_HELD_FRAMES} frames came before the stream was read` });
    stream.ended(new TransportError('stalled', `stream ${stream.id} from node ${this.peerId} got more than it may hold before it was read`));
  }

  /** The peer broke the protocol: nothing more it says is trusted, on any stream. */
  #violation(what: string): void {
    if (this.#closed) return;
    const message = `node ${this.peerId} at ${this.#channel.remoteAddress} sent ${what}`;
    this.#log.warn(`stream mux: ${message}; closing the mux and its ${this.#streams.size} streams`);
    this.#closeError = new TransportError('malformed', `${message}: the stream mux was closed`);
    this.#channel.send({ s: 0, t: 'close', e: cut(`stream mux protocol error: ${what}`) });
    this.#channel.close('stream mux protocol error');
  }

  #shutdown(reason: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError ??= reason;
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    this.#localOpen = this.#remoteOpen = 0;
    this.#queue = [];
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    this.#waiting.clear();
    for (const stream of streams) {
      stream.discard = true;
      const { opening } = stream;
      stream.opening = null;
      stream.ended(reason);
      opening?.reject(reason);
    }
    for (const handler of this.#closeHandlers) {
      try {
        handler(reason);
      } catch (err) {
        this.#log.error(`stream mux: a close handler for the mux with node ${this.peerId} threw: ${describeError(err)}`);
      }
    }
    this.#closeHandlers.clear();
  }
}

// The pool.

/** The stream type a dialled bulk channel announces itself with, to become a mux at the serving node. */
export const MUX_STREAM_TYPE = 'mux';
/** The wire format's version; a node refuses a mux of another version (with a message saying so). */
export const MUX_VERSION = 1;
export const DEFAULT_MAX_MUXES_PER_PEER = 4;
const MAX_DIAL_BACKOFF_MS = 2_000;
/** How long a node that refused a mux gets the fallback before the pool tries a mux with it again (it may have been upgraded). */
const FALLBACK_FOR_MS = 60_000;

export interface MuxPoolOptions {
  /** This node's ID: it does not dial itself. */
  selfId: string;
  /**
   * A bulk channel to `nodeId` whose serving node has adopted it as a mux (muxPoolOver announces it with a 'mux'
   * stream request), within `timeoutMs`.
   */
  dial(nodeId: string, timeoutMs: number): Promise<SecureChannel>;
  log: Logger;
  /** Per mux and direction. */
  maxStreams?: number;
  /** Muxes dialled to one node when the first is full. */
  maxMuxesPerPeer?: number;
  dialTimeoutMs?: number;
  /**
   * How to open a stream to a node that answered but would not take a mux (it runs a version without one, or
   * another wire version): a channel of its own, say. Without it, such a node's streams fail.
   */
  fallback?(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<PooledStream>;
}

/** A stream opened through the pool, shaped like PeerNetwork's OpenedStream so callers switch without change. */
export interface PooledStream {
  channel: StreamChannel;
  reply: unknown;
}

/**
 * The muxes of this node, by peer. Its openStream and serveStreams match PeerNetwork's, so the mesh (and the log
 * streams) can take either.
 */
export class MuxPool {
  readonly #options: MuxPoolOptions;
  readonly #handlers = new Map<string, MuxStreamHandler>();
  readonly #muxes = new Map<string, StreamMux[]>();
  readonly #dialing = new Map<string, Promise<StreamMux>>();
  readonly #backoff = new Map<string, { until: number; delay: number }>();
  /** Nodes that refused a mux, until when they get the fallback. */
  readonly #refusedMux = new Map<string, number>();
  #stopped = false;

  constructor(options: MuxPoolOptions) {
    this.#options = options;
  }

  /** Serves streams of `type` that peers open on any mux with this node. */
  serveStreams(type: string, handler: MuxStreamHandler): void {
    this.#handlers.set(type, handler);
  }

  /**
   * Opens a stream to `nodeId` on a mux, dialling one first when none is up (or all are full). Resolves once the
   * serving node's handler accepted; rejects, leaving nothing open, when the node cannot be reached, refuses, or
   * the whole takes longer than `timeoutMs`. The caller closes the stream when done with it.
   */
  async openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<PooledStream> {
    if (this.#stopped) throw unavailable('the stream pool is stopped: the node is leaving the cluster');
    if (nodeId === this.#options.selfId) throw invalidArgument(`node ${nodeId} is this node: it does not dial itself`);
    const deadline = performance.now() + timeoutMs;
    const left = () => Math.max(1, Math.round(deadline - performance.now()));
    // A fresh mux may be filled by the openers that waited for it along with this one; then another is dialled.
    const { fallback } = this.#options;
    for (let attempt = 0; attempt < 3; attempt++) {
      let mux = this.#usable(nodeId);
      if (!mux) {
        if (fallback && performance.now() < (this.#refusedMux.get(nodeId) ?? -Infinity)) return fallback(nodeId, request, left());
        try {
          mux = await this.#connect(nodeId, left());
        } catch (err) {
          // The node answered, and would not take a mux: an older version, during a rolling upgrade.
          if (fallback && err instanceof RemoteError) return fallback(nodeId, request, left());
          throw err;
        }
      }
      if (!mux.canOpen) continue;
      const { stream, reply } = await mux.open(request, left());
      return { channel: stream, reply };
    }
    throw unavailable(`every stream mux with node ${nodeId} filled up while this stream waited: try again`);
  }

  /** Takes an incoming bulk channel that announced itself as a mux: its streams go both ways from now on. */
  adopt(channel: SecureChannel): StreamMux {
    if (this.#stopped) {
      channel.close('the node is stopping');
      throw unavailable('the stream pool is stopped: the node is leaving the cluster');
    }
    this.#options.log.debug(`stream mux with node ${channel.peer.nodeId} adopted`);
    return this.#add(channel, false);
  }

  /** Muxes and the streams on them, both ways. */
  stats(): { muxes: number; streams: number } {
    let muxes = 0;
    let streams = 0;
    for (const list of this.#muxes.values()) {
      for (const mux of list) {
        const { local, remote } = mux.stats();
        muxes++;
        streams += local + remote;
      }
    }
    return { muxes, streams };
  }

  /** Closes every mux (and so every stream) and opens no more. Idempotent. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const list of [...this.#muxes.values()]) for (const mux of [...list]) mux.close('the node is stopping');
    this.#muxes.clear();
  }

  /** The oldest mux with room: new streams keep to one while it has room, so the others can go idle. */
  #usable(nodeId: string): StreamMux | undefined {
    return this.#muxes.get(nodeId)?.find((mux) => mux.canOpen);
  }

  /** A new mux to `nodeId`, sharing a dial already under way; waits at most `waitMs` for it. */
  async #connect(nodeId: string, waitMs: number): Promise<StreamMux> {
    const limit = this.#options.maxMuxesPerPeer ?? DEFAULT_MAX_MUXES_PER_PEER;
    const open = (this.#muxes.get(nodeId) ?? []).filter((mux) => !mux.closed).length;
    let dialing = this.#dialing.get(nodeId);
    if (!dialing) {
      if (open >= limit) throw unavailable(`the ${open} stream muxes with node ${nodeId} are full: try again when some of their streams end`);
      const backoff = this.#backoff.get(nodeId);
      if (backoff && performance.now() < backoff.until) throw unavailable(`node ${nodeId} was unreachable moments ago; retrying shortly`);
      dialing = this.#dial(nodeId).finally(() => this.#dialing.delete(nodeId));
      this.#dialing.set(nodeId, dialing);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TransportError('timeout', `no stream mux with node ${nodeId} within ${waitMs} ms`)), waitMs);
    });
    try {
      return await Promise.race([dialing, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #dial(nodeId: string): Promise<StreamMux> {
    try {
      const channel = await this.#options.dial(nodeId, this.#options.dialTimeoutMs ?? 3_000);
      if (channel.peer.nodeId !== nodeId) {
        channel.close('not the node that was dialled');
        throw new Error(`the channel dialled to node ${nodeId} reached node ${channel.peer.nodeId}`);
      }
      if (this.#stopped) {
        channel.close('the node is stopping');
        throw unavailable('the stream pool is stopped: the node is leaving the cluster');
      }
      this.#backoff.delete(nodeId);
      this.#refusedMux.delete(nodeId);
      this.#options.log.debug(`stream mux with node ${nodeId} dialled`);
      return this.#add(channel, true);
    } catch (err) {
      if (err instanceof RemoteError) {
        this.#options.log.info(`node ${nodeId} did not take a stream mux (${err.message}); its streams get channels of their own for ${FALLBACK_FOR_MS / 1000} s`);
        this.#refusedMux.set(nodeId, performance.now() + FALLBACK_FOR_MS);
        throw err;
      }
      const delay = Math.min(MAX_DIAL_BACKOFF_MS, (this.#backoff.get(nodeId)?.delay ?? 25) * 2);
      this.#backoff.set(nodeId, { until: performance.now() + delay, delay });
      throw err;
    }
  }

  #add(channel: SecureChannel, initiator: boolean): StreamMux {
    const nodeId = channel.peer.nodeId;
    const mux = new StreamMux(channel, { initiator, log: this.#options.log, ...(this.#options.maxStreams ? { maxStreams: this.#options.maxStreams } : {}) });
    mux.serve(this.#handlers);
    this.#muxes.set(nodeId, [...(this.#muxes.get(nodeId) ?? []).filter((m) => !m.closed), mux]);
    mux.onClose(() => {
      const rest = (this.#muxes.get(nodeId) ?? []).filter((m) => m !== mux && !m.closed);
      if (rest.length > 0) this.#muxes.set(nodeId, rest);
      else this.#muxes.delete(nodeId);
    });
    return mux;
  }
}

/** What muxPoolOver needs of the peer network (PeerNetwork is the implementation). */
export interface MuxCarrier {
  openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<{ channel: SecureChannel; reply: unknown }>;
  serveStreams(type: string, handler: (request: PeerMessage, channel: SecureChannel) => Promise<unknown> | unknown): void;
}

/**
 * A pool whose muxes are PeerNetwork bulk channels: dialled as a stream of type 'mux', and adopted when a peer
 * dials this node the same way. The channels are PeerNetwork's, so its stop() closes them too. A node that refuses
 * the mux (an older version) gets a channel per stream, as before.
 */
export function muxPoolOver(peers: MuxCarrier, options: Omit<MuxPoolOptions, 'dial'>): MuxPool {
  const pool = new MuxPool({
    ...options,
    dial: async (nodeId, timeoutMs) => (await peers.openStream(nodeId, { type: MUX_STREAM_TYPE, version: MUX_VERSION }, timeoutMs)).channel,
    fallback: (nodeId, request, timeoutMs) => peers.openStream(nodeId, request, timeoutMs),
  });
  peers.serveStreams(MUX_STREAM_TYPE, (request, channel) => {
    if (request.version !== MUX_VERSION) {
      throw invalidArgument(`node ${options.selfId} speaks stream mux version ${MUX_VERSION}, not ${String(request.version).slice(0, 20)}: run the same swarmlet version on both nodes`);
    }
    pool.adopt(channel);
    return { version: MUX_VERSION };
  });
  return pool;
}
