/**
 * One sealed frame, as pure functions of (AEAD, key, counter, bytes). A frame is
 *
 *   type u8 | counter u64 | length u32 | AEAD(payload) | tag 16
 *
 * under the session's AEAD, AES-256-GCM or ChaCha20-Poly1305 (aead.ts): both take a 32-byte key and a 12-byte
 * nonce and make a 16-byte tag, so the frame is the same either way. The 13-byte header is the AEAD's associated
 * data, so none of it can be altered; the nonce is the counter (4 zero bytes then the counter, big-endian) and is
 * never reused under one key because the counter only grows.
 * The counter is on the wire only so a refusal can say "replayed or reordered" instead of "bad tag": the receiver
 * requires exactly the next one, which it knows without reading it. Everything that can be checked before
 * decrypting is (size first), so an oversized or misrouted frame costs no cipher work.
 *
 * Memory: node:crypto gives every update() a new buffer, so a bulk stream makes one per frame on each side. Left
 * to the garbage collector, such buffers count as V8 external memory until a collection finds them. Measured on a
 * 512 MB loopback stream, V8 then ran 8 full mark-compacts where plain ws ran 2, on helper threads taking CPU the
 * transfer needed, and malloc faulted fresh pages in for each frame. So a buffer this transport is done with is
 * given back at once (releaseBuffer): the sealed bytes once copied into the frame, a received frame once opened
 * (channel.ts). That brought the mark-compacts down to plain ws's 2 and the sending side from about 0.42 to 0.27
 * CPU-s/GB.
 *
 * A payload may come in parts (a layer's header, then its data), fed to the one cipher in order: the frame is the
 * one their concatenation would make, so nothing changes on the wire or for the receiver, and the sender skips the
 * copy that joining them would cost. For the stream mux that copy was a fresh 64 KiB buffer per chunk, left to the
 * garbage collector: measured on one mesh stream over loopback (test/bench/mux.bench.ts), dropping it took the
 * sending side from about 0.49 to 0.40 CPU-s/GB and its mark-compacts from about 10 per GB to none. Decrypting in
 * place is not possible with node:crypto (update() always answers a new buffer), so the receiver's payload stays a
 * buffer of its own, handed on.
 */

import { createCipheriv, createDecipheriv, hkdfSync, type CipherChaCha20Poly1305, type CipherGCM, type DecipherChaCha20Poly1305, type DecipherGCM } from 'node:crypto';
import type { AeadName } from './aead.ts';
import { ok, refuse, type Result } from './errors.ts';
import { KEY_BYTES, PROTOCOL_LABEL, PROTOCOL_VERSION } from './handshake-messages.ts';

/**
 * The message type byte. Control (Raft, heartbeats, assignments, status) and bulk (the network's streams) are
 * told apart here so a scheduler can always send control first.
 */
export const FRAME_TYPE = { control: 1, bulk: 2 } as const;
export type FrameType = (typeof FRAME_TYPE)[keyof typeof FRAME_TYPE];
const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(FRAME_TYPE));

export const FRAME_HEADER_BYTES = 13;
export const TAG_BYTES = 16;
export const FRAME_OVERHEAD = FRAME_HEADER_BYTES + TAG_BYTES;
/** Default payload limit: big enough for a Raft snapshot chunk, small enough that one frame never stalls a link. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;

const REKEY_INFO = Buffer.from(`${PROTOCOL_LABEL} v${PROTOCOL_VERSION} rekey`);

export interface OpenedFrame {
  type: FrameType;
  payload: Uint8Array;
}

/**
 * One scratch nonce, rewritten for each frame: createCipheriv copies the IV before it returns, so nothing keeps a
 * reference to it, and a bulk stream does not allocate (and later collect) a 12-byte buffer per frame.
 */
const NONCE = Buffer.alloc(12);

function nonce(counter: number): Buffer {
  NONCE.writeUInt32BE(Math.floor(counter / 2 ** 32), 4);
  NONCE.writeUInt32BE(counter >>> 0, 8);
  return NONCE;
}

