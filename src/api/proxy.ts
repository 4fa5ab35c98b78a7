/**
 * The pass-through to the local engine for every Docker API request swarmlet does not serve itself, so one
 * socket answers `docker service ...` and `docker run ...` alike.
 *
 * Three kinds of traffic, three paths:
 * - ordinary requests are re-issued to the engine and both bodies are streamed with backpressure, never held
 *   whole (a 20 MB `docker load`, `logs -f`, `events`, `stats`); hop-by-hop headers stop here;
 * - upgrades (`Connection: Upgrade`, which the docker CLI sends for attach and exec) become a byte tunnel:
 *   the request head is written to a fresh engine connection and the engine's own `101 UPGRADED` and the raw
 *   stream flow back unchanged, half-closes included, so stdin EOF reaches the container;
 * - the older hijack without an Upgrade header (the engine answers `200` with a raw stream and then reads
 *   stdin from the same connection) is tunnelled the same way after taking the socket back from node's HTTP
 *   parser, which would otherwise read the client's stdin as a malformed next request.
 */

import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { engineUnreachableMessage, isUnreachableError } from '../runtime/docker/engine-client.ts';

/** Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the legacy proxy ones. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Endpoints where the engine hijacks the connection: after the response head, the socket carries raw bytes. */
const HIJACK_PATH = /^(?:\/v[\d.]+)?\/(?:containers\/[^/]+\/attach|exec\/[^/]+\/start)(?:\?|$)/;

/** Bodies of hijack requests are a few bytes of JSON (`{"Detach":false,"Tty":false}`); anything bigger is refused. */
const MAX_HIJACK_BODY = 64 * 1024;

export interface EngineProxy {
  /** For requests swarmlet does not route itself (the server's `request` event). */
  handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void;
  /** For the server's `upgrade` event. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Ends open tunnels (which the HTTP server no longer tracks) and pooled engine connections. */
  close(): void;
}

/** The headers of `headers` that belong to the message: hop-by-hop ones and those named by Connection removed. */
export function endToEndHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((token) => token.trim().toLowerCase())
      .filter(Boolean),
  );
  const kept: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}

/** Docker's error body, as the CLI prints it. */
function errorBody(message: string): string {
  return JSON.stringify({ message });
}

/** A complete HTTP/1.1 response for a raw socket that has no ServerResponse (upgrades, taken-over sockets). */
function rawErrorResponse(status: number, reason: string, message: string): string {
  const body = errorBody(message);
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** The request head as the client sent it, names' case and repeats kept, minus the headers in `drop`. */
function requestHead(req: http.IncomingMessage, drop: Set<string> = new Set(), extra: string[] = []): string {
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!drop.has(req.rawHeaders[i]!.toLowerCase())) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  }
  return `${[...lines, ...extra].join('\r\n')}\r\n\r\n`;
}

/** Listeners every net.Socket has of its own; anything else on a server socket was put there by node:http. */
const OWN_SOCKET_LISTENERS = (() => {
  const probe = new net.Socket();
  const own = new Set<Function>();
  for (const event of probe.eventNames()) for (const fn of probe.listeners(event)) own.add(fn);
  probe.destroy();
  return own;
})();

/**
 * Takes a server socket back from node's HTTP parser, as node itself does before emitting `upgrade`, so the
 * bytes a hijacking client sends after its request reach us instead of the parser. Relies on node 22's
 * `socket.parser.unconsume()` (the runtime is pinned, and test/api/proxy.test.ts exercises this path);
 * returns false when that is not available.
 */
function takeOverSocket(socket: net.Socket): boolean {
  const parser = (socket as net.Socket & { parser?: { unconsume?: () => void; _consumed?: boolean } }).parser;
  if (!parser || typeof parser.unconsume !== 'function') return false;
  // Node's `close` listeners stay: they free the parser and the server's record of the connection.
  for (const event of ['data', 'end', 'drain', 'error', 'timeout', 'pause', 'resume']) {
    for (const fn of socket.listeners(event)) {
      if (!OWN_SOCKET_LISTENERS.has(fn)) socket.removeListener(event, fn as (...args: unknown[]) => void);
    }
  }
  if (parser._consumed) {
    parser.unconsume();
    parser._consumed = false;
  }
  return true;
}

