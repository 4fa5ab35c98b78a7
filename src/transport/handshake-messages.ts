/**
 * The three handshake messages on the wire, and the transcript both sides sign. Every message starts with a
 * magic and the protocol version, so garbage on the port and a peer of another version are told apart from a
 * broken message, and the decoder checks every length before it reads: a decoder that returns a reason instead
 * of throwing is what lets the daemon shrug off whatever arrives on its port.
 *
 *   hello   (initiator → responder): magic "SWLH" | version u8 | kind=1 | ephemeral 32 | certLen u16 | cert
 *   reply   (responder → initiator): magic | version | kind=2 | ephemeral 32 | certLen u16 | cert | signature 64
 *   finish  (initiator → responder): magic | version | kind=3 | signature 64
 */

import { createHash } from 'node:crypto';
import { ok, refuse, type Result } from './errors.ts';

export const PROTOCOL_VERSION = 1;
export const PROTOCOL_LABEL = 'swarmlet/transport';
const MAGIC = [0x53, 0x57, 0x4c, 0x48]; // "SWLH"
const HEADER_BYTES = MAGIC.length + 2;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Certificates are a few hundred bytes; the cap keeps a hostile hello from costing memory or hashing time. */
export const MAX_CERTIFICATE_BYTES = 8192;

export const MESSAGE_KIND = { hello: 1, reply: 2, finish: 3 } as const;
export type MessageKind = keyof typeof MESSAGE_KIND;

export interface Hello { ephemeral: Uint8Array; certificate: Uint8Array }
export interface Reply { ephemeral: Uint8Array; certificate: Uint8Array; signature: Uint8Array }
export interface Finish { signature: Uint8Array }

function header(kind: MessageKind, bodyBytes: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(HEADER_BYTES + bodyBytes);
  out.set(MAGIC, 0);
  out[4] = PROTOCOL_VERSION;
  out[5] = MESSAGE_KIND[kind];
  return { out, view: new DataView(out.buffer) };
}

function checkCertificateSize(certificate: Uint8Array): void {
  if (certificate.length === 0 || certificate.length > MAX_CERTIFICATE_BYTES) {
    throw new RangeError(`a certificate must be 1..${MAX_CERTIFICATE_BYTES} bytes, got ${certificate.length}`);
  }
}

export function encodeHello(m: Hello): Uint8Array {
  checkCertificateSize(m.certificate);
  const { out, view } = header('hello', KEY_BYTES + 2 + m.certificate.length);
  out.set(m.ephemeral, HEADER_BYTES);
  view.setUint16(HEADER_BYTES + KEY_BYTES, m.certificate.length);
  out.set(m.certificate, HEADER_BYTES + KEY_BYTES + 2);
  return out;
}

export function encodeReply(m: Reply): Uint8Array {
  checkCertificateSize(m.certificate);
  const { out, view } = header('reply', KEY_BYTES + 2 + m.certificate.length + SIGNATURE_BYTES);
  out.set(m.ephemeral, HEADER_BYTES);
  view.setUint16(HEADER_BYTES + KEY_BYTES, m.certificate.length);
  out.set(m.certificate, HEADER_BYTES + KEY_BYTES + 2);
  out.set(m.signature, HEADER_BYTES + KEY_BYTES + 2 + m.certificate.length);
  return out;
}

export function encodeFinish(m: Finish): Uint8Array {
  const { out } = header('finish', SIGNATURE_BYTES);
  out.set(m.signature, HEADER_BYTES);
  return out;
}

/** Checks magic, version and kind; returns the body. */
function body(bytes: Uint8Array, kind: MessageKind): Result<Uint8Array> {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    return refuse('malformed', `expected a handshake ${kind} message; this is not the swarmlet transport protocol`);
  }
  if (bytes[4] !== PROTOCOL_VERSION) {
    return refuse('version', `the peer speaks transport protocol version ${bytes[4]}, this node speaks ${PROTOCOL_VERSION}: run the same swarmlet release on both nodes`);
  }
  if (bytes[5] !== MESSAGE_KIND[kind]) {
    return refuse('unexpected_message', `expected a handshake ${kind} message, got message kind ${bytes[5]}`);
  }
  return ok(bytes.subarray(HEADER_BYTES));
}

