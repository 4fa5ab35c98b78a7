/**
 * What a sealed frame's payload means. The frame type says which of two things it is:
 *
 *   bulk frame     raw bytes of a stream, handed to the application untouched (no copy, no parsing)
 *   control frame  an envelope: tag u8 | (request id u32, for requests and replies) | JSON
 *
 *   tag 1 message   fire-and-forget
 *   tag 2 request   expects a reply or a failure with the same id
 *   tag 3 reply     the handler's result
 *   tag 4 failure   the handler's error: {"message": ..., "code"?: ...}
 *
 * The envelope is inside the AEAD, so only an authenticated peer can produce one; a bad one is still a protocol
 * violation (a bug or a version skew) and ends the channel, with the reason logged, rather than being skipped:
 * skipping would hide the bug and leave a request unanswered. Which of the two frame types travels on which
 * channel kind is up to the caller; keeping control and bulk apart is the job of the separate connections.
 */

import { refuse, ok, type Result } from './errors.ts';

export type Envelope =
  | { kind: 'message'; body: unknown }
  | { kind: 'request'; id: number; body: unknown }
  | { kind: 'reply'; id: number; body: unknown }
  | { kind: 'failure'; id: number; error: RemoteFailure };

/** An error as it crosses the wire: the message a user can act on, and the stable code when the handler gave one. */
export interface RemoteFailure {
  message: string;
  code?: string;
}

const TAG = { message: 1, request: 2, reply: 3, failure: 4 } as const;
const KIND_BY_TAG = ['', 'message', 'request', 'reply', 'failure'] as const;

/** Bytes an envelope adds to its JSON at most. */
export const ENVELOPE_OVERHEAD = 5;

/**
 * Encodes an envelope. Throws a TypeError on a body JSON cannot carry (a cycle, a BigInt): that is the caller's
 * bug, found at the call site instead of on the peer. `undefined` travels as null.
 */
export function encodeEnvelope(envelope: Envelope): Uint8Array {
  const json = JSON.stringify(envelope.kind === 'failure' ? envelope.error : envelope.body) ?? 'null';
  const header = envelope.kind === 'message' ? 1 : ENVELOPE_OVERHEAD;
  const out = Buffer.allocUnsafe(header + Buffer.byteLength(json));
  out[0] = TAG[envelope.kind];
  if (envelope.kind !== 'message') out.writeUInt32BE(envelope.id, 1);
  out.write(json, header, 'utf8');
  return out;
}

/** Decodes an envelope, or says why not. Never throws. */
export function decodeEnvelope(payload: Uint8Array): Result<Envelope> {
  const kind = KIND_BY_TAG[payload[0] ?? 0];
  if (!kind) return refuse('malformed', `control payload has unknown envelope tag ${payload[0] ?? '(empty payload)'}`);
  const header = kind === 'message' ? 1 : ENVELOPE_OVERHEAD;
  if (payload.length < header) return refuse('malformed', `control payload of ${payload.length} bytes is too short for a ${kind} envelope`);
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8', header));
  } catch (err) {
    return refuse('malformed', `the ${kind} is not valid JSON: ${(err as Error).message}`, err);
  }
  if (kind === 'message') return ok({ kind, body });
  const id = bytes.readUInt32BE(1);
  if (kind !== 'failure') return ok({ kind, id, body });
  const failure = body as RemoteFailure | null;
  if (typeof failure?.message !== 'string' || (failure.code !== undefined && typeof failure.code !== 'string')) {
    return refuse('malformed', 'a failure reply must carry {"message": string, "code"?: string}');
  }
  return ok({ kind, id, error: { message: failure.message, ...(failure.code === undefined ? {} : { code: failure.code }) } });
}
