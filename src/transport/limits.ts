/**
 * The limits that keep a peer — broken or hostile — from costing the daemon more than a bounded share of memory,
 * CPU and connection slots. Both ends resolve the same defaults; maxPayloadBytes must agree between them.
 */

import { invalidArgument } from '../errors.ts';
import { FRAME_OVERHEAD } from './frames.ts';
import { MAX_HANDSHAKE_MESSAGE_BYTES } from './handshake-messages.ts';

export interface TransportLimits {
  /** From TCP accept (or dial) to a completed handshake; a connection that takes longer is closed. */
  handshakeTimeoutMs: number;
  /** Largest payload in one sealed frame, both ends alike. A bigger incoming frame closes the connection; a bigger outgoing one is refused locally (callers split). */
  maxPayloadBytes: number;
  /** Connections accepted but not yet authenticated, across all peers; more are dropped at accept. */
  maxPendingHandshakes: number;
  /** Handshakes one remote IP address may start per second, on average (token bucket)... */
  handshakesPerSecondPerAddress: number;
  /** ...and in a burst (the bucket's size): a node reconnecting its three kinds at once must fit. */
  handshakeBurstPerAddress: number;
  /** A ws ping every this many ms on each channel (0: none). */
  keepaliveMs: number;
  /** Keepalive periods in a row with nothing heard from the peer before the channel is declared dead (half-open). */
  keepaliveMisses: number;
  /** Close a channel with no application traffic either way for this long (0: never). */
  idleTimeoutMs: number;
  /** sendBytes answers false once this much waits to be written: the caller should wait for onDrain. */
  highWaterMarkBytes: number;
  /**
   * More than this waiting to be written means the peer stopped reading: the channel is closed ('stalled'). It
   * also bounds what one tick may queue (a channel's sends in one tick are written together).
   */
  maxBufferedBytes: number;
}

export const DEFAULT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  handshakeTimeoutMs: 5000,
  maxPayloadBytes: 1 << 20,
  maxPendingHandshakes: 64,
  handshakesPerSecondPerAddress: 20,
  handshakeBurstPerAddress: 40,
  keepaliveMs: 5000,
  keepaliveMisses: 2,
  idleTimeoutMs: 0,
  highWaterMarkBytes: 1 << 20,
  maxBufferedBytes: 16 << 20,
});

/** Defaults filled in and every value checked: a limit of NaN or -1 would silently disable a protection. */
export function resolveLimits(partial: Partial<TransportLimits> = {}): TransportLimits {
  const limits = { ...DEFAULT_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || Number.isNaN(value) || value < 0) throw invalidArgument(`transport limit ${name} must be a number ≥ 0, got ${String(value)}`);
  }
  for (const name of ['handshakeTimeoutMs', 'maxPayloadBytes', 'maxPendingHandshakes', 'handshakeBurstPerAddress', 'keepaliveMisses', 'highWaterMarkBytes'] as const) {
    if (limits[name] < 1) throw invalidArgument(`transport limit ${name} must be at least 1, got ${limits[name]}`);
  }
  if (limits.maxBufferedBytes < limits.highWaterMarkBytes) throw invalidArgument('transport limit maxBufferedBytes must not be below highWaterMarkBytes');
  return limits;
}

/**
 * The largest WebSocket message to accept: one sealed frame, or the largest handshake message. ws checks it
 * against each frame's declared length before buffering, so a peer announcing gigabytes costs nothing.
 */
export function wsMaxPayload(limits: TransportLimits): number {
  return Math.max(limits.maxPayloadBytes + FRAME_OVERHEAD, MAX_HANDSHAKE_MESSAGE_BYTES);
}

