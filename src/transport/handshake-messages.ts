/**
 * The three handshake messages on the wire, and the transcript both sides sign. Every message starts with a
 * magic and the protocol version, so garbage on the port and a peer of another version are told apart from a
 * broken message, and the decoder checks every length before it reads: a decoder that returns a reason instead
 * of throwing is what lets the daemon shrug off whatever arrives on its port.
 *
 *   hello   (initiator → responder): magic "SWLH" | version u8 | kind=1 | ephemeral 32 | offerLen u8 | AEAD ids
 *                                    (1..8, best first) | certLen u16 | cert
 *   reply   (responder → initiator): magic | version | kind=2 | ephemeral 32 | AEAD id u8 | certLen u16 | cert |
 *                                    signature 64
 *   finish  (initiator → responder): magic | version | kind=3 | signature 64
 *
 * Version 2 added the AEAD offer and choice (aead.ts). Version 1 had neither, and its frames were ChaCha20 only. A
 * version 1 node is refused, with a message saying which node to upgrade, rather than spoken to in its protocol: a
 * second protocol would be more code on the path every unauthenticated peer reaches, kept for a mixed cluster that
 * exists only while it is being upgraded (and whose old and new nodes do not connect until it is).
 */

import { createHash } from 'node:crypto';
import { ok, refuse, type Result } from './errors.ts';

export const PROTOCOL_VERSION = 2;
export const PROTOCOL_LABEL = 'swarmlet/transport';
const MAGIC = [0x53, 0x57, 0x4c, 0x48]; // "SWLH"
const HEADER_BYTES = MAGIC.length + 2;
export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = 64;
/** Certificates are a few hundred bytes; the cap keeps a hostile hello from costing memory or hashing time. */
export const MAX_CERTIFICATE_BYTES = 8192;
/** Room for AEADs a later version may add; a longer offer is malformed. */
export const MAX_OFFERED_AEADS = 8;
/** The largest handshake message (a reply with the largest certificate), for the WebSocket size limit. */
export const MAX_HANDSHAKE_MESSAGE_BYTES = HEADER_BYTES + KEY_BYTES + 1 + 2 + MAX_CERTIFICATE_BYTES + Math.max(SIGNATURE_BYTES, MAX_OFFERED_AEADS);

export const MESSAGE_KIND = { hello: 1, reply: 2, finish: 3 } as const;
export type MessageKind = keyof typeof MESSAGE_KIND;

/** `aeads`: the offer's wire ids exactly as sent, unknown ones included, since the transcript hashes them so. */
export interface Hello { ephemeral: Uint8Array; aeads: Uint8Array; certificate: Uint8Array }
/** `aead`: the wire id of the responder's choice. */
export interface Reply { ephemeral: Uint8Array; aead: number; certificate: Uint8Array; signature: Uint8Array }
export interface Finish { signature: Uint8Array }

function checkCertificateSize(certificate: Uint8Array): void {
  if (certificate.length === 0 || certificate.length > MAX_CERTIFICATE_BYTES) {
    throw new RangeError(`a certificate must be 1..${MAX_CERTIFICATE_BYTES} bytes, got ${certificate.length}`);
  }
}

/** Writes a message field by field; the encoders' arguments are this node's own, so a bad one is a bug (RangeError). */
class Writer {
  readonly #parts: Uint8Array[] = [];

  constructor(kind: MessageKind) {
    this.#parts.push(Uint8Array.of(...MAGIC, PROTOCOL_VERSION, MESSAGE_KIND[kind]));
  }

  bytes(bytes: Uint8Array): this {
    this.#parts.push(bytes);
    return this;
  }

  u8(value: number): this {
    return this.bytes(Uint8Array.of(value));
  }

  certificate(certificate: Uint8Array): this {
    checkCertificateSize(certificate);
    const length = new Uint8Array(2);
    new DataView(length.buffer).setUint16(0, certificate.length);
    return this.bytes(length).bytes(certificate);
  }

  done(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#parts));
  }
}

export function encodeHello(m: Hello): Uint8Array {
  if (m.aeads.length < 1 || m.aeads.length > MAX_OFFERED_AEADS) throw new RangeError(`an AEAD offer must name 1..${MAX_OFFERED_AEADS} AEADs, got ${m.aeads.length}`);
  return new Writer('hello').bytes(m.ephemeral).u8(m.aeads.length).bytes(m.aeads).certificate(m.certificate).done();
}

export function encodeReply(m: Reply): Uint8Array {
  return new Writer('reply').bytes(m.ephemeral).u8(m.aead).certificate(m.certificate).bytes(m.signature).done();
}

export function encodeFinish(m: Finish): Uint8Array {
  return new Writer('finish').bytes(m.signature).done();
}

