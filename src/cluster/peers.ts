/**
 * A node's links to the other nodes: the transport server it listens with, and control channels to peers by
 * node ID, dialled on demand and kept. Messages are JSON objects with a `type`; one handler per type. Fire-and-
 * forget `send` (Raft messages, pushed assignments) drops a message when no channel is up yet and dials in the
 * background — Raft resends on its next heartbeat, and assignments are re-pushed whole — so a dead peer never
 * makes a sender wait. `request` waits for an answer, with a deadline.
 *
 * A peer may have several channels at once (both sides dialled at the same moment, or a reconnect before the old
 * connection's keepalive noticed it was dead); the newest open one is used, and none is closed for being a
 * duplicate, so two nodes dialling each other never knock each other's channels down. A second channel from
 * another address while the first still answers is a different story: two machines hold the same identity (a
 * cloned SD card). The newcomer is refused with a message saying how to give it a new identity.
 *
 * Streams (a service's logs, say) do not share those channels: a chatty stream would queue Raft messages and
 * heartbeats behind its bytes. Each gets a bulk channel of its own — its own connection, so its own socket
 * buffers — dialled with the same identity and trust as control channels. The opener's first request on it names
 * the stream type and its parameters; the serving node's handler for that type answers (or refuses, and the
 * channel closes), then owns the channel: bytes with sendBytes, pausing when it answers false until onDrain,
 * control messages for anything else, and close when the stream is over. Either end closing ends the stream.
 */

import { describeError } from '../errors.ts';
import type { Disposer } from '../runtime/runtime.ts';
import type { Logger } from '../util/logger.ts';
import { dial, listen, type ChannelKind, type ChannelSecurity, type SecureChannel, type TransportServer } from '../transport/endpoint.ts';

export type PeerMessage = { type: string } & Record<string, unknown>;
type MessageHandler = (message: PeerMessage, channel: SecureChannel) => void;
type RequestHandler = (message: PeerMessage, channel: SecureChannel) => Promise<unknown> | unknown;
/**
 * Serves one stream: checks the request (a throw refuses it, its message going back to the opener), then owns the
 * channel. What it returns is the opener's `reply`. It should stop its work on the channel's onClose.
 */
export type StreamHandler = (request: PeerMessage, channel: SecureChannel) => Promise<unknown> | unknown;

/** A stream the serving node accepted: the bulk channel, and what its handler answered. */
export interface OpenedStream {
  channel: SecureChannel;
  reply: unknown;
}

export interface PeerNetworkOptions {
  selfId: string;
  /** `ip:port` to listen on. */
  listenAddr: string;
  /** The identity and trust rules for an incoming connection of a kind, or null to refuse that kind. */
  serverSecurity(kind: ChannelKind, remoteAddress: string): ChannelSecurity | null;
  /** The identity and trust rules for channels this node dials. */
  dialSecurity(): ChannelSecurity;
  /** Where a node may be reached (`ip:port`), best first. */
  addressesOf(nodeId: string): string[];
  /** Join channels go here instead of the peer table. */
  onJoinChannel?(channel: SecureChannel): void;
  log: Logger;
  /** How long a dial may take. */
  dialTimeoutMs?: number;
}

const PROBE_TIMEOUT_MS = 1_500;
const MAX_DIAL_BACKOFF_MS = 2_000;
/** Requests in a row without an answer before a channel is taken to be stuck and closed. */
const STUCK_AFTER_TIMEOUTS = 2;
/** How long an incoming bulk channel may wait before naming its stream; then it is closed. */
const STREAM_REQUEST_TIMEOUT_MS = 5_000;

/**
 * `promise`, or a rejection after `ms`: a guard so that no caller waits forever on a dial or channel that never
 * settles. A value that arrives after the deadline is handed to `late` (a channel to close).
 */
