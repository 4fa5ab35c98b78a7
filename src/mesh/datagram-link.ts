/**
 * One UDP flow's way to its backend, for both ends of the mesh: a UDP socket connected to a container on this node,
 * or a mesh stream to another node carrying framed datagrams (protocol.ts). The ingress holds one link per flow
 * (either kind); the task's node joins a stream link to a socket link (udp-relay.ts). Shared here, as connect.ts is
 * for TCP, so the two ends follow the same rules:
 *
 * - nothing waits: a datagram that finds the way full (more than a bounded backlog already queued on the socket or
 *   the stream) is dropped, as a full socket buffer drops it, and send answers false so the caller counts it;
 * - a link ends by itself on a receive error (a container that answers ICMP port unreachable gives ECONNREFUSED
 *   on its connected socket), on a malformed frame, or when the stream closes: `onEnd` says why, once, and never
 *   after the owner's own close().
 *
 * A socket connected to the container, rather than one socket shared by every flow, is what gives each flow its
 * own source port at the container (as a NAT would), so the container's replies find their flow without a table.
 */

import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeError } from '../errors.ts';
import { DatagramDeframer, frameDatagram } from './protocol.ts';

/** Bytes a link may have queued towards its far end before it drops datagrams instead of queueing more. */
export const LINK_BACKLOG_BYTES = 256 * 1024;

export interface DatagramLink {
  /** Sends one datagram; false when it was dropped (the backlog is full, or the link has ended). */
  send(datagram: Buffer): boolean;
  /** Ends the link from this side; onEnd is not called. Idempotent. */
  close(): void;
  readonly ended: boolean;
}

export interface LinkHandlers {
  /** A datagram from the far end. */
  onDatagram(datagram: Buffer): void;
  /** The link ended by itself (not by close()): the reason. */
  onEnd(reason: string): void;
  /** A datagram accepted by send() failed to go out after all (an error the socket reported later). */
  onDropped?(): void;
}

/** A UDP socket connected to `host:port` (a container on this node), within a deadline. */
export function connectDatagram(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    const socket = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    const fail = (err: Error) => {
      clearTimeout(timer);
      closeQuietly(socket);
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`a UDP socket to ${host}:${port} was not ready within ${timeoutMs} ms`)), timeoutMs);
    socket.once('error', fail);
    socket.connect(port, host, () => {
      clearTimeout(timer);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}

/** A link over a connected UDP socket; the link owns the socket and closes it when it ends. */
export function socketLink(socket: Socket, handlers: LinkHandlers, backlogBytes = LINK_BACKLOG_BYTES): DatagramLink {
  let ended = false;
  const end = (reason: string | null) => {
    if (ended) return;
    ended = true;
    closeQuietly(socket);
    if (reason !== null) handlers.onEnd(reason);
  };
  // A send error (ENOBUFS under load, say) loses that datagram only; a receive error means the far end is gone.
  const sent = (err: Error | null) => {
    if (err) handlers.onDropped?.();
  };
  socket.on('message', (datagram) => {
    if (!ended) handlers.onDatagram(datagram);
  });
  socket.on('error', (err) => end(`the container's UDP socket failed: ${describeError(err)}`));
  socket.on('close', () => end('the UDP socket closed'));
  return {
    send(datagram) {
      if (ended || socket.getSendQueueSize() > backlogBytes) return false;
      socket.send(datagram, sent);
      return true;
    },
    close: () => end(null),
    get ended() {
      return ended;
    },
  };
}

/**
 * A link over a byte stream to another node (a ChannelStream on a mesh UDP stream), framing datagrams both ways;
 * the link owns the stream and destroys it when it ends.
 */
export function streamLink(stream: Duplex, handlers: LinkHandlers, backlogBytes = LINK_BACKLOG_BYTES): DatagramLink {
  let ended = false;
  const deframer = new DatagramDeframer();
  const end = (reason: string | null) => {
    if (ended) return;
    ended = true;
    stream.destroy();
    if (reason !== null) handlers.onEnd(reason);
  };
  const deliver = (datagram: Buffer) => {
    if (!ended) handlers.onDatagram(datagram);
  };
  stream.on('data', (bytes: Buffer) => {
    if (ended) return;
    const problem = deframer.push(bytes, deliver);
    if (problem) end(`the other node sent a malformed flow: ${problem}`);
  });
  stream.on('error', (err) => end(describeError(err)));
  // UDP has no half-close: the other end ending its side ends the flow.
  stream.on('end', () => end('the other node ended the flow'));
  stream.on('close', () => end('the mesh stream closed'));
  return {
    send(datagram) {
      if (ended || stream.destroyed || stream.writableLength > backlogBytes) return false;
      stream.write(frameDatagram(datagram));
      return true;
    },
    close: () => end(null),
    get ended() {
      return ended;
    },
  };
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // Already closed: nothing left to release.
  }
}