/** Reads ephemeral | certLen | cert, and requires exactly `trailing` bytes after it. */
function ephemeralAndCertificate(b: Uint8Array, kind: MessageKind, trailing: number): Result<{ ephemeral: Uint8Array; certificate: Uint8Array }> {
  if (b.length < KEY_BYTES + 2) return refuse('malformed', `handshake ${kind} message is truncated`);
  const certLength = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(KEY_BYTES);
  if (certLength === 0 || certLength > MAX_CERTIFICATE_BYTES) {
    return refuse('malformed', `handshake ${kind} message carries a certificate of ${certLength} bytes (allowed 1..${MAX_CERTIFICATE_BYTES})`);
  }
  if (b.length !== KEY_BYTES + 2 + certLength + trailing) {
    return refuse('malformed', `handshake ${kind} message is ${b.length + HEADER_BYTES} bytes, its fields say ${KEY_BYTES + 2 + certLength + trailing + HEADER_BYTES}`);
  }
  return ok({ ephemeral: b.slice(0, KEY_BYTES), certificate: b.slice(KEY_BYTES + 2, KEY_BYTES + 2 + certLength) });
}

export function decodeHello(bytes: Uint8Array): Result<Hello> {
  const b = body(bytes, 'hello');
  return b.ok ? ephemeralAndCertificate(b.value, 'hello', 0) : b;
}

export function decodeReply(bytes: Uint8Array): Result<Reply> {
  const b = body(bytes, 'reply');
  if (!b.ok) return b;
  const fields = ephemeralAndCertificate(b.value, 'reply', SIGNATURE_BYTES);
  if (!fields.ok) return fields;
  return ok({ ...fields.value, signature: b.value.slice(b.value.length - SIGNATURE_BYTES) });
}

export function decodeFinish(bytes: Uint8Array): Result<Finish> {
  const b = body(bytes, 'finish');
  if (!b.ok) return b;
  if (b.value.length !== SIGNATURE_BYTES) return refuse('malformed', `handshake finish message must carry exactly a ${SIGNATURE_BYTES}-byte signature`);
  return ok({ signature: b.value.slice() });
}

/**
 * SHA-256 over the label, the version and every handshake field, each length-prefixed so no two different
 * transcripts hash the same bytes. Both certificates are in it: each signature then says who the signer thinks it
 * is talking to, which rules out identity misbinding (a relay swapping in its own certificate).
 */
export function transcriptHash(t: { initiatorEphemeral: Uint8Array; initiatorCertificate: Uint8Array; responderEphemeral: Uint8Array; responderCertificate: Uint8Array }): Uint8Array {
  const h = createHash('sha256');
  const part = (bytes: Uint8Array) => {
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length);
    h.update(length);
    h.update(bytes);
  };
  part(new TextEncoder().encode(PROTOCOL_LABEL));
  part(Uint8Array.of(PROTOCOL_VERSION));
  part(t.initiatorEphemeral);
  part(t.initiatorCertificate);
  part(t.responderEphemeral);
  part(t.responderCertificate);
  return new Uint8Array(h.digest());
}

/** What each role signs: a role label, so a responder's signature can never be replayed as an initiator's. */
export function signedPayload(role: 'initiator' | 'responder', transcript: Uint8Array): Uint8Array {
  const label = new TextEncoder().encode(`${PROTOCOL_LABEL} v${PROTOCOL_VERSION} ${role} signature\0`);
  const out = new Uint8Array(label.length + transcript.length);
  out.set(label);
  out.set(transcript, label.length);
  return out;
}
