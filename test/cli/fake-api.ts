/**
 * A stand-in for the swarmlet daemon in CLI tests: an HTTP server on a temporary unix socket that answers with
 * Docker-shaped JSON from a handler and records every request. The real daemon is exercised end to end by the
 * integration tests; here only the CLI's side of the conversation is under test.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export interface FakeRequest {
  method: string;
  /** The path with the `/v1.41` prefix removed. */
  path: string;
  /** The prefix the client used, e.g. `/v1.41`. */
  versionPrefix: string;
  query: URLSearchParams;
  body: unknown;
}

export interface FakeReply {
  status?: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is, as text/plain (for bodies that are not JSON). */
  text?: string;
}

export interface FakeApi {
  socket: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

export async function startFakeApi(handler: (req: FakeRequest) => FakeReply): Promise<FakeApi> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swarmlet-cli-test-'));
  const socket = path.join(dir, 'api.sock');
  const requests: FakeRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const prefix = /^\/v\d+\.\d+/.exec(url.pathname)?.[0] ?? '';
      const text = Buffer.concat(chunks).toString('utf8');
      const request: FakeRequest = {
        method: req.method ?? 'GET',
        path: url.pathname.slice(prefix.length),
        versionPrefix: prefix,
        query: url.searchParams,
        body: text === '' ? undefined : JSON.parse(text),
      };
      requests.push(request);
      const reply = handler(request);
      const status = reply.status ?? 200;
      if (reply.text !== undefined) {
        res.writeHead(status, { 'Content-Type': 'text/plain' }).end(reply.text);
      } else if (reply.body === undefined) {
        res.writeHead(status).end();
      } else {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply.body));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    requests,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const MAIN = path.resolve(import.meta.dirname, '../../src/main.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node src/main.ts ...args` as a child process (asynchronously, so a fake API in this process can answer). */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      env: { ...process.env, SWARMLET_HOST: undefined, SWARMLET_DEBUG: undefined, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
