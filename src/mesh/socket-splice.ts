/**
 * Joins a client socket to a container socket on this node: the ingress's path to a local task, where the mesh's
 * whole cost is what Node spends moving bytes from one socket to the other. splice.ts joins any two streams (a mesh
 * stream on one side); this keeps its contract — backpressure both ways, half-close, a reset passed on, the idle
 * timeout, the bound on what a destination may hold, the same `Splice` handle — for two sockets, and spends less:
 *
 * - the container's socket reads into buffers chosen by read-buffers.ts (large ones while bulk flows and the client
 *   keeps up, written without a copy), not into a fresh 64 KiB allocation per read;
 * - one write in flight per direction: after a write the kernel did not take whole, reading that side stops until
 *   it has. That is the backpressure — a slow reader costs at most one buffer per direction, then the kernel's
 *   socket buffers — and what lets a read buffer be reused;
 * - no stream.pipe, and per chunk only a timestamp and a write: no closure, promise or timer.
 *
 * The client's socket is accepted by net.Server, which takes no `onread`: its reads (uploads) go through Node's
 * usual 'data' path, with the same one-write-in-flight rule.
 *
 * spliceSocketStream joins a socket to a mesh stream to another node (channel-stream.ts) by the same rules: the
 * socket's reads are sealed into the stream as they come (a container's socket reads into the buffers above, so
 * nothing is allocated per read and a bulk read of up to 1 MiB is sealed in one go), and what the stream receives is
 * written straight to the socket, credited back as the socket takes it.
 *
 * On loopback (test/bench/pipe.bench.ts: busybox httpd sending 256 MiB with sendfile, curl reading, two busy cores)
 * the forwarding thread spent 0.25-0.3 CPU-s per GB this way against 0.65-0.85 through splice.ts, and the download
 * ran at 0.55-0.88× direct against 0.21-0.47× (medians of 5, over several runs).
 */

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ChannelStream } from './channel-stream.ts';
import { connectLocal } from './connect.ts';
import type { ProxyAddresses } from './proxy-protocol.ts';
import { Landing, readBuffers, type ReadBuffers } from './read-buffers.ts';
import { type Splice, type SpliceOptions, type SpliceShared, spliceEnds } from './splice.ts';

/** The landing of each socket made by connectUpstream; other sockets read the usual way. */
const landings = new WeakMap<Socket, Landing>();

/**
 * A TCP connection to a container on this node for spliceSockets, accepted within a deadline, with the PROXY header
 * (when the service asked for one) written before any of the client's bytes. It reads nothing until spliced.
 */
export function connectUpstream(host: string, port: number, timeoutMs: number, proxy: ProxyAddresses | undefined, buffers: ReadBuffers = readBuffers()): Promise<Socket> {
  const reads = new Landing(buffers);
  return connectLocal(host, port, timeoutMs, proxy, {
    onread: { buffer: reads.buffer, callback: reads.read },
    prepare: (socket) => {
      socket.pause();
      landings.set(socket, reads);
      socket.once('close', () => reads.release());
    },
  });
}

/** One direction: chunks read from `from` written to `to`, one write in flight at a time. */
class Direction {
  readonly #from: Socket;
  readonly #to: Socket;
  readonly #shared: SpliceShared;
  /** A write the kernel did not take whole is pending, and `from` stopped reading until it is taken. */
  #waiting = false;

  constructor(from: Socket, to: Socket, shared: SpliceShared) {
    this.#from = from;
    this.#to = to;
    this.#shared = shared;
  }

  /** Writes `chunk`; false when reading must stop until the destination has taken it. */
  readonly push = (chunk: Buffer): boolean => {
    const to = this.#to;
    this.#shared.lastActivity = performance.now();
    if (to.writableLength + chunk.length > this.#shared.maxBufferedBytes) {
      this.#shared.abort(`over ${this.#shared.maxBufferedBytes} bytes waited to be written`);
      return false;
    }
    to.write(chunk, this.#written);
    if (to.writableLength === 0) return true;
    this.#waiting = true;
    return false;
  };

  /** For a socket read the usual way: its 'data' listener. */
  readonly data = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.#from.pause();
  };

  /** After every write (a write taken at once is reported on the next tick): read again once nothing is pending. */
  readonly #written = (): void => {
    if (!this.#waiting || this.#to.writableLength > 0) return;
    this.#waiting = false;
    this.#from.resume();
  };
}

/**
 * Reads `socket` into `stream`: a read is sent at once (sealed before sendNow returns, so the buffer it lies in is
 * free again) and reading stops while the stream's window or channel is full, until it has room.
 */
function readInto(socket: Socket, stream: ChannelStream, shared: SpliceShared): void {
  const resume = () => socket.resume();
  const push = (chunk: Buffer): boolean => {
    shared.lastActivity = performance.now();
    try {
      return stream.sendNow(chunk, resume);
    } catch (err) {
      shared.abort((err as Error).message);
      return false;
    }
  };
  const reads = landings.get(socket);
  if (reads) {
    reads.take = push;
    reads.bulk = shared.maxBufferedBytes >= reads.bulkBytes;
  } else {
    socket.on('data', (chunk: Buffer) => {
      if (!push(chunk)) socket.pause();
    });
  }
  socket.on('end', () => stream.end());
  socket.resume();
}

/**
 * Splices a socket to a mesh stream, as splice() does any two streams (see its rules), with the stream's fast paths
 * (sendNow, writeInto) in place of pipes. A socket made by connectUpstream reads into the buffers above.
 */
export function spliceSocketStream(socket: Socket, stream: ChannelStream, options: SpliceOptions): Splice {
  return spliceEnds<Duplex>(socket, stream, options, (from, to, shared) => {
    if (from === socket) {
      readInto(socket, stream, shared);
      return;
    }
    stream.writeInto(socket, () => { shared.lastActivity = performance.now(); });
    stream.on('end', () => socket.end());
  });
}

/**
 * Splices two sockets, as splice() does any two streams (see its rules). A side made by connectUpstream reads into
 * the buffers above; any other reads the usual way. Both are resumed here.
 */
export function spliceSockets(a: Socket, b: Socket, options: SpliceOptions): Splice {
  return spliceEnds(a, b, options, (from, to, shared) => {
    const direction = new Direction(from, to, shared);
    const reads = landings.get(from);
    if (reads) {
      reads.take = direction.push;
      reads.bulk = options.maxBufferedBytes >= reads.bulkBytes;
    } else {
      from.on('data', direction.data);
    }
    from.on('end', () => to.end());
    from.resume();
  });
}
