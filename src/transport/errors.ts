/**
 * Why the transport refused something. The handshake and the frame decoder never throw on what a peer sent:
 * they return a TransportError whose `reason` is stable, so the driver can log it with the peer's address,
 * count it, and close the connection, while the daemon keeps serving everyone else.
 */

import { SwarmletError, type ErrorCode } from '../errors.ts';

export const TRANSPORT_REASONS = {
  /** Bytes that do not parse as the message expected at this step (wrong magic, length, field sizes). */
  malformed: 'invalid_argument',
  /** The peer speaks another version of the protocol. */
  version: 'invalid_argument',
  /** A message arrived that this side does not expect now (out of order, or after the handshake ended). */
  unexpected_message: 'invalid_argument',
  /** verifyPeer refused the peer's certificate (unknown cluster, expired, revoked, duplicate identity...). */
  peer_rejected: 'invalid_argument',
  /** The transcript signature does not verify under the key the certificate names. */
  bad_signature: 'invalid_argument',
  /** The peer's ephemeral key is a low-order point: the shared secret would be known to everyone. */
  weak_key: 'invalid_argument',
  /** The two nodes offer no AEAD in common (one of them has SWARMLET_TRANSPORT_AEAD set to what the other refuses). */
  no_common_aead: 'invalid_argument',
  /** The frame type byte is not one this version knows. */
  unknown_type: 'invalid_argument',
  /** The frame is larger than the limit; refused before any decryption work. */
  oversized: 'invalid_argument',
  /** The frame's counter is not the next one: a replay, a reordering, or a lost frame. */
  out_of_order: 'invalid_argument',
  /** The AEAD tag does not verify: the frame was tampered with, or sealed under another key. */
  auth_failed: 'invalid_argument',
  /** The session or handshake already failed or ended; nothing more is accepted on it. */
  closed: 'unavailable',
  /** The peer did not finish the handshake, answer keepalive pings, or reply to a request in time. */
  timeout: 'unavailable',
  /**
   * The node refused the connection before any handshake: a path it does not serve, a channel kind it does not
   * accept from this address, too many handshakes from this address, or too many at once.
   */
  refused: 'unavailable',
  /** No connection could be made: nothing listens at the address, or no route leads there. */
  unreachable: 'unavailable',
  /** The peer stopped reading: more than the limit waits to be sent to it. */
  stalled: 'unavailable',
} as const satisfies Record<string, ErrorCode>;

export type TransportReason = keyof typeof TRANSPORT_REASONS;

export class TransportError extends SwarmletError {
  readonly reason: TransportReason;

  constructor(reason: TransportReason, message: string, options: { cause?: unknown } = {}) {
    super(TRANSPORT_REASONS[reason], message, options);
    this.name = 'TransportError';
    this.reason = reason;
  }
}

/** The outcome of decoding peer input: a value, or the reason it was refused. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: TransportError };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const refuse = <T>(reason: TransportReason, message: string, cause?: unknown): Result<T> => ({
  ok: false,
  error: new TransportError(reason, message, { cause }),
});
