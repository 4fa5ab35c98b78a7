/**
 * Loopback stand-ins for a mesh test: two nodes' peer networks (trusted test identities, bulk channels allowed),
 * TCP servers standing in for containers on 127.0.0.x addresses that share one port as a service's containers
 * share their target port, a PROXY v2 header reader, and a client that sends, half-closes and reads everything;
 * and the same for UDP: echoing stand-in containers and a client socket that sends and takes replies.
 */

import { createHash } from 'node:crypto';
import { createSocket as createDgramSocket, type Socket as DgramSocket } from 'node:dgram';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
import type { Backend } from '../../src/mesh/balancer.ts';
import { PROXY_V2_SIGNATURE } from '../../src/mesh/proxy-protocol.ts';
import { LoopbackPeers } from '../helpers/loopback-peers.ts';

/** Peer networks on loopback for the named nodes, trusting each other, by node ID; `stop` ends them all. */
export async function peerNetworks(...ids: string[]): Promise<{ networks: Map<string, PeerNetwork>; stop(): Promise<void> }> {
  const loopback = new LoopbackPeers(...ids);
  const networks = new Map<string, PeerNetwork>();
  for (const node of loopback.nodes) networks.set(node.nodeId, await loopback.network(node));
  return { networks, stop: () => loopback.stop() };
}

/** What a stand-in container saw on one connection. */
export interface Accepted {
  socket: Socket;
  /** The PROXY v2 addresses when the connection began with a header (IPv4 only: what loopback tests send). */
  proxy: { source: string; destination: string } | null;
}

/**
 * A container stand-in: echoes what it receives (after a PROXY header, when there is one), and when the client
 * half-closes, answers `bye` and ends its side too.
 */
export class EchoBackend {
  readonly accepted: Accepted[] = [];
  readonly server: Server;
  readonly host: string;

  private constructor(host: string, server: Server) {
    this.host = host;
    this.server = server;
  }

  static async listen(host: string, port = 0): Promise<EchoBackend> {
    let backend!: EchoBackend;
    const server = createServer({ allowHalfOpen: true }, (socket) => backend.#serve(socket));
    backend = new EchoBackend(host, server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return backend;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections open now. */
  get open(): number {
    return this.accepted.filter((a) => !a.socket.destroyed).length;
  }

  async close(): Promise<void> {
    for (const { socket } of this.accepted) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    const accepted: Accepted = { socket, proxy: null };
    this.accepted.push(accepted);
    socket.on('error', () => {});
    let head: Buffer | null = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      if (head === null) {
        if (!socket.write(chunk)) socket.pause();
        return;
      }
      head = Buffer.concat([head, chunk]);
      const signature = Buffer.from(PROXY_V2_SIGNATURE);
      if (head.length < 16 && signature.subarray(0, head.length).equals(head.subarray(0, signature.length))) return;
      let rest = head;
      if (head.subarray(0, 12).equals(signature)) {
        const length = head.readUInt16BE(14);
        if (head.length < 16 + length) return;
        const body = head.subarray(16, 16 + length);
        if (head[13] === 0x11) accepted.proxy = { source: `${[...body.subarray(0, 4)].join('.')}:${body.readUInt16BE(8)}`, destination: `${[...body.subarray(4, 8)].join('.')}:${body.readUInt16BE(10)}` };
        rest = head.subarray(16 + length);
      }
      head = null;
      if (rest.length > 0 && !socket.write(rest)) socket.pause();
    });
    socket.on('drain', () => socket.resume());
    socket.on('end', () => socket.end('bye'));
  }
}

/** Sends `payload` through `port`, half-closes, and reads until the other side ends: the echo plus `bye`. */
export async function roundTrip(port: number, payload: Buffer, host = '127.0.0.1'): Promise<{ reply: Buffer; localPort: number }> {
  const socket = connect({ host, port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  let localPort = 0;
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      localPort = socket.localPort!;
      socket.end(payload);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve());
    socket.once('error', reject);
    socket.once('close', () => resolve());
  });
  socket.destroy();
  return { reply: Buffer.concat(chunks), localPort };
}

/** Opens a connection through `port` and resolves once it is connected; the caller ends it. */
export function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Writes `text` and resolves with the first bytes that come back. */
export function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    socket.once('error', reject);
    socket.write(text);
  });
}

export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A UDP container stand-in: echoes each datagram to whoever sent it, and counts what it got by sender, so a test
 * can tell which flows (client ports, as the container sees them) reached it.
 */
export class UdpEchoBackend {
  readonly socket: DgramSocket;
  readonly host: string;
  /** Datagrams received, by `address:port` of the sender. */
  readonly bySource = new Map<string, number>();
  datagrams = 0;
  /** When set, it takes datagrams and answers none: a service that only listens (or has hung). */
  silent = false;

  private constructor(host: string, socket: DgramSocket) {
    this.host = host;
    this.socket = socket;
  }

  static async listen(host: string, port = 0): Promise<UdpEchoBackend> {
    const socket = createDgramSocket('udp4');
    const backend = new UdpEchoBackend(host, socket);
    socket.on('message', (datagram, from) => {
      const source = `${from.address}:${from.port}`;
      backend.bySource.set(source, (backend.bySource.get(source) ?? 0) + 1);
      backend.datagrams++;
      if (!backend.silent) socket.send(datagram, from.port, from.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => resolve());
    });
    socket.on('error', () => {});
    return backend;
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Flows seen: distinct senders. */
  get flows(): number {
    return this.bySource.size;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** A UDP client of a published port: one socket (one flow), sending and taking replies in order. */
export class UdpClient {
  readonly socket: DgramSocket;
  readonly #replies: Buffer[] = [];
  #waiter: ((reply: Buffer) => void) | null = null;

  private constructor(socket: DgramSocket) {
    this.socket = socket;
    socket.on('message', (reply) => {
      const waiter = this.#waiter;
      this.#waiter = null;
      if (waiter) waiter(reply);
      else this.#replies.push(reply);
    });
    socket.on('error', () => {});
  }

  /** A client bound to `host` (a loopback address: several stand for several client machines). */
  static async open(host = '127.0.0.1'): Promise<UdpClient> {
    const socket = createDgramSocket(host.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, host, () => resolve());
    });
    return new UdpClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(port: number, payload: Uint8Array | string, host = '127.0.0.1'): void {
    this.socket.send(typeof payload === 'string' ? Buffer.from(payload) : payload, port, host);
  }

  /** The next reply, or null when none comes within `timeoutMs`. */
  next(timeoutMs = 2_000): Promise<Buffer | null> {
    const queued = this.#replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = null;
        resolve(null);
      }, timeoutMs);
      this.#waiter = (reply) => {
        clearTimeout(timer);
        resolve(reply);
      };
    });
  }

  /** Sends `payload` and resolves with the reply as text, or null when none comes. */
  async request(port: number, payload: string, timeoutMs = 2_000): Promise<string | null> {
    this.send(port, payload);
    return (await this.next(timeoutMs))?.toString() ?? null;
  }

  close(): void {
    this.socket.close();
  }
}

/** A task on the ingress's own node ('near'), reached at its container's address. */
export const local = (taskId: string, host: string): Backend => ({ taskId, nodeId: 'near', address: host });

/** A task on another node ('far' unless told), reached over a mesh stream. */
export const remote = (taskId: string, nodeId = 'far'): Backend => ({ taskId, nodeId, address: null });