/** node:crypto types each AEAD's cipher apart; a branch per name picks the right overload, no cast needed. */
function cipher(aead: AeadName, key: Uint8Array, iv: Buffer): CipherGCM | CipherChaCha20Poly1305 {
  return aead === 'aes-256-gcm'
    ? createCipheriv(aead, key, iv, { authTagLength: TAG_BYTES })
    : createCipheriv(aead, key, iv, { authTagLength: TAG_BYTES });
}

function decipher(aead: AeadName, key: Uint8Array, iv: Buffer): DecipherGCM | DecipherChaCha20Poly1305 {
  return aead === 'aes-256-gcm'
    ? createDecipheriv(aead, key, iv, { authTagLength: TAG_BYTES })
    : createDecipheriv(aead, key, iv, { authTagLength: TAG_BYTES });
}

function writeHeader(out: Buffer, type: number, counter: number, length: number): void {
  out[0] = type;
  out.writeUInt32BE(Math.floor(counter / 2 ** 32), 1);
  out.writeUInt32BE(counter >>> 0, 5);
  out.writeUInt32BE(length, 9);
}

/** ArrayBuffer.prototype.transfer (ES2024, in Node since 20), which TypeScript's ES2023 library does not declare. */
type TransferableBuffer = ArrayBufferLike & { transfer?: (newLength: number) => ArrayBuffer };

/**
 * Frees `bytes`' memory now rather than at some later garbage collection, when `bytes` spans its whole
 * ArrayBuffer: memory allocated for it alone, never a view into a larger buffer (a socket read that holds more
 * frames, Buffer's shared pool), which is left alone. Answers whether it freed. The caller must be the only holder:
 * afterwards the buffer is detached, zero bytes long to anyone still holding it. Transferring to a zero-length
 * buffer frees the old memory at once and takes it off V8's external-memory count.
 */
export function releaseBuffer(bytes: Uint8Array): boolean {
  const buffer = bytes.buffer as TransferableBuffer;
  if (bytes.byteLength === 0 || bytes.byteOffset !== 0 || bytes.byteLength !== buffer.byteLength || typeof buffer.transfer !== 'function') return false;
  buffer.transfer(0);
  return true;
}

function ownBuffer(length: number): Uint8Array {
  const fresh = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(fresh.buffer, fresh.byteOffset, fresh.length);
}

/**
 * A frame's payload: one buffer, or parts sealed as their concatenation (the receiver opens one payload either
 * way). A layer that puts a header before its data, as the stream mux does, hands the two over as they are instead
 * of copying the data behind the header first: the cipher reads each part where it lies.
 */
export type Payload = Uint8Array | readonly Uint8Array[];

export function payloadLength(payload: Payload): number {
  if (payload instanceof Uint8Array) return payload.length;
  let length = 0;
  for (const part of payload) length += part.length;
  return length;
}

/**
 * Seals one frame. The caller (Session) owns the counter; a bad argument here is a bug, so it throws. The frame is
 * written into `into` when given (exactly FRAME_OVERHEAD + the payload's length, all of it overwritten: a sender
 * reusing the buffers of frames already written to the socket), otherwise into a new buffer. Parts are fed to one
 * cipher in order, so the frame is byte for byte the one their concatenation makes.
 */