function withDeadline<T>(promise: Promise<T>, ms: number, what: string, late?: (value: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  return Promise.race([
    promise.then((value) => {
      if (expired) late?.(value);
      return value;
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        expired = true;
        reject(Object.assign(new Error(`${what} within ${ms} ms`), { reason: 'timeout' }));
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Messages held for a peer while its channel is being made. */
const MAX_WAITING_MESSAGES = 256;

export const DUPLICATE_IDENTITY = 'duplicate-identity';

const hostOf = (address: string) => address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');

export class PeerNetwork {
  readonly #options: PeerNetworkOptions;
  readonly #channels = new Map<string, SecureChannel[]>();
  readonly #dialing = new Map<string, Promise<SecureChannel>>();
  readonly #backoff = new Map<string, { until: number; delay: number }>();
  readonly #messageHandlers = new Map<string, MessageHandler>();
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #connectListeners = new Set<(nodeId: string) => void>();
  readonly #waiting = new Map<string, PeerMessage[]>();
  readonly #warned = new Map<string, number>();
  readonly #timeouts = new WeakMap<SecureChannel, number>();
  readonly #streamHandlers = new Map<string, StreamHandler>();
  /** Open stream channels, both ways: closed when the network stops. */
  readonly #streams = new Set<SecureChannel>();
  #server: TransportServer | null = null;
  #stopped = false;

  constructor(options: PeerNetworkOptions) {
    this.#options = options;
    this.handle('ping', () => ({ pong: true }));
  }

  async start(): Promise<void> {
    const { host, port } = splitAddress(this.#options.listenAddr);
    this.#server = await listen({
      host,
      port,
      log: this.#options.log,
      security: (kind, remote) => this.#options.serverSecurity(kind, remote),
      onChannel: (channel) => {
        if (channel.kind === 'join') this.#options.onJoinChannel?.(channel);
        else if (channel.kind === 'control') void this.#adoptIncoming(channel);
        else this.#serveStream(channel);
      },
    });
  }

  /** The port actually listened on (the configured one, or the one chosen for port 0). */
  get port(): number {
    return this.#server?.port ?? 0;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const list of this.#channels.values()) for (const channel of list) channel.close('the node is stopping');
    this.#channels.clear();
    for (const stream of this.#streams) stream.close('the node is stopping');
    this.#streams.clear();
    await this.#server?.close();
  }

  /** Handles messages of `type` that need no answer. */
  on(type: string, handler: MessageHandler): void {
    this.#messageHandlers.set(type, handler);
  }

  /** Answers requests of `type`; a thrown error's message goes back to the requester. */
  handle(type: string, handler: RequestHandler): void {
    this.#requestHandlers.set(type, handler);
  }

  /** Serves streams of `type` that peers open with openStream. */
  serveStreams(type: string, handler: StreamHandler): void {
    this.#streamHandlers.set(type, handler);
  }

  /**
   * Opens a stream to `nodeId` on a bulk channel of its own, asking for it with `request` (whose `type` picks the
   * serving node's handler). Resolves once the handler accepted; rejects, leaving nothing open, when the node
   * cannot be reached or refuses, or does not answer within `timeoutMs`. The caller owns the channel and closes it
   * when it no longer wants the stream.
   */
  async openStream(nodeId: string, request: PeerMessage, timeoutMs: number): Promise<OpenedStream> {
    if (this.#stopped) throw new Error('the peer network is stopped');
    if (nodeId === this.#options.selfId) throw new Error(`node ${nodeId} is this node: it does not dial itself`);
    const backoff = this.#backoff.get(nodeId);
    if (backoff && performance.now() < backoff.until) throw new Error(`node ${nodeId} was unreachable moments ago; retrying shortly`);
    const channel = await this.#reach(nodeId, 'bulk', timeoutMs);
    this.#trackStream(channel);
    try {
      return { channel, reply: await channel.request(request, timeoutMs) };
    } catch (err) {
      channel.close('the stream was refused');
      throw err;
    }
  }

  /** Called whenever a channel to a peer comes up. */
  onConnect(listener: (nodeId: string) => void): Disposer {
    this.#connectListeners.add(listener);
    return () => this.#connectListeners.delete(listener);
  }

  isConnected(nodeId: string): boolean {
    return this.#open(nodeId) !== undefined;
  }

  /** Sends without waiting; dials in the background when no channel is up. Returns whether it went out now. */
  send(nodeId: string, message: PeerMessage): boolean {
    const channel = this.#open(nodeId);
    if (channel) return channel.send(message);
    // Held while a channel is being made (a peer that just restarted), dropped if it cannot be: a read index
    // request or a forwarded proposal sent in that moment then arrives instead of waiting out a deadline.
    const queue = this.#waiting.get(nodeId) ?? [];
    if (queue.length < MAX_WAITING_MESSAGES) queue.push(message);
    this.#waiting.set(nodeId, queue);
    this.connect(nodeId).then(
      (opened) => {
        const held = this.#waiting.get(nodeId) ?? [];
        this.#waiting.delete(nodeId);
        for (const m of held) opened.send(m);
      },
      () => this.#waiting.delete(nodeId),
    );
    return false;
  }

  async request(nodeId: string, message: PeerMessage, timeoutMs: number): Promise<unknown> {
    const channel = this.#open(nodeId) ?? (await withDeadline(this.connect(nodeId, timeoutMs), timeoutMs + 500, `no channel to node ${nodeId}`));
    try {
      const answer = await channel.request(message, timeoutMs);
      this.#timeouts.delete(channel);
      return answer;
    } catch (err) {
      // A channel on which requests keep timing out is stuck, whatever TCP says: drop it, so the next request
      // dials afresh instead of waiting for the keepalive to notice.
      if ((err as { reason?: string }).reason === 'timeout') {
        const count = (this.#timeouts.get(channel) ?? 0) + 1;
        this.#timeouts.set(channel, count);
        if (count >= STUCK_AFTER_TIMEOUTS) {
          this.#options.log.warn(`closing the channel with node ${nodeId} at ${channel.remoteAddress}: ${count} requests in a row had no answer`);
          channel.close('requests time out');
        }
      }
      throw err;
    }
  }

  /** The open channel to `nodeId`, dialling its known addresses in turn when there is none. */
  connect(nodeId: string, timeoutMs = this.#options.dialTimeoutMs ?? 3_000): Promise<SecureChannel> {
    // A channel to itself would only carry this node's messages back to it, and would sit in the table beside
    // the peers' channels: whoever asks for one has a stale idea of who is who (a leader it no longer is).
    if (nodeId === this.#options.selfId) return Promise.reject(new Error(`node ${nodeId} is this node: it does not dial itself`));
    const open = this.#open(nodeId);
    if (open) return Promise.resolve(open);
    const pending = this.#dialing.get(nodeId);
    if (pending) return pending;
    const backoff = this.#backoff.get(nodeId);
    if (backoff && performance.now() < backoff.until) {
      return Promise.reject(new Error(`node ${nodeId} was unreachable moments ago; retrying shortly`));
    }
    const attempt = this.#dial(nodeId, timeoutMs).finally(() => this.#dialing.delete(nodeId));
    this.#dialing.set(nodeId, attempt);
    return attempt;
  }

  /** Dials an address whose node is not known yet (a manager given by address or found over mDNS). */
  async dialAddress(address: string, timeoutMs = this.#options.dialTimeoutMs ?? 3_000): Promise<SecureChannel> {
    const channel = await dial(address, 'control', this.#options.dialSecurity(), { timeoutMs, log: this.#options.log });
    this.#register(channel);
    return channel;
  }

  async #dial(nodeId: string, timeoutMs: number): Promise<SecureChannel> {
    try {
      const channel = await this.#reach(nodeId, 'control', timeoutMs);
      this.#backoff.delete(nodeId);
      this.#register(channel);
      return channel;
    } catch (err) {
      const previous = this.#backoff.get(nodeId)?.delay ?? 50;
      const delay = Math.min(MAX_DIAL_BACKOFF_MS, previous * 2);
      this.#backoff.set(nodeId, { until: performance.now() + delay, delay });
      throw err;
    }
  }

  /** A channel of `kind` to `nodeId`, dialling its known addresses in turn; checks that it is that node. */
  async #reach(nodeId: string, kind: ChannelKind, timeoutMs: number): Promise<SecureChannel> {
    const addresses = this.#options.addressesOf(nodeId);
    let lastError: unknown = new Error(`no address is known for node ${nodeId}`);
    for (const address of addresses) {
      if (this.#stopped) break;
      try {
        const channel = await withDeadline(
          dial(address, kind, this.#options.dialSecurity(), { timeoutMs, log: this.#options.log }),
          timeoutMs + 1_000,
          `dialling ${address} did not finish`,
          (late) => late.close('dial abandoned'),
        );
        if (channel.peer.nodeId !== nodeId) {
          channel.close('not the node that was dialled');
          throw new Error(`${address} is node ${channel.peer.nodeId}, not ${nodeId}`);
        }
        return channel;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError instanceof Error ? lastError : new Error(String(lastError));
  }

  #trackStream(channel: SecureChannel): void {
    this.#streams.add(channel);
    channel.onClose(() => this.#streams.delete(channel));
  }

  /**
   * An incoming bulk channel: its first request names the stream, and the handler for that type takes it over.
   * A channel that names none in time, an unknown type, or a request the handler refuses is closed.
   */
  #serveStream(channel: SecureChannel): void {
    if (this.#stopped) return channel.close('the node is stopping');
    this.#trackStream(channel);
    const timer = setTimeout(() => channel.close('no stream was asked for'), STREAM_REQUEST_TIMEOUT_MS);
    timer.unref();
    let asked = false;
    channel.onRequest(async (message) => {
      if (asked) throw new Error('a stream channel carries one stream request');
      asked = true;
      clearTimeout(timer);
      try {
        if (!isPeerMessage(message)) throw new Error('a stream request must have a type');
        const handler = this.#streamHandlers.get(message.type);
        if (!handler) throw new Error(`node ${this.#options.selfId} serves no stream of type ${JSON.stringify(message.type).slice(0, 40)}`);
        return await handler(message, channel);
      } catch (err) {
        // After the failure reply, which the channel sends when this rejects: the opener learns why first.
        setImmediate(() => channel.close('stream refused'));
        throw err;
      }
    });
  }

  #open(nodeId: string): SecureChannel | undefined {
    const list = this.#channels.get(nodeId);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (!list[i]!.closed) return list[i];
    return undefined;
  }

  /**
   * An incoming channel from a node that already has one from another machine: if the first still answers,
   * the newcomer is a copy of that node's identity and is refused; if not, the first was a dead connection.
   */
  async #adoptIncoming(channel: SecureChannel): Promise<void> {
    const nodeId = channel.peer.nodeId;
    const others = (this.#channels.get(nodeId) ?? []).filter((c) => !c.closed && hostOf(c.remoteAddress) !== hostOf(channel.remoteAddress));
    for (const other of others) {
      const alive = await other.request({ type: 'ping' }, PROBE_TIMEOUT_MS).then(() => true, () => false);
      if (!alive) {
        other.close('replaced by a newer connection from another address');
        continue;
      }
      const message =
        `node ${nodeId} is already connected from ${hostOf(other.remoteAddress)}, and ${hostOf(channel.remoteAddress)} presents the same identity ` +
        '(a copied data directory or cloned SD card?). Give the copy a new identity: stop swarmlet on it, move its data directory ' +
        '(identity.json and membership.json) away, start it again and join with a token.';
      this.#options.log.error(`refused a connection: ${message}`);
      channel.send({ type: 'refused', reason: DUPLICATE_IDENTITY, message });
      setTimeout(() => channel.close(DUPLICATE_IDENTITY), 200).unref();
      return;
    }
    this.#register(channel);
  }

  #register(channel: SecureChannel): void {
    const nodeId = channel.peer.nodeId;
    const list = (this.#channels.get(nodeId) ?? []).filter((c) => !c.closed);
    list.push(channel);
    this.#channels.set(nodeId, list);
    channel.onMessage((message) => this.#dispatch(message, channel));
    channel.onRequest((message) => this.#answer(message, channel));
    channel.onClose(() => {
      const remaining = (this.#channels.get(nodeId) ?? []).filter((c) => c !== channel && !c.closed);
      if (remaining.length > 0) this.#channels.set(nodeId, remaining);
      else this.#channels.delete(nodeId);
    });
    for (const listener of this.#connectListeners) listener(nodeId);
  }

  #dispatch(message: unknown, channel: SecureChannel): void {
    if (!isPeerMessage(message)) return this.#badMessage(channel, 'a message with no type');
    if (message.type === 'refused') {
      this.#options.log.error(`node ${channel.peer.nodeId} refused this node: ${String(message.message)}`);
      return;
    }
    const handler = this.#messageHandlers.get(message.type);
    if (!handler) return this.#badMessage(channel, `an unknown message type ${JSON.stringify(message.type).slice(0, 40)}`);
    try {
      handler(message, channel);
    } catch (err) {
      this.#options.log.warn(`handling ${message.type} from ${channel.peer.nodeId}: ${describeError(err)}`);
    }
  }

  async #answer(message: unknown, channel: SecureChannel): Promise<unknown> {
    if (!isPeerMessage(message)) throw new Error('a request must have a type');
    const handler = this.#requestHandlers.get(message.type);
    if (!handler) throw new Error(`unknown request type ${JSON.stringify(message.type).slice(0, 40)}`);
    return handler(message, channel);
  }

  #badMessage(channel: SecureChannel, what: string): void {
    // Once a minute per peer and kind: a leader keeps sending Raft messages to a manager that was just demoted.
    const key = `${channel.peer.nodeId} ${what}`;
    const now = performance.now();
    if ((this.#warned.get(key) ?? -Infinity) > now - 60_000) return;
    this.#warned.set(key, now);
    this.#options.log.warn(`node ${channel.peer.nodeId} at ${channel.remoteAddress} sent ${what}; ignored`);
  }
}

export function isPeerMessage(value: unknown): value is PeerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

/** `ip:port` (or `[v6]:port`) into its parts; refuses anything else with a message naming the input. */
export function splitAddress(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(address);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) throw new Error(`"${address}" is not an address of the form IP:PORT`);
  return { host: (match[1] ?? match[2])!, port };
}
