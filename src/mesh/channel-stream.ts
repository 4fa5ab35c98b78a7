/**
 * One mesh connection's bulk channel as a Node Duplex, so both ends of the mesh join a socket to it the way they
 * join two sockets (splice.ts), with the same backpressure and half-close rules.
 *
 * Writing: each chunk goes out with sendBytes; while the channel is over its high-water mark (sendBytes answered
 * false) or the other end asked to pause, the write is not acknowledged, so whoever pipes into this stream stops
 * reading its socket. Reading: bytes are pushed as they come; once more than the readable high-water mark waits
 * (the socket this stream is piped into is full), the other end is asked to pause, and to resume when the data is
 * taken. A peer that keeps sending anyway fills at most maxBufferedBytes before the connection is closed.
 * end() sends {type: 'end'}; the other end's 'end' ends the readable side; a channel that closes before both is
 * an error, so the socket at this end is reset rather than ended as if all was well.
 */

import { Duplex } from 'node:stream';
import type { SecureChannel } from '../transport/secure-channel.ts';

/** Bytes waiting to be read before the other end is asked to pause. */
const READ_HIGH_WATER = 256 * 1024;
/** Largest piece sent in one frame, well under the transport's frame limit. */
const MAX_PIECE_BYTES = 256 * 1024;

export class ChannelStream extends Duplex {
  readonly #channel: SecureChannel;
  readonly #maxBufferedBytes: number;
  /** A write waiting for the channel to drain or the other end to resume. */
  #pendingWrite: (() => void) | null = null;
  #waitingForDrain = false;
  #remotePaused = false;
  #askedToPause = false;
  #receivedEnd = false;
  #sentEnd = false;

  constructor(channel: SecureChannel, maxBufferedBytes: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: 64 * 1024 });
    this.#channel = channel;
    this.#maxBufferedBytes = maxBufferedBytes;
    channel.onBytes((bytes) => this.#received(bytes));
    channel.onMessage((message) => this.#control(message));
    channel.onDrain(() => {
      this.#waitingForDrain = false;
      this.#release();
    });
    channel.onClose((reason) => {
      if (this.#receivedEnd && this.#sentEnd) return;
      const why = reason ? `: ${reason.message}` : '';
      this.destroy(new Error(`the mesh stream with node ${channel.peer.nodeId} closed before the connection ended${why}`));
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    for (let at = 0; at < chunk.length; at += MAX_PIECE_BYTES) {
      if (!this.#channel.sendBytes(chunk.subarray(at, at + MAX_PIECE_BYTES))) {
        if (this.#channel.closed) return callback(new Error(`the mesh stream with node ${this.#channel.peer.nodeId} is closed`));
        this.#waitingForDrain = true;
      }
    }
    this.#pendingWrite = () => callback();
    this.#release();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sentEnd = true;
    this.#channel.send({ type: 'end' });
    callback();
    this.#closeIfDone();
  }

  override _read(): void {
    if (!this.#askedToPause) return;
    this.#askedToPause = false;
    this.#channel.send({ type: 'resume' });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = null;
    this.#channel.close(error ? 'the mesh connection was reset' : 'the mesh connection ended');
    callback(error);
  }

  #received(bytes: Uint8Array): void {
    if (this.#receivedEnd || this.destroyed) return;
    if (this.readableLength + bytes.length > this.#maxBufferedBytes) {
      this.destroy(new Error(`node ${this.#channel.peer.nodeId} sent over ${this.#maxBufferedBytes} bytes that could not be delivered (it ignored a pause)`));
      return;
    }
    if (!this.push(bytes) && !this.#askedToPause) {
      this.#askedToPause = true;
      this.#channel.send({ type: 'pause' });
    }
  }

  #control(message: unknown): void {
    const type = (message as { type?: unknown } | null)?.type;
    if (type === 'end' && !this.#receivedEnd) {
      this.#receivedEnd = true;
      this.push(null);
      this.#closeIfDone();
    } else if (type === 'pause') {
      this.#remotePaused = true;
    } else if (type === 'resume') {
      this.#remotePaused = false;
      this.#release();
    }
  }

  /** Acknowledges the pending write once the channel has room and the other end takes bytes. */
  #release(): void {
    if (this.#waitingForDrain || this.#remotePaused || !this.#pendingWrite) return;
    const done = this.#pendingWrite;
    this.#pendingWrite = null;
    done();
  }

  /**
   * Both halves over: the channel has done its work. The side whose last `end` completes the pair closes it;
   * everything it sent is queued ahead of the close, so the other end still gets all of it.
   */
  #closeIfDone(): void {
    if (this.#receivedEnd && this.#sentEnd) this.#channel.close('the mesh connection ended');
  }
}
