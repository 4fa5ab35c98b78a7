/**
 * The mesh's stream between two nodes: one stream per forwarded connection, carried with many others over a
 * multiplexed bulk channel between the two nodes (cluster/mux/; a channel of its own per stream with a
 * node that does not speak it), so a busy service's bytes never queue behind or in front of Raft messages and
 * heartbeats on the control channel, and a new connection costs no handshake.
 *
 *   ingress → task's node   request {type: 'mesh.connect', serviceId, taskId, port, proxy?}; the node connects to
 *                           the task's container at `port` before it answers, so a refusal lets the ingress try
 *                           another backend while the client waits
 *   both ways               bytes: the connection's payload, in order
 *                           {type: 'end'}: this side's half-close (a FIN), after its last bytes
 *                           {type: 'credit', bytes}: this side's reader took that many more bytes; a sender
 *                           keeps at most a window (channel-stream.ts) not yet credited on the way
 *
 * Either end closing the channel before both `end`s resets the connection at the other end. `proxy` carries the
 * client's address for a PROXY protocol v2 header, written by the task's node before any payload.
 *
 * A UDP flow (one client address and port on a published UDP port) gets a stream of its own the same way:
 *
 *   ingress → task's node   request {type: 'mesh.udp', serviceId, taskId, port}; the node checks the task as for
 *                           'mesh.connect' and opens a UDP socket connected to the container before it answers
 *   both ways               bytes: the flow's datagrams, each as a 2-byte big-endian length and that many bytes
 *
 * The framing keeps datagram boundaries whatever the byte stream in between does with its chunks. No datagram is
 * over 65,507 bytes (an IPv4 UDP payload's most), so a frame that claims more is malformed and ends its flow, and
 * a reader never holds more than one frame's worth. Either end closing the channel ends the flow; there is no
 * half-close in UDP. Control messages on the channel are the byte stream's own (credit) and carry nothing of the
 * flow.
 */

import * as v from 'valibot';
import type { ProxyAddresses } from './proxy-protocol.ts';

export const MESH_CONNECT = 'mesh.connect';

export interface MeshConnectRequest {
  type: typeof MESH_CONNECT;
  serviceId: string;
  taskId: string;
  /** The container port (the service's target port). */
  port: number;
  /** Present when the service asked for a PROXY protocol header. */
  proxy?: ProxyAddresses;
  [key: string]: unknown;
}

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const port = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535));
const endpoint = v.object({ address: v.pipe(v.string(), v.maxLength(64)), port });

export const connectRequestSchema = v.object({
  type: v.literal(MESH_CONNECT),
  serviceId: id,
  taskId: id,
  port: v.pipe(port, v.minValue(1)),
  proxy: v.optional(v.object({ source: endpoint, destination: endpoint })),
});

/** The control messages of a mesh stream (anything else is ignored). */
export type MeshStreamMessage = { type: 'end' } | { type: 'credit'; bytes: number };

export const MESH_UDP = 'mesh.udp';

export interface MeshUdpRequest {
  type: typeof MESH_UDP;
  serviceId: string;
  taskId: string;
  /** The container port (the service's target port for a published UDP port). */
  port: number;
  [key: string]: unknown;
}

export const udpRequestSchema = v.object({
  type: v.literal(MESH_UDP),
  serviceId: id,
  taskId: id,
  port: v.pipe(port, v.minValue(1)),
});

/** The largest UDP payload over IPv4 (65,535 less the IP and UDP headers): no real datagram is bigger. */
export const MAX_DATAGRAM_BYTES = 65_507;
const FRAME_HEADER_BYTES = 2;

/** One datagram as it travels in a mesh UDP stream: its length (2 bytes, big-endian), then its bytes. */
export function frameDatagram(datagram: Uint8Array): Buffer {
  if (datagram.length > MAX_DATAGRAM_BYTES) throw new RangeError(`a ${datagram.length}-byte datagram is over the ${MAX_DATAGRAM_BYTES}-byte UDP maximum`);
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + datagram.length);
  frame.writeUInt16BE(datagram.length, 0);
  frame.set(datagram, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Splits a mesh UDP stream's bytes back into datagrams, however they were chunked. Holds at most one incomplete
 * frame; a frame that arrived in one chunk is handed on without a copy, one split over several is joined once, when
 * it is whole (so a peer sending a byte at a time costs linear time, not quadratic).
 */
export class DatagramDeframer {
  readonly #maxDatagramBytes: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** The whole frame's size once its header is read; null while waiting for one. */
  #frameBytes: number | null = null;
  #problem: string | null = null;

  constructor(maxDatagramBytes = MAX_DATAGRAM_BYTES) {
    this.#maxDatagramBytes = maxDatagramBytes;
  }

  /**
   * Takes the next bytes of the stream and hands each datagram they complete to `deliver`, in order. Returns
   * null, or what is wrong with the stream (a frame over the limit): then the flow must end, and every later
   * push answers the same.
   */
  push(bytes: Uint8Array, deliver: (datagram: Buffer) => void): string | null {
    if (this.#problem) return this.#problem;
    if (bytes.length > 0) {
      this.#chunks.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      this.#buffered += bytes.length;
    }
    for (;;) {
      if (this.#frameBytes === null) {
        if (this.#buffered < FRAME_HEADER_BYTES) return null;
        const length = this.#peekHeader();
        if (length > this.#maxDatagramBytes) {
          this.#chunks = [];
          this.#buffered = 0;
          return (this.#problem = `a frame claims a ${length}-byte datagram, over the ${this.#maxDatagramBytes}-byte maximum`);
        }
        this.#frameBytes = FRAME_HEADER_BYTES + length;
      }
      if (this.#buffered < this.#frameBytes) return null;
      const frame = this.#take(this.#frameBytes);
      this.#frameBytes = null;
      deliver(frame.subarray(FRAME_HEADER_BYTES));
    }
  }

  /** Bytes held of an incomplete frame. */
  get buffered(): number {
    return this.#buffered;
  }

  #peekHeader(): number {
    const first = this.#chunks[0]!;
    return first.length >= FRAME_HEADER_BYTES ? first.readUInt16BE(0) : (first[0]! << 8) | this.#chunks[1]![0]!;
  }

  /** The next `n` buffered bytes (n ≤ buffered), as one buffer: a view when they lie in one chunk, else a copy of just them. */
  #take(n: number): Buffer {
    const parts: Buffer[] = [];
    let whole = 0;
    for (let need = n; need > 0; ) {
      const chunk = this.#chunks[whole]!;
      if (chunk.length <= need) {
        parts.push(chunk);
        whole++;
        need -= chunk.length;
      } else {
        parts.push(chunk.subarray(0, need));
        this.#chunks[whole] = chunk.subarray(need);
        need = 0;
      }
    }
    this.#chunks.splice(0, whole);
    this.#buffered -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}
