/**
 * One mesh connection's bulk channel as a Node Duplex, so both ends of the mesh join a socket to it the way they
 * join two sockets (splice.ts), with the same backpressure and half-close rules.
 *
 * Flow control is a credit window, as HTTP/2's and QUIC's streams have: a sender may have at most WINDOW_BYTES on
 * the way that the other end has not yet handed on to its socket; the receiver gives credit back as its reader
 * takes the bytes. A pause-and-resume signal cannot bound what is in flight — by the time it arrives, the
 * transport's buffer and both kernels' socket buffers (megabytes each, on a fast link) may already hold more than
 * the receiver may keep — so a client that merely stopped reading for a moment had its download reset. With
 * credits, what one connection holds at the receiver is at most the window, whatever the link.
 *
 * Writing: each chunk goes out with sendBytes; while the channel is over its high-water mark (sendBytes answered
 * false) or the window is spent, the write is not acknowledged, so whoever pipes into this stream stops reading its
 * socket. Reading: bytes are pushed as they come, and credited once the reader has taken a quarter of the window. A
 * peer that sends beyond its credit is broken or hostile, and is cut off at maxBufferedBytes (or the window and one
 * write, if more). end() sends {type: 'end'}; the other end's 'end' ends the readable side; a channel that closes
 * before both is an error, so the socket at this end is reset rather than ended as if all was well.
 *
 * A splice that joins this stream to a socket (socket-splice.ts) may skip the Duplex's machinery for the bytes and
 * keep it for the life (end, finish, close, errors): sendNow() sends a socket's read as it is, sealed before it
 * returns, so the read buffer can be read into again, and writeInto() writes what arrives straight to the socket,
 * crediting it back as the socket takes it. The wire is the same either way.
 */

import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { StreamChannel } from '../cluster/mux/stream.ts';
import { BULK_BYTES } from './read-buffers.ts';

/**
 * Bytes a sender may have on the way, not yet taken by the other end's reader. A sender starts a write while under
 * it, so up to one write more may arrive: at most WRITE_BYTES.
 *
 * Sizes measured on the real hosts (test/cluster/harness.ts), 256 MiB downloads across hosts, medians of 5 after a
 * warm-up: pieces of 64 KiB against 256 KiB ran 730-830 MB/s against 650-720 (a piece the size of one socket read
 * keeps the ingress's reassembly and both nodes' ciphers on buffers that stay in cache; 1 MiB pieces ran 500-530,
 * 32 KiB 650-690); with 64 KiB pieces a 2 MiB window ran 827 MB/s against 732 with 1 MiB.
 */
export const WINDOW_BYTES = 2 << 20;
/** The largest write a user of this stream makes: a socket read, at most a bulk read buffer (read-buffers.ts). */
const WRITE_BYTES = BULK_BYTES;
/** Credit is given back in steps of this many bytes taken, not per chunk. */
const CREDIT_STEP = WINDOW_BYTES / 4;
/** Bytes the readable side holds before Node stops asking for more (reads are paced by the window anyway). */
const READ_HIGH_WATER = 256 * 1024;
/** Largest piece sent in one frame (see WINDOW_BYTES). */
const MAX_PIECE_BYTES = 64 * 1024;

export class ChannelStream extends Duplex {
  readonly #channel: StreamChannel;
  readonly #maxBufferedBytes: number;
  /** A write waiting for the channel to drain or the other end to resume. */
  #pendingWrite: (() => void) | null = null;
  #waitingForDrain = false;
  /** Sent and not yet credited by the other end. */
  #unacknowledged = 0;
  /** Received in all, and credited back so far. */
  #received = 0;
  #credited = 0;
  #receivedEnd = false;
  #sentEnd = false;
  /** Called once the window and the channel have room again after sendNow() answered false. */
  #onRoom: (() => void) | null = null;
  /** writeInto()'s socket: what arrives is written to it rather than pushed to the readable side. */
  #sink: Socket | null = null;
  #onSinkBytes: (() => void) | null = null;

