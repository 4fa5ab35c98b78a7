/**
 * The CLI's client for the swarmlet API: JSON over HTTP on the daemon's unix socket.
 *
 * The CLI is a client of the very API the stock docker CLI uses (Docker Engine API v1.41, swarm subset), so it
 * sends the same versioned paths and reads the same `{"message": ...}` errors. node:http is enough for a handful of
 * JSON requests and keeps the executable small. Failures become one-line SwarmletErrors: the server's own message
 * for API errors, and for an unreachable daemon a sentence naming the socket and how to point at another.
 */

import http from 'node:http';
import { type ErrorCode, SwarmletError, invalidArgument } from '../errors.ts';
import { defaultSocketPath, socketPathFromUrl } from '../paths.ts';
import { API_VERSION } from '../version.ts';

/**
 * Which daemon to talk to: `-H`/`--host`, else SWARMLET_HOST, else the default socket — the order docker uses
 * for `-H` and DOCKER_HOST. Returns the socket path.
 */
export function resolveSocket(hostFlag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const address = hostFlag || env.SWARMLET_HOST || `unix://${defaultSocketPath()}`;
  try {
    return socketPathFromUrl(address);
  } catch (err) {
    throw invalidArgument(`invalid daemon address "${address}": use unix:///path/to/swarmlet.sock`, err);
  }
}

/** The stable error code for an HTTP status the API answered with. */
function codeForStatus(status: number): ErrorCode {
  if (status === 400) return 'invalid_argument';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 503) return 'unavailable';
  return 'internal';
}

type Query = Record<string, string | undefined>;

export class ApiClient {
  readonly socketPath: string;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>('GET', path, query);
  }

  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>('POST', path, query, body);
  }

  delete(path: string, query?: Query): Promise<void> {
    return this.request<void>('DELETE', path, query);
  }

  /** Sends one request; resolves with the parsed JSON body (undefined when empty). */
  request<T>(method: string, path: string, query?: Query, body?: unknown): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query ?? {})) if (value !== undefined) search.set(key, value);
    const target = `/v${API_VERSION}${path}${search.size > 0 ? `?${search}` : ''}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          method,
          path: target,
          headers: {
            Host: 'swarmlet',
            Accept: 'application/json',
            ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (err) => reject(this.connectionError(err)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status >= 400) {
              reject(new SwarmletError(codeForStatus(status), errorMessage(text, status, method, path)));
              return;
            }
            try {
              resolve((text.trim() === '' ? undefined : JSON.parse(text)) as T);
            } catch (err) {
              reject(new SwarmletError('internal', `the daemon sent a response that is not JSON for ${method} ${path}`, { cause: err }));
            }
          });
        },
      );
      req.on('error', (err) => reject(this.connectionError(err)));
      req.end(payload);
    });
  }

  private connectionError(err: Error & { code?: string }): SwarmletError {
    const where = `unix://${this.socketPath}`;
    if (err.code === 'EACCES') {
      return new SwarmletError('unavailable', `permission denied connecting to the swarmlet daemon at ${where}: run as root or as a user who may open the socket`, { cause: err });
    }
    if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED' || err.code === 'ENOTSOCK') {
      return new SwarmletError(
        'unavailable',
        `cannot connect to the swarmlet daemon at ${where}: is \`swarmlet daemon\` running? (set -H or SWARMLET_HOST to use another socket)`,
        { cause: err },
      );
    }
    return new SwarmletError('unavailable', `lost the connection to the swarmlet daemon at ${where}: ${err.message}`, { cause: err });
  }
}

/** The API's `{"message": ...}` text, or a description of what came back instead. */
function errorMessage(text: string, status: number, method: string, path: string): string {
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string' && parsed.message !== '') return parsed.message;
  } catch {
    // Not JSON: fall through to the raw text.
  }
  const raw = text.trim();
  return raw !== '' && raw.length < 500 ? raw : `${method} ${path}: the daemon answered HTTP ${status}`;
}
