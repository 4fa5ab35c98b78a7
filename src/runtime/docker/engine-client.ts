/**
 * A small client for the Docker Engine API over a unix socket, on node:http alone.
 *
 * Why not dockerode: DESIGN.md measured it at about a fifth of the agent's 60 MB memory budget, and swarmlet
 * calls a dozen endpoints. This client covers exactly what the runtime needs: JSON requests with a deadline,
 * streamed responses (events), and the engine's errors turned into SwarmletErrors with stable codes. The paths
 * are pinned to API v1.41 (dockerd 20.10, podman and balenaEngine all answer it), so the shapes never drift.
 */

import http from 'node:http';
import readline from 'node:readline';
import { SwarmletError, type ErrorCode } from '../../errors.ts';

/** The API version every path is prefixed with: the shapes in src/api/types.ts are this version's. */
export const ENGINE_API_VERSION = '1.41';

const DEFAULT_TIMEOUT_MS = 30_000;

/** Errors from connecting to the socket that mean "no engine here", as opposed to an engine that failed. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'EACCES', 'ECONNRESET', 'EPIPE', 'ENOTSOCK']);

/**
 * The one line a user sees when the engine does not answer: what was tried, what the system said, and what
 * to do about it. Shared with the API proxy, so both failures read the same.
 */
export function engineUnreachableMessage(socketPath: string, cause: unknown): string {
  const err = cause as NodeJS.ErrnoException;
  const why = err?.code ? `${err.syscall ?? 'connect'} ${err.code}` : String(err?.message ?? cause);
  const fix =
    err?.code === 'EACCES'
      ? 'run swarmlet as root or as a member of the group that owns the socket'
      : 'is dockerd running? start it, or point swarmlet at another engine with --engine unix:///path';
  return `cannot reach the container engine at unix://${socketPath} (${why}): ${fix}`;
}

/** True for errors that say the socket itself could not be used. */
export function isUnreachableError(err: unknown): boolean {
  return UNREACHABLE_CODES.has((err as NodeJS.ErrnoException)?.code ?? '');
}

export interface EngineRequestOptions {
  /** Query parameters; objects (such as `filters`) are sent as JSON, as the Engine API expects. */
  query?: Record<string, string | number | boolean | object | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** Deadline for the whole exchange; defaults to 30 s. Long operations (stop with a grace period) pass more. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface EngineResponse<T> {
  status: number;
  /** Parsed JSON; the text for other content types; undefined for an empty body (204, 304). */
  body: T;
}

export interface EngineClientOptions {
  /** Default deadline for JSON requests; 30 s unless given. */
  timeoutMs?: number;
}

/** Builds `/v1.41/path?query`, JSON-encoding object values (Docker's `filters`). */
export function enginePath(path: string, query: EngineRequestOptions['query'] = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined) continue;
    params.set(key, typeof value === 'object' ? JSON.stringify(value) : String(value));
  }
  const qs = params.toString();
  return `/v${ENGINE_API_VERSION}${path}${qs ? `?${qs}` : ''}`;
}

/** The code a caller matches on for an engine HTTP status. */
function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  return 'engine_error';
}

/** The engine's own words: `{"message": ...}` when it sends JSON, the text otherwise. */
function engineMessage(status: number, text: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed?.message === 'string' && parsed.message) return parsed.message;
  } catch {
    // Not JSON (e.g. "404 page not found" for a route the engine lacks): use the text as it is.
  }
  return text.trim() || `the container engine answered HTTP ${status}`;
}

async function readText(res: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * One engine, one keep-alive connection pool. Requests fail with SwarmletError: `engine_unreachable` when the
 * socket does not answer, `not_found` (404) / `conflict` (409) / `engine_error` (anything else) with the engine's
 * message otherwise.
 */
export class EngineClient {
  readonly socketPath: string;
  private readonly agent: http.Agent;
  private readonly timeoutMs: number;

  /** `socketPath` is the engine's unix socket, e.g. /var/run/docker.sock. */
  constructor(socketPath: string, options: EngineClientOptions = {}) {
    this.socketPath = socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Idle sockets are unref'd by node, so a pooled connection never keeps the process alive.
    this.agent = new http.Agent({ keepAlive: true });
  }

  /** A JSON exchange. Any 2xx or 304 (Docker's "already in that state") resolves; other statuses throw. */
  async request<T = unknown>(method: string, path: string, options: EngineRequestOptions = {}): Promise<EngineResponse<T>> {
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
    try {
      const res = await this.send(method, path, options, signal);
      const text = await readText(res);
      const isJson = /json/.test(res.headers['content-type'] ?? '');
      return { status: res.statusCode ?? 0, body: (text && isJson ? JSON.parse(text) : text || undefined) as T };
    } catch (err) {
      if (deadline.aborted && !options.signal?.aborted) {
        throw new SwarmletError(
          'engine_unreachable',
          `the container engine at unix://${this.socketPath} did not answer ${method} ${path} within ${Math.round(timeoutMs / 1000)} s: is it overloaded or hung?`,
          { cause: err },
        );
      }
      throw this.wrap(err);
    }
  }

  /** The body of a GET, for callers that want the engine's JSON as it is (e.g. /info for the API). */
  async getJson<T = unknown>(path: string, query?: EngineRequestOptions['query']): Promise<T> {
    return (await this.request<T>('GET', path, { query })).body;
  }

  /**
   * A response to read as it arrives (events, logs). The promise settles once the status is known; the caller
   * owns the stream and ends it by aborting `signal`.
   */
  stream(method: string, path: string, options: Omit<EngineRequestOptions, 'timeoutMs'> = {}): Promise<http.IncomingMessage> {
    return this.send(method, path, options, options.signal);
  }

  /** Closes pooled connections; requests still running are not affected. */
  close(): void {
    this.agent.destroy();
  }

  private send(method: string, path: string, options: EngineRequestOptions, signal: AbortSignal | undefined): Promise<http.IncomingMessage> {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const headers: http.OutgoingHttpHeaders = { Host: 'docker' };
    if (body) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = body.length;
    }
    return new Promise((resolve, reject) => {
      const req = http.request(
        { socketPath: this.socketPath, agent: this.agent, method, path: enginePath(path, options.query), headers, signal },
        (res) => {
          const status = res.statusCode ?? 0;
          if ((status >= 200 && status < 300) || status === 304) {
            resolve(res);
            return;
          }
          readText(res).then(
            (text) => reject(new SwarmletError(codeForStatus(status), engineMessage(status, text))),
            (err: unknown) => reject(this.wrap(err)),
          );
        },
      );
      req.once('error', (err) => reject(this.wrap(err)));
      req.end(body);
    });
  }

  private wrap(err: unknown): unknown {
    if (err instanceof SwarmletError) return err;
    if (isUnreachableError(err)) return new SwarmletError('engine_unreachable', engineUnreachableMessage(this.socketPath, err), { cause: err });
    if ((err as Error)?.name === 'AbortError') return err;
    return new SwarmletError('engine_error', `the container engine at unix://${this.socketPath} failed: ${(err as Error)?.message ?? err}`, { cause: err });
  }
}

/** Reads newline-delimited JSON (Docker's event and progress streams) one value at a time. */
export async function* jsonLines(stream: NodeJS.ReadableStream): AsyncGenerator<unknown> {
  for await (const line of readline.createInterface({ input: stream, crlfDelay: Infinity })) {
    if (line.trim()) yield JSON.parse(line);
  }
}