export function sealFrame(aead: AeadName, key: Uint8Array, counter: number, type: FrameType, payload: Payload, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES, into?: Uint8Array): Uint8Array {
  const length = payloadLength(payload);
  if (!KNOWN_TYPES.has(type)) throw new RangeError(`unknown frame type ${type}`);
  if (length > maxPayloadBytes) throw new RangeError(`payload of ${length} bytes is over the ${maxPayloadBytes}-byte frame limit: split it`);
  if (!Number.isSafeInteger(counter) || counter < 0) throw new RangeError(`bad frame counter ${counter}`);
  if (into && into.length !== FRAME_OVERHEAD + length) throw new RangeError(`a ${into.length}-byte buffer cannot hold a frame of a ${length}-byte payload`);
  // A plain Uint8Array of its own: not a slice of Buffer's shared pool, and `.slice()` copies as callers expect.
  // Not zero-filled either (allocUnsafeSlow): every byte is written below, and a 64 KiB memset per frame showed.
  const frame = into ?? ownBuffer(FRAME_OVERHEAD + length);
  const out = Buffer.from(frame.buffer, frame.byteOffset, frame.length);
  writeHeader(out, type, counter, length);
  const sealer = cipher(aead, key, nonce(counter));
  sealer.setAAD(out.subarray(0, FRAME_HEADER_BYTES), { plaintextLength: length });
  let at = FRAME_HEADER_BYTES;
  if (payload instanceof Uint8Array) at = sealPart(sealer, payload, out, at);
  else for (const part of payload) at = sealPart(sealer, part, out, at);
  sealer.final().copy(out, at); // nothing for these AEADs, which seal byte for byte; copied should one not
  sealer.getAuthTag().copy(out, FRAME_HEADER_BYTES + length);
  return frame;
}

/** Seals one part into `out` at `at`, and answers where the next goes. */
function sealPart(sealer: CipherGCM | CipherChaCha20Poly1305, part: Uint8Array, out: Buffer, at: number): number {
  if (part.length === 0) return at;
  const sealed = sealer.update(part);
  const next = at + sealed.copy(out, at);
  releaseBuffer(sealed); // node:crypto's own new buffer, now copied into the frame: nobody else holds it (and it reads as empty from here on)
  return next;
}

/**
 * Opens one frame sealed with `aead` under `key` with counter `expectedCounter`, or says why not. Never throws on
 * any input, and never returns a payload whose tag did not verify.
 */
export function openFrame(aead: AeadName, key: Uint8Array, expectedCounter: number, frame: Uint8Array, maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES): Result<OpenedFrame> {
  if (!(frame instanceof Uint8Array)) return refuse('malformed', 'a frame must be bytes');
  if (frame.length > FRAME_OVERHEAD + maxPayloadBytes) {
    return refuse('oversized', `frame of ${frame.length} bytes is over the ${maxPayloadBytes}-byte payload limit`);
  }
  if (frame.length < FRAME_OVERHEAD) return refuse('malformed', `frame of ${frame.length} bytes is shorter than its ${FRAME_OVERHEAD}-byte header and tag`);
  const bytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  const type = bytes[0]!;
  const counter = bytes.readUInt32BE(1) * 2 ** 32 + bytes.readUInt32BE(5);
  const length = bytes.readUInt32BE(9);
  if (length > maxPayloadBytes) return refuse('oversized', `frame declares a ${length}-byte payload, over the ${maxPayloadBytes}-byte limit`);
  if (frame.length !== FRAME_OVERHEAD + length) return refuse('malformed', `frame is ${frame.length} bytes but declares a ${length}-byte payload (truncated or padded)`);
  if (!KNOWN_TYPES.has(type)) return refuse('unknown_type', `unknown frame type ${type}`);
  if (counter !== expectedCounter) {
    return refuse('out_of_order', `frame counter ${counter} is not the expected ${expectedCounter}: ${counter < expectedCounter ? 'a replayed' : 'a reordered or lost'} frame`);
  }
  try {
    const opener = decipher(aead, key, nonce(counter));
    opener.setAAD(bytes.subarray(0, FRAME_HEADER_BYTES), { plaintextLength: length });
    opener.setAuthTag(bytes.subarray(FRAME_HEADER_BYTES + length));
    const body = opener.update(bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length));
    const rest = opener.final(); // throws when the tag does not verify; nothing is returned before this
    const plain = rest.length === 0 ? body : Buffer.concat([body, rest]);
    return ok({ type: type as FrameType, payload: new Uint8Array(plain.buffer, plain.byteOffset, plain.byteLength) });
  } catch (err) {
    return refuse('auth_failed', 'frame failed authentication: it was altered in transit or sealed under another key', err);
  }
}

/** The next key in a direction's chain. One-way: a key captured after a rekey does not open earlier frames. */
export function nextKey(key: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), REKEY_INFO, KEY_BYTES));
}
