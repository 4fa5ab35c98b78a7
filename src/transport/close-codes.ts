/**
 * WebSocket close codes for transport refusals. Each TransportReason has its own code in the application range
 * (4000–4999), with the refusal's message as the close reason, so the far end learns why — a dialer whose
 * certificate was refused says "peer_rejected: certificate not signed by this cluster's root" instead of
 * "connection closed". The reason string carries no secret: everything in it was decided from what the peer sent.
 */

import type { TransportReason } from './errors.ts';

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;

const BY_REASON: Record<TransportReason, number> = {
  malformed: 4000,
  version: 4001,
  unexpected_message: 4002,
  peer_rejected: 4003,
  bad_signature: 4004,
  weak_key: 4005,
  unknown_type: 4006,
  oversized: 4007,
  out_of_order: 4008,
  auth_failed: 4009,
  closed: 4010,
  timeout: 4011,
  refused: 4012,
  unreachable: 4013,
  stalled: 4014,
  no_common_aead: 4015,
};

const BY_CODE = new Map(Object.entries(BY_REASON).map(([reason, code]) => [code, reason as TransportReason]));

export function closeCodeFor(reason: TransportReason): number {
  return BY_REASON[reason];
}

/**
 * The reason a close code stands for: ours, or the WebSocket protocol's own (ws closes with 1009 for a message
 * over maxPayload and 1002/1007 for broken framing). Null for a clean close (1000, 1001, 1005).
 */
export function reasonForCloseCode(code: number): TransportReason | null {
  const ours = BY_CODE.get(code);
  if (ours) return ours;
  if (code === 1000 || code === 1001 || code === 1005) return null;
  if (code === 1009) return 'oversized';
  if (code === 1002 || code === 1003 || code === 1007) return 'malformed';
  return 'closed';
}

/** A close reason must fit in 123 bytes of UTF-8 (a control frame's 125, less the code). */
export function closeReasonText(text: string): string {
  const bytes = Buffer.from(text);
  if (bytes.length <= 123) return text;
  // Cut on a character boundary: decode the first 120 bytes, dropping a partial trailing character.
  return `${bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '')}...`;
}
