/**
 * Loopback stand-ins for a mesh test: two nodes' peer networks (trusted test identities, bulk channels allowed),
 * TCP servers standing in for containers on 127.0.0.x addresses that share one port as a service's containers
 * share their target port, a PROXY v2 header reader, and a client that sends, half-closes and reads everything.
 */

import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { PeerNetwork } from '../../src/cluster/peers.ts';
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
