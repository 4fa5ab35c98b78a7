/**
 * Helpers for the transport's socket tests: a logger that records and can be awaited (refusals are asserted from
 * the log line, as an operator would read them), a server with echo handlers, a client that runs the handshake by
 * hand over a plain ws so a test can put any bytes on the wire after it, and a TCP proxy that can be frozen to
 * make a connection half-open. Everything listens on 127.0.0.1 only.
 */

import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import WebSocket from 'ws';
import type { Logger } from '../../src/util/logger.ts';
import type { SecureChannel } from '../../src/transport/endpoint.ts';
import { clientOptions } from '../../src/transport/dial.ts';
import { channelPath, type ChannelKind, type ChannelSecurity } from '../../src/transport/kinds.ts';
import { resolveLimits, type TransportLimits } from '../../src/transport/limits.ts';
import { ed25519Identity, Initiator, type VerifyPeer } from '../../src/transport/handshake.ts';
import { listen, type TransportServer, type TransportServerOptions } from '../../src/transport/server.ts';
import { Session } from '../../src/transport/session.ts';
import { options, testNode, trusting, type TestNode } from './helpers.ts';

export const alice = testNode('alice');
export const bob = testNode('bob');
/** Holds a well-formed certificate that this cluster's root never signed. */
export const mallory = testNode('mallory');
export const cluster = trusting(alice, bob);

export function security(node: TestNode, verifyPeer: VerifyPeer = cluster): ChannelSecurity {
  return { identity: ed25519Identity(node.certificate, node.keys.secretKey), verifyPeer };
}

export interface LogLine {
  level: keyof Logger;
  message: string;
}

/** Records every line; `waitFor` resolves on the first line from `from` on that contains every part. */
export class CapturingLogger implements Logger {
  readonly lines: LogLine[] = [];
  readonly #waiters = new Set<() => void>();

  debug(message: string): void { this.#add('debug', message); }
  info(message: string): void { this.#add('info', message); }
  warn(message: string): void { this.#add('warn', message); }
  error(message: string): void { this.#add('error', message); }

  /** The position to search from: take it before the action whose log line you expect. */
  mark(): number {
    return this.lines.length;
  }

  find(from: number, ...parts: string[]): LogLine | undefined {
    return this.lines.slice(from).find((line) => parts.every((part) => line.message.includes(part)));
  }

  waitFor(from: number, parts: string[], timeoutMs = 5000): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const line = this.find(from, ...parts);
        if (!line) return false;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(line);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`no log line with ${JSON.stringify(parts)} within ${timeoutMs} ms; logged since:\n${this.lines.slice(from).map((l) => `  ${l.level} ${l.message}`).join('\n')}`));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }

  #add(level: keyof Logger, message: string): void {
    this.lines.push({ level, message });
    for (const waiter of [...this.#waiters]) waiter();
  }
}

export interface EchoServer {
  server: TransportServer;
  log: CapturingLogger;
  address: string;
  channels: SecureChannel[];
  /** Resolves with the next channel the server accepts. */
  nextChannel(): Promise<SecureChannel>;
}

/**
 * A server (bob) that answers requests with {echo: request}, sends each message back, and returns each byte
 * payload on the same channel. Refuses 'join' unless `kinds` says otherwise.
 */
export async function echoServer(overrides: Partial<TransportServerOptions> = {}, kinds: ChannelKind[] = ['control', 'bulk']): Promise<EchoServer> {
  const log = new CapturingLogger();
  const channels: SecureChannel[] = [];
  const waiting: ((channel: SecureChannel) => void)[] = [];
  const server = await listen({
    host: '127.0.0.1',
    port: 0,
    log,
    limits: { handshakesPerSecondPerAddress: Infinity, ...overrides.limits },
    security: (kind) => (kinds.includes(kind) ? security(bob) : null),
    onChannel(channel) {
      channel.onRequest((message) => ({ echo: message }));
      channel.onMessage((message) => channel.send(message));
      channel.onBytes((bytes) => channel.sendBytes(bytes));
      channels.push(channel);
      waiting.shift()?.(channel);
    },
    ...overrides,
  });
  return {
    server, log, channels,
    address: `127.0.0.1:${server.port}`,
    nextChannel: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

/** Resolves with the next message on a channel. */
export function nextMessage(channel: SecureChannel): Promise<unknown> {
  return new Promise((resolve) => {
    const dispose = channel.onMessage((message) => {
      dispose();
      resolve(message);
    });
  });
}

export function closedWith(channel: SecureChannel): Promise<Error | null> {
  return new Promise((resolve) => channel.onClose(resolve));
}

/** A plain ws client on a channel path, with the same options the dialer uses, and its local "ip:port". */
export async function openRawWs(port: number, path: string = channelPath('control'), limits: Partial<TransportLimits> = {}): Promise<{ ws: WebSocket; localAddress: string; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, clientOptions(resolveLimits(limits)));
  ws.on('error', () => {});
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  let localAddress = '';
  ws.once('upgrade', (response: { socket: Socket }) => { localAddress = `127.0.0.1:${response.socket.localPort}`; });
  await once(ws, 'open');
  return { ws, localAddress, closed };
}

/** A raw ws after a handshake run by hand: the test seals (or forges) frames itself with `session`. */
export async function handshakenWs(port: number, node: TestNode = alice, seed = `${node.nodeId}-raw`) {
  const raw = await openRawWs(port);
  const initiator = new Initiator(options(node, cluster, seed));
  const hello = initiator.start();
  if (!hello.ok || !hello.send) throw new Error('no hello');
  raw.ws.send(hello.send);
  const [reply] = (await once(raw.ws, 'message')) as [Buffer];
  const finish = initiator.receive(reply);
  if (!finish.ok || !finish.send || !finish.result) throw finish.ok ? new Error('no finish') : finish.error;
  raw.ws.send(finish.send);
  return { ...raw, session: new Session(finish.result) };
}

/** A raw TCP connection to the port, with its local "ip:port" and a promise of its end. */
export async function openTcp(port: number): Promise<{ socket: Socket; localAddress: string; closed: Promise<void>; received: () => string }> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await once(socket, 'connect');
  return { socket, localAddress: `127.0.0.1:${socket.localPort}`, closed, received: () => Buffer.concat(chunks).toString('latin1') };
}

/**
 * A TCP proxy in front of `targetPort`. `freeze()` stops it reading either side, so the connections through it
 * stay open at TCP level while nothing passes: what a peer that lost power or a dead NAT looks like.
 */
export async function freezableProxy(targetPort: number): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const [from, to] of [[client, upstream], [upstream, client]] as const) {
      sockets.add(from);
      from.on('error', () => {});
      from.on('data', (chunk) => to.write(chunk));
      from.on('close', () => to.destroy());
      if (frozen) from.pause();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Rejects if `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => { resolve = r; });
  return { promise, resolve };
}
