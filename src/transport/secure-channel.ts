/**
 * What the rest of swarmlet sees of a connection to another node: the narrow interface its users (the peer
 * network, the dispatcher, Raft's link, join admission) depend on, so they can be tested with an in-memory fake
 * and the socket layer can change under them. The one real implementation is WsChannel (channel.ts).
 *
 * Three kinds of traffic: messages (fire and forget, JSON), requests with replies correlated by id (RPC), and
 * raw byte payloads for streams (no JSON, no copy). Nothing here blocks: a send queues and returns, and only byte
 * streams have flow control, because only they can outrun the network.
 */

import type { AeadName } from './aead.ts';
import type { ChannelKind } from './kinds.ts';
import type { Payload } from './frames.ts';
import type { VerifiedPeer } from './handshake.ts';

export type Disposer = () => void;
/** Answers a request: its return value (or what its promise resolves to) is the reply; a throw is the failure. */
export type RequestHandler = (message: unknown) => unknown;

export interface ChannelStats {
  framesIn: number;
  framesOut: number;
  /** Bytes of sealed frames, as on the wire less WebSocket framing. */
  bytesIn: number;
  bytesOut: number;
  /** Sealed bytes handed to ws and not yet written to the socket. */
  bufferedBytes: number;
  /** The AEAD the handshake chose for this connection's frames (fixed for its life). */
  aead: AeadName;
}

export interface SecureChannel {
  readonly kind: ChannelKind;
  readonly peer: VerifiedPeer;
  /** "ip:port" of the other end of the TCP connection. */
  readonly remoteAddress: string;
  readonly closed: boolean;
  /** Sealed bytes waiting to be written; compare with the high-water mark, or just wait for onDrain. */
  readonly bufferedAmount: number;
  /**
   * Sends a message (JSON). False if the channel is closed. Throws a TypeError for a value JSON cannot carry, and
   * a TransportError ('oversized') when its encoding is over maxPayloadBytes: split it.
   */
  send(message: unknown): boolean;
  /**
   * Sends raw bytes as one frame: one buffer, or parts sent as their concatenation (the peer's onBytes gets one
   * payload), so a layer above can put its header before its data without copying the data. The bytes are sealed
   * before this returns: the caller may reuse them at once. True: keep going. False: the channel is closed
   * (nothing was sent; see `closed`) or more than the high-water mark now waits to be written (the bytes were
   * queued; wait for onDrain). Throws a TransportError ('oversized') over maxPayloadBytes.
   */
  sendBytes(bytes: Payload): boolean;
  /** Sends a request and resolves with the peer's reply; rejects with a RemoteError, or a TransportError on timeout or close. */
  request(message: unknown, timeoutMs: number): Promise<unknown>;
  /**
   * Sets the one request handler (a later call replaces it). Requests that came before the first handler wait for
   * it; once a handler has been set and disposed of, requests are answered with a failure.
   */
  onRequest(handler: RequestHandler): Disposer;
  /** Messages that came before the first message handler are delivered to it (asynchronously) when it is set. */
  onMessage(handler: (message: unknown) => void): Disposer;
  /** Byte payloads, one per sendBytes, in order; held until the first bytes handler like messages. */
  onBytes(handler: (bytes: Uint8Array) => void): Disposer;
  /** Called when the send buffer falls back under half the high-water mark after sendBytes answered false. */
  onDrain(handler: () => void): Disposer;
  /** Called once: null for a clean close by either end, the reason otherwise. Registered after the close, it is called at once (asynchronously). */
  onClose(handler: (reason: Error | null) => void): Disposer;
  close(reason?: string): void;
  stats(): ChannelStats;
}