  constructor(channel: StreamChannel, maxBufferedBytes: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: READ_HIGH_WATER, writableHighWaterMark: 64 * 1024 });
    this.#channel = channel;
    this.#maxBufferedBytes = maxBufferedBytes;
    channel.onBytes((bytes) => this.#take(bytes));
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
    if (!this.#send(chunk)) return callback(this.#closedError());
    this.#pendingWrite = () => callback();
    this.#release();
  }

  /**
   * Sends `chunk` now, beside the writable side (which the caller then uses only to end): it is sealed or copied
   * before this returns. Answers whether more may be sent; when not (the window is spent or the channel is over its
   * high-water mark), `onRoom` is called once there is room again. Throws once the channel is closed.
   */
  sendNow(chunk: Uint8Array, onRoom: () => void): boolean {
    if (!this.#send(chunk)) throw this.#closedError();
    if (!this.#waitingForDrain && this.#unacknowledged < WINDOW_BYTES) return true;
    this.#onRoom = onRoom;
    return false;
  }

  /**
   * From now on, what arrives is written straight to `socket` (not pushed to the readable side, which carries only
   * the other end's `end`), and credited back as the socket takes it: at most a window waits in the socket for a
   * slow reader, and a peer that sends beyond its credit is cut off as before. `onBytes` is called per payload.
   */
  writeInto(socket: Socket, onBytes: () => void): void {
    this.#sink = socket;
    this.#onSinkBytes = onBytes;
    this.resume();
  }

  /** Sends `chunk` in pieces; false once the channel is closed. */
  #send(chunk: Uint8Array): boolean {
    for (let at = 0; at < chunk.length; at += MAX_PIECE_BYTES) {
      const piece = chunk.subarray(at, at + MAX_PIECE_BYTES);
      this.#unacknowledged += piece.length;
      if (!this.#channel.sendBytes(piece)) {
        if (this.#channel.closed) return false;
        this.#waitingForDrain = true;
      }
    }
    return true;
  }

  #closedError(): Error {
    return new Error(`the mesh stream with node ${this.#channel.peer.nodeId} is closed`);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#sentEnd = true;
    this.#channel.send({ type: 'end' });
    callback();
    this.#closeIfDone();
  }

  override _read(): void {
    this.#credit();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#pendingWrite = null;
    this.#onRoom = null;
    this.#channel.close(error ? 'the mesh connection was reset' : 'the mesh connection ended');
    callback(error);
  }

  #take(bytes: Uint8Array): void {
    if (this.#receivedEnd || this.destroyed) return;
    const sink = this.#sink;
    const bound = Math.max(this.#maxBufferedBytes, WINDOW_BYTES + WRITE_BYTES);
    if ((sink ? sink.writableLength : this.readableLength) + bytes.length > bound) {
      this.destroy(new Error(`node ${this.#channel.peer.nodeId} sent over ${bound} bytes that could not be delivered (beyond its credit)`));
      return;
    }
    this.#received += bytes.length;
    if (sink) {
      this.#onSinkBytes!();
      sink.write(bytes, this.#sunk);
      return;
    }
    this.push(bytes);
    this.#credit();
  }

  /** A write to writeInto()'s socket is done: credit what it has taken. */
  readonly #sunk = (): void => {
    this.#credit();
  };

  /** Gives back credit for what the reader (or writeInto()'s socket) has taken, a step at a time. */
  #credit(): void {
    const taken = this.#received - (this.#sink ? this.#sink.writableLength : this.readableLength);
    if (taken - this.#credited < CREDIT_STEP || this.#channel.closed) return;
    this.#channel.send({ type: 'credit', bytes: taken - this.#credited });
    this.#credited = taken;
  }

  #control(message: unknown): void {
    const type = (message as { type?: unknown } | null)?.type;
    if (type === 'end' && !this.#receivedEnd) {
      this.#receivedEnd = true;
      this.push(null);
      this.#closeIfDone();
    } else if (type === 'credit') {
      const bytes = (message as { bytes?: unknown }).bytes;
      if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes <= 0 || bytes > this.#unacknowledged) {
        this.destroy(new Error(`node ${this.#channel.peer.nodeId} sent a malformed credit`));
        return;
      }
      this.#unacknowledged -= bytes;
      this.#release();
    }
  }

  /** Acknowledges the pending write once the channel has room and the window is not spent. */
  #release(): void {
    if (this.#waitingForDrain || this.#unacknowledged >= WINDOW_BYTES) return;
    const onRoom = this.#onRoom;
    this.#onRoom = null;
    onRoom?.();
    if (!this.#pendingWrite) return;
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