export function createEngineProxy(engineSocketPath: string): EngineProxy {
  // Ordinary requests reuse connections; tunnels get their own, as the engine keeps them after hijacking.
  const agent = new http.Agent({ keepAlive: true });
  const tunnels = new Set<Duplex>();

  const failureMessage = (err: unknown) =>
    isUnreachableError(err)
      ? engineUnreachableMessage(engineSocketPath, err)
      : `the container engine at unix://${engineSocketPath} failed: ${(err as Error)?.message ?? err}`;

  /**
   * Opens an engine connection, sends it `preamble` (the request as the client sent it), then joins the two
   * sockets byte for byte. An end on one side becomes an end (a half-close) on the other, so `docker run -i`
   * delivers stdin EOF while output keeps flowing back; an error or a reset on either side tears both down. A
   * failed connect is answered with a 502 on the raw socket, since there is no ServerResponse here.
   */
  function openTunnel(client: Duplex, preamble: Buffer[]): void {
    const engine = net.connect({ path: engineSocketPath, allowHalfOpen: true });
    let connected = false;
    tunnels.add(client);
    tunnels.add(engine);
    client.on('error', () => {
      client.destroy();
      engine.destroy();
    });
    engine.on('error', (err) => {
      if (!connected) client.end(rawErrorResponse(502, 'Bad Gateway', failureMessage(err)));
      else client.destroy();
      engine.destroy();
    });
    client.once('close', () => {
      tunnels.delete(client);
      // A client gone without ending both ways cannot take the rest: stop the engine's work for it.
      if (!client.readableEnded || !client.writableFinished) engine.destroy();
    });
    engine.once('close', () => {
      tunnels.delete(engine);
      if (connected && !engine.readableEnded) client.destroy();
    });
    engine.once('connect', () => {
      connected = true;
      for (const chunk of preamble) if (chunk.length > 0) engine.write(chunk);
      client.pipe(engine);
      engine.pipe(client);
    });
  }

  /** The old hijack: read the small JSON body, take the socket over, and replay the request into a tunnel. */
  function hijackWithoutUpgrade(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_HIJACK_BODY) chunks.push(chunk);
    });
    req.once('end', () => {
      if (size > MAX_HIJACK_BODY) {
        res.writeHead(413, { 'Content-Type': 'application/json' }).end(errorBody(`a ${req.url} request body is limited to ${MAX_HIJACK_BODY} bytes`));
        return;
      }
      const socket = req.socket;
      if (!takeOverSocket(socket)) {
        res
          .writeHead(501, { 'Content-Type': 'application/json' })
          .end(errorBody('this request hijacks the connection without "Connection: Upgrade", which this build cannot forward: send "Connection: Upgrade" and "Upgrade: tcp"'));
        return;
      }
      // The body was de-chunked by the parser: send it again with its length.
      const body = Buffer.concat(chunks);
      const head = requestHead(req, new Set(['content-length', 'transfer-encoding']), [`Content-Length: ${body.length}`]);
      openTunnel(socket, [Buffer.from(head), body]);
    });
  }

  function handleRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.method === 'POST' && HIJACK_PATH.test(req.url ?? '')) {
      hijackWithoutUpgrade(req, res);
      return;
    }
    const upstream = http.request({
      socketPath: engineSocketPath,
      agent,
      method: req.method,
      path: req.url,
      headers: endToEndHeaders(req.headers),
    });
    const fail = (err: unknown) => {
      if (res.destroyed || res.writableEnded) return;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(502, { 'Content-Type': 'application/json' }).end(errorBody(failureMessage(err)));
    };
    upstream.once('response', (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEndHeaders(answer.headers));
      // Streams (`logs -f`, `events`, `wait`) must show their head at once, not with their first line.
      res.flushHeaders();
      pipeline(answer, res, (err) => {
        if (err) upstream.destroy();
      });
    });
    upstream.on('error', fail);
    // A client that goes away aborts the engine's work for it (`logs -f` stops following).
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    pipeline(req, upstream, (err) => {
      if (err) upstream.destroy();
    });
  }

  function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    // Upgrade and Connection must reach the engine here: they are what asks it to hijack.
    openTunnel(socket, [Buffer.from(requestHead(req, new Set(['proxy-authorization', 'proxy-connection']))), head]);
  }

  return {
    handleRequest,
    handleUpgrade,
    close() {
      for (const socket of tunnels) socket.destroy();
      tunnels.clear();
      agent.destroy();
    },
  };
}
