/**
 * An established session: one sending and one receiving direction, each a key, a frame counter and a rekey
 * schedule. Both ends apply the same schedule to the same frames (count and payload bytes, never time), so they
 * rekey in lockstep with no message for it. A stream delivers frames in order, so the receiver accepts only the
 * next counter; the first refused frame ends the session, as a TLS record error does: the driver logs the reason
 * with the peer's address and closes the connection, and the peer starts a fresh handshake.
 *
 * The schedule suits both AEADs: a key seals at most 2^20 frames or 1 GiB before it is replaced, far inside
 * AES-GCM's usage limits (TLS 1.3 allows about 2^24.5 full records per key) and ChaCha20-Poly1305's.
 */

import type { AeadName } from './aead.ts';
import { TransportError, refuse, type Result } from './errors.ts';
import { DEFAULT_MAX_PAYLOAD_BYTES, FRAME_OVERHEAD, nextKey, openFrame, sealFrame, type FrameType, type OpenedFrame, type Payload } from './frames.ts';

export interface SessionOptions {
  /** Largest payload accepted or sent in one frame. Both ends should agree; a bigger frame ends the session. */
  maxPayloadBytes?: number;
  /** Rekey a direction after this many frames (both ends must use the same value). */
  rekeyAfterFrames?: number;
  /** ...or after this many payload bytes, whichever comes first. */
  rekeyAfterBytes?: number;
}

export const DEFAULT_REKEY_AFTER_FRAMES = 1 << 20;
export const DEFAULT_REKEY_AFTER_BYTES = 2 ** 30;

/** One direction's state: the counter never resets, so (key, nonce) pairs are unique across rekeys too. */
class Direction {
  key: Uint8Array;
  counter = 0;
  epoch = 0;
  #framesInEpoch = 0;
  #bytesInEpoch = 0;
  readonly #rekeyFrames: number;
  readonly #rekeyBytes: number;

  constructor(key: Uint8Array, rekeyFrames: number, rekeyBytes: number) {
    this.key = Uint8Array.from(key);
    this.#rekeyFrames = rekeyFrames;
    this.#rekeyBytes = rekeyBytes;
  }

  /** Called once per frame sealed or opened, with its payload size. */
  advance(payloadBytes: number): void {
    this.counter += 1;
    this.#framesInEpoch += 1;
    this.#bytesInEpoch += payloadBytes;
    if (this.#framesInEpoch >= this.#rekeyFrames || this.#bytesInEpoch >= this.#rekeyBytes) {
      const next = nextKey(this.key);
      this.key.fill(0);
      this.key = next;
      this.epoch += 1;
      this.#framesInEpoch = 0;
      this.#bytesInEpoch = 0;
    }
  }

  wipe(): void {
    this.key.fill(0);
  }
}

/** What a completed handshake gives a session (a HandshakeResult is one). */
export interface SessionKeys {
  aead: AeadName;
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
}

export class Session {
  /** The AEAD every frame of this session is sealed with, both ways. */
  readonly aead: AeadName;
  readonly #send: Direction;
  readonly #receive: Direction;
  readonly #maxPayloadBytes: number;
  #error: TransportError | null = null;

  constructor(keys: SessionKeys, options: SessionOptions = {}) {
    const frames = options.rekeyAfterFrames ?? DEFAULT_REKEY_AFTER_FRAMES;
    const bytes = options.rekeyAfterBytes ?? DEFAULT_REKEY_AFTER_BYTES;
    if (!(frames >= 1) || !(bytes >= 1)) throw new RangeError('rekey thresholds must be at least 1');
    this.aead = keys.aead;
    this.#maxPayloadBytes = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    this.#send = new Direction(keys.sendKey, frames, bytes);
    this.#receive = new Direction(keys.receiveKey, frames, bytes);
  }

  /** Why the session ended, or null while it is usable. */
  get error(): TransportError | null {
    return this.#error;
  }

  /** How many times each direction has rekeyed (for metrics and tests). */
  get epochs(): { send: number; receive: number } {
    return { send: this.#send.epoch, receive: this.#receive.epoch };
  }

  /**
   * Seals the next outgoing frame, into `into` when given (a buffer of exactly the frame's size whose previous
   * frame has been written); a payload in parts is sealed as their concatenation. Throws on local misuse only: a
   * closed session, an oversized payload.
   */
  seal(type: FrameType, payload: Payload, into?: Uint8Array): Uint8Array {
    if (this.#error) throw new TransportError('closed', `the session has ended (${this.#error.reason}); open a new connection`, { cause: this.#error });
    const frame = sealFrame(this.aead, this.#send.key, this.#send.counter, type, payload, this.#maxPayloadBytes, into);
    this.#send.advance(frame.length - FRAME_OVERHEAD);
    return frame;
  }

  /** Opens the next incoming frame, or refuses it and ends the session. Never throws. */
  open(frame: Uint8Array): Result<OpenedFrame> {
    if (this.#error) return refuse('closed', `the session has ended (${this.#error.reason}); open a new connection`, this.#error);
    const opened = openFrame(this.aead, this.#receive.key, this.#receive.counter, frame, this.#maxPayloadBytes);
    if (!opened.ok) {
      this.close(opened.error);
      return opened;
    }
    this.#receive.advance(opened.value.payload.length);
    return opened;
  }

  /** Ends the session and wipes its keys. Idempotent. */
  close(reason: TransportError = new TransportError('closed', 'the session was closed')): void {
    if (this.#error) return;
    this.#error = reason;
    this.#send.wipe();
    this.#receive.wipe();
  }
}
