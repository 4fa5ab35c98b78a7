/**
 * The listening end of the node transport: one port, one HTTP server, a WebSocket per channel. Everything a
 * remote address can make this node do before it is authenticated is bounded and refused as early as it can be,
 * cheapest check first:
 *
 *   accept      too many connections not yet authenticated (maxPendingHandshakes) → dropped
 *   HTTP        not HTTP → 400; plain HTTP → 426; unknown path → 404 (no upgrade, no handshake work)
 *   upgrade     handshake rate per remote IP (token bucket) → 429; a kind security() refuses → 403
 *   handshake   the Responder refuses (bad hello, unknown certificate, bad signature) → close code naming why
 *   deadline    no completed handshake within handshakeTimeoutMs of accept → closed (slowloris, dead dialers)
 *
 * Each refusal is one log line with the remote address and a stable reason, and is counted in stats(); none
 * throws, so one peer's garbage never reaches another peer's channel. The rate limit is checked before
 * security() and the handshake because the handshake is the expensive part (an Ed25519 signature and
 * verification in tweetnacl), and before the 403 so probing which kinds a node serves costs the prober tokens.
 */

import { STATUS_CODES, createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import WebSocket, { WebSocketServer } from 'ws';
import { describeError } from '../errors.ts';
import { LogThrottle, type Logger } from '../util/logger.ts';
import { localAeadOffer, type AeadName } from './aead.ts';
import { WsChannel } from './channel.ts';
import type { SecureChannel } from './secure-channel.ts';
import { formatAddress, unmapIp } from './address.ts';
import { parseChannelPath, type ChannelKind, type ChannelSecurity } from './kinds.ts';
import { resolveLimits, wsMaxPayload, type TransportLimits } from './limits.ts';
import { TransportError } from './errors.ts';
import { Responder } from './handshake.ts';
import { TokenBuckets } from './rate-limiter.ts';
import { Session } from './session.ts';
import { guard, runHandshake, type HandshakeRun } from './ws-link.ts';

export interface TransportServerOptions {
  /** Address to bind ('0.0.0.0', '::', or one interface's address). */
  host: string;
  /** 0 picks a free port (tests); read it back from `server.port`. */
  port: number;
  /** Per incoming connection: this node's identity and trust rules for the kind, or null to refuse the kind (HTTP 403). */
  security(kind: ChannelKind, remoteAddress: string): ChannelSecurity | null;
  /** Called synchronously after each successful handshake, before any frame of the channel is delivered. */
  onChannel(channel: SecureChannel): void;
  log: Logger;
  limits?: Partial<TransportLimits>;
  /** Source of the handshakes' ephemeral keys; crypto.randomBytes unless a test seeds it. */
  randomBytes?: (length: number) => Uint8Array;
  /** The AEADs to accept, best first; this CPU's (and SWARMLET_TRANSPORT_AEAD's) by default. */
  aeads?: readonly AeadName[];
  /** Clock (ms) for the handshake rate limit; Date.now unless a test drives it. */
  now?: () => number;
}

export interface TransportServerStats {
  /** Channels open now. */
  channels: number;
  /** Connections accepted and not yet authenticated. */
  pendingHandshakes: number;
  accepted: number;
  established: number;
  /**
   * Refusals by reason: a TransportReason for the handshake and what follows it ('malformed', 'peer_rejected',
   * 'timeout'...), or one of 'overloaded', 'not_websocket', 'unknown_path', 'rate_limited', 'kind_refused'.
   */
  refusals: Record<string, number>;
}

export interface TransportServer {
  readonly port: number;
  /** Stops accepting, closes every channel (1001, going away) and pending connection; resolves when all sockets are gone. Idempotent. */
  close(): Promise<void>;
  stats(): TransportServerStats;
}

/** A connection from accept until it is authenticated (or gone). */
interface PendingConnection {
  address: string;
  kind: ChannelKind | null;
  handshake: HandshakeRun | null;
  timer: NodeJS.Timeout;
}

/** Refusal reasons a single misbehaving client can produce many times a second. */
const FLOODING = new Set(['rate_limited', 'overloaded']);

const defaultRandomBytes = (length: number) => new Uint8Array(cryptoRandomBytes(length));

export async function listen(options: TransportServerOptions): Promise<TransportServer> {
  const limits = resolveLimits(options.limits);
  const { log } = options;
  const randomBytes = options.randomBytes ?? defaultRandomBytes;
  const aeads = options.aeads ?? localAeadOffer();
  const now = options.now ?? Date.now;
  const buckets = new TokenBuckets({ ratePerSecond: limits.handshakesPerSecondPerAddress, burst: limits.handshakeBurstPerAddress });
  const http = createServer();
  const wss = new WebSocketServer({ noServer: true, maxPayload: wsMaxPayload(limits), perMessageDeflate: false, clientTracking: false });
  const pending = new Map<Socket, PendingConnection>();
  const channels = new Set<WsChannel>();
  const counters = { accepted: 0, established: 0 };
  const refusals: Record<string, number> = {};
  let closing: Promise<void> | null = null;

  const refusalLines = new LogThrottle();
  const refusal = (address: string, kind: ChannelKind | null, reason: string, message: string) => {
    refusals[reason] = (refusals[reason] ?? 0) + 1;
    // Refusals that come in floods (a client past the rate limit, a node past its connection limit) are said once
    // per reason and remote host every few seconds, with a count; every other refusal is said each time.
    const skipped = FLOODING.has(reason) ? refusalLines.admit(`${reason} ${address.replace(/:\d+$/, '')}`) : 0;
    if (skipped === null) return;
    const more = skipped > 0 ? ` (and ${skipped} more like it in the last seconds)` : '';
    log.warn(`transport: refused ${kind ? `a ${kind}` : 'a'} connection from ${address}: ${reason}: ${message}${more}`);
  };
  const addressOf = (socket: Socket) => pending.get(socket)?.address ?? formatAddress(socket.remoteAddress, socket.remotePort);

  http.on('connection', (socket: Socket) => {
    counters.accepted++;
    const address = formatAddress(socket.remoteAddress, socket.remotePort);
    socket.on('error', (err) => log.debug(`transport: connection from ${address}: ${err.message}`));
    if (closing) {
      socket.destroy();
      return;
    }
    if (pending.size >= limits.maxPendingHandshakes) {
      refusal(address, null, 'overloaded', `${pending.size} connections are already waiting for their handshake (maxPendingHandshakes)`);
      socket.destroy();
      return;
    }
    const entry: PendingConnection = {
      address, kind: null, handshake: null,
      timer: setTimeout(() => {
        const error = new TransportError('timeout', `no completed handshake within ${limits.handshakeTimeoutMs} ms`);
        if (entry.handshake) {
          entry.handshake.abort(error);
        } else {
          refusal(address, entry.kind, error.reason, error.message);
          socket.destroy();
        }
      }, limits.handshakeTimeoutMs),
    };
    pending.set(socket, entry);
    socket.once('close', () => {
      clearTimeout(entry.timer);
      pending.delete(socket);
    });
  });

  http.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    const address = addressOf(socket);
    if (err.code === 'ECONNRESET' || !socket.writable) {
      log.debug(`transport: connection from ${address} ended before a request: ${err.message}`);
      socket.destroy();
      return;
    }
    refusal(address, null, 'malformed', `not an HTTP request (${err.code ?? err.message}): this port speaks the swarmlet node transport`);
    refuseHttp(socket, 400, 'this port speaks the swarmlet node transport (WebSocket)');
  });

  http.on('request', (req: IncomingMessage, res) => {
    refusal(addressOf(req.socket), null, 'not_websocket', `plain HTTP ${req.method} ${printable(req.url)}`);
    res.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('this port speaks the swarmlet node transport: WebSocket at /swarmlet/v1/<kind>\n');
  });

  wss.on('wsClientError', (err: Error, socket: Socket, req: IncomingMessage) => {
    refusal(addressOf(socket), parseChannelPath(req.url), 'not_websocket', `a bad WebSocket upgrade request: ${err.message}`);
    refuseHttp(socket, 400, err.message);
  });

  http.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    const entry = pending.get(socket);
    if (!entry || closing) {
      refuseHttp(socket, 503, 'the node is shutting down');
      return;
    }
    const { address } = entry;
    const kind = parseChannelPath(req.url);
    if (!kind) {
      refusal(address, null, 'unknown_path', `no channel at ${printable(req.url)} (HTTP 404)`);
      refuseHttp(socket, 404, `no swarmlet channel at this path: the node transport serves /swarmlet/v1/{control,bulk,join}`);
      return;
    }
    entry.kind = kind;
    const ip = unmapIp(socket.remoteAddress ?? 'unknown');
    if (!buckets.take(ip, now())) {
      refusal(address, kind, 'rate_limited', `more than ${limits.handshakesPerSecondPerAddress} handshakes per second from ${ip} (HTTP 429)`);
      refuseHttp(socket, 429, 'too many handshakes from this address: retry later');
      return;
    }
    let security: ChannelSecurity | null;
    try {
      security = options.security(kind, address);
    } catch (err) {
      log.error(`transport: security() failed for a ${kind} connection from ${address}: ${describeError(err)}`);
      security = null;
    }
    if (!security) {
      refusal(address, kind, 'kind_refused', `this node does not accept ${kind} channels from ${address} (HTTP 403)`);
      refuseHttp(socket, 403, `this node does not accept ${kind} channels from this address`);
      return;
    }
    const trust = security;
    wss.handleUpgrade(req, socket, head, (ws) => respond(ws, socket, entry, kind, trust));
  });

  function respond(ws: WebSocket, socket: Socket, entry: PendingConnection, kind: ChannelKind, security: ChannelSecurity): void {
    guard(ws);
    const responder = new Responder({ identity: security.identity, verifyPeer: security.verifyPeer, randomBytes, aeads });
    entry.handshake = runHandshake(ws, (message) => responder.receive(message), {
      done: (result) => {
        clearTimeout(entry.timer);
        pending.delete(socket);
        const channel = new WsChannel({
          ws, socket, kind, peer: result.peer, remoteAddress: entry.address, limits, log,
          session: new Session(result, { maxPayloadBytes: limits.maxPayloadBytes }),
        });
        if (closing) {
          channel.goAway('the node is shutting down');
          return;
        }
        channels.add(channel);
        channel.onClose(() => channels.delete(channel));
        counters.established++;
        log.debug(`transport: ${kind} channel from node ${result.peer.nodeId} at ${entry.address} established (${result.aead})`);
        try {
          options.onChannel(channel);
        } catch (err) {
          log.error(`transport: onChannel failed for the ${kind} channel from node ${result.peer.nodeId} at ${entry.address}: ${describeError(err)}`);
          channel.close('this node failed to set up the channel');
        }
      },
      failed: (error, byPeer) => {
        clearTimeout(entry.timer);
        if (!byPeer) refusal(entry.address, kind, error.reason, error.message);
        else if (error.reason !== 'closed') log.warn(`transport: the peer at ${entry.address} refused this node's ${kind} handshake: ${error.reason}: ${error.message}`);
        else log.debug(`transport: ${kind} connection from ${entry.address} closed during the handshake`);
      },
    });
  }

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(options.port, options.host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  http.on('error', (err) => log.error(`transport: server error: ${describeError(err)}`));
  const { port } = http.address() as AddressInfo;
  log.info(`transport: listening on ${formatAddress(options.host, port)} (AEADs, best first: ${aeads.join(', ')})`);

  return {
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        http.close(() => resolve());
        for (const socket of pending.keys()) socket.destroy();
        for (const channel of channels) channel.goAway('the node is shutting down');
      });
      return closing;
    },
    stats: () => ({ channels: channels.size, pendingHandshakes: pending.size, ...counters, refusals: { ...refusals } }),
  };
}

/** Answers a raw socket with an HTTP status and closes it (what ws does for a bad upgrade, with our text). */
function refuseHttp(socket: Socket, status: number, text: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${text}\n`;
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** A peer-chosen string made safe for one log line. */
function printable(text: string | undefined): string {
  return JSON.stringify((text ?? '').slice(0, 100));
}