/** Checks magic, version and kind; returns the body. */
function body(bytes: Uint8Array, kind: MessageKind): Result<Uint8Array> {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES || MAGIC.some((b, i) => bytes[i] !== b)) {
    return refuse('malformed', `expected a handshake ${kind} message; this is not the swarmlet transport protocol`);
  }
  const version = bytes[4]!;
  if (version !== PROTOCOL_VERSION) {
    // Worded for either end: the refusing node logs it, and the peer reads it from the close frame (123 bytes).
    const older = Math.min(version, PROTOCOL_VERSION);
    return refuse('version', `transport protocol version ${version} met version ${PROTOCOL_VERSION}: upgrade the node on version ${older} (one swarmlet release on all)`);
  }
  if (bytes[5] !== MESSAGE_KIND[kind]) {
    return refuse('unexpected_message', `expected a handshake ${kind} message, got message kind ${bytes[5]}`);
  }
  return ok(bytes.subarray(HEADER_BYTES));
}

/**
 * Reads a body's fields front to back. Each read checks the length first and answers null past the end, so a
 * decoder refuses a short message instead of reading beyond it; `rest` says how much is left over.
 */
class Reader {
  #at = 0;
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get rest(): number {
    return this.#bytes.length - this.#at;
  }

  bytes(length: number): Uint8Array | null {
    if (length > this.rest) return null;
    this.#at += length;
    return this.#bytes.slice(this.#at - length, this.#at);
  }

  u8(): number | null {
    return this.bytes(1)?.[0] ?? null;
  }

  u16(): number | null {
    const b = this.bytes(2);
    return b ? (b[0]! << 8) | b[1]! : null;
  }
}

const truncated = <T>(kind: MessageKind): Result<T> => refuse('malformed', `handshake ${kind} message is truncated`);

/** certLen u16 | cert, with the length checked against the cap before anything is read. */
function readCertificate(r: Reader, kind: MessageKind): Result<Uint8Array> {
  const length = r.u16();
  if (length === null) return truncated(kind);
  if (length === 0 || length > MAX_CERTIFICATE_BYTES) {
    return refuse('malformed', `handshake ${kind} message carries a certificate of ${length} bytes (allowed 1..${MAX_CERTIFICATE_BYTES})`);
  }
  const certificate = r.bytes(length);
  return certificate ? ok(certificate) : truncated(kind);
}

/** Requires exactly `trailing` bytes to be left: no message may be padded. */
function checkRest(r: Reader, kind: MessageKind, trailing: number): Result<null> {
  if (r.rest < trailing) return truncated(kind);
  if (r.rest > trailing) return refuse('malformed', `handshake ${kind} message has ${r.rest - trailing} bytes after its last field`);
  return ok(null);
}

export function decodeHello(bytes: Uint8Array): Result<Hello> {
  const b = body(bytes, 'hello');
  if (!b.ok) return b;
  const r = new Reader(b.value);
  const ephemeral = r.bytes(KEY_BYTES);
  const offered = r.u8();
  if (ephemeral === null || offered === null) return truncated('hello');
  if (offered < 1 || offered > MAX_OFFERED_AEADS) return refuse('malformed', `handshake hello message offers ${offered} AEADs (allowed 1..${MAX_OFFERED_AEADS})`);
  const aeads = r.bytes(offered);
  if (aeads === null) return truncated('hello');
  const certificate = readCertificate(r, 'hello');
  if (!certificate.ok) return certificate;
  const end = checkRest(r, 'hello', 0);
  return end.ok ? ok({ ephemeral, aeads, certificate: certificate.value }) : end;
}

export function decodeReply(bytes: Uint8Array): Result<Reply> {
  const b = body(bytes, 'reply');
  if (!b.ok) return b;
  const r = new Reader(b.value);
  const ephemeral = r.bytes(KEY_BYTES);
  const aead = r.u8();
  if (ephemeral === null || aead === null) return truncated('reply');
  const certificate = readCertificate(r, 'reply');
  if (!certificate.ok) return certificate;
  const end = checkRest(r, 'reply', SIGNATURE_BYTES);
  return end.ok ? ok({ ephemeral, aead, certificate: certificate.value, signature: r.bytes(SIGNATURE_BYTES)! }) : end;
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
 * is talking to, which rules out identity misbinding (a relay swapping in its own certificate). The AEAD offer (as
 * sent) and the choice are in it too: a relay that strips AES-GCM from the offer, or rewrites the choice, makes
 * the two sides hash different transcripts, and the first signature checked fails — TLS 1.3 binds its cipher
 * suite the same way.
 */
export function transcriptHash(t: {
  initiatorEphemeral: Uint8Array; aeadOffer: Uint8Array; initiatorCertificate: Uint8Array;
  responderEphemeral: Uint8Array; aead: number; responderCertificate: Uint8Array;
}): Uint8Array {
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
  part(t.aeadOffer);
  part(t.initiatorCertificate);
  part(t.responderEphemeral);
  part(Uint8Array.of(t.aead));
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
