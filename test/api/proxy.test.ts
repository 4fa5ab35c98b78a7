/**
 * The engine proxy alone (no swarm routes) on a temporary unix socket, driven by the stock docker CLI with
 * DOCKER_HOST pointing at it: what a user does with `docker` through swarmlet's socket must work as it does
 * on docker.sock, streams and hijacked connections included. A stand-in engine covers what the real one
 * cannot show (hop-by-hop headers, an upstream aborted when its client leaves).
 *
 * Needs dockerd on /var/run/docker.sock and the docker CLI on PATH; builds the busybox test image when absent.
 * Everything made carries `com.swarmlet.test=1` and is removed in `after`, also when a test failed.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createEngineProxy, type EngineProxy } from '../../src/api/proxy.ts';
import { type DaemonHandle, startDaemon } from '../helpers/daemon.ts';
import { ensureTestImage } from '../helpers/docker.ts';

const ENGINE = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
const IMAGE = 'swarmlet-test/busybox:1';
const RUN = randomUUID().slice(0, 8);
const LABELS = ['--label', 'com.swarmlet.test=1', '--label', `com.swarmlet.test.proxy=${RUN}`];
const BIG_IMAGE = `swarmlet-test/big:${RUN}`;
const MB = 1024 * 1024;
const BIG_FILE_BYTES = 20 * MB;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A docker CLI process against `host` (a socket path), or against the machine's engine when host is undefined. */
function startDocker(host: string | undefined, args: string[]) {
  const child = spawn('docker', args, { env: { ...process.env, ...(host ? { DOCKER_HOST: `unix://${host}` } : {}) } });
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const watch of watchers) watch();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<Result>((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
  /** Resolves when stdout matches; fails if the process ends first. */
  const output = (pattern: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const watch = () => {
        const match = stdout.match(pattern);
        if (!match) return;
        watchers.delete(watch);
        resolve(match[0]);
      };
      watchers.add(watch);
      watch();
      void done.then((result) => {
        if (watchers.delete(watch)) reject(new Error(`docker ${args.join(' ')} ended without printing ${pattern}: ${JSON.stringify(result)}`));
      });
    });
  return { child, done, output };
}

async function docker(host: string | undefined, args: string[], input?: string): Promise<Result> {
  const proc = startDocker(host, args);
  proc.child.stdin.end(input);
  return proc.done;
}

async function ok(host: string | undefined, args: string[], input?: string): Promise<string> {
  const result = await docker(host, args, input);
  assert.equal(result.code, 0, `docker ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/** Imports a rootfs that `write` fills in as an image, offline (`docker import`, never a registry). */
async function importRootfs(host: string | undefined, tag: string, write: (rootfs: string) => Promise<void>): Promise<void> {
  const rootfs = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-rootfs-'));
  try {
    await write(rootfs);
    const tar = spawn('tar', ['-C', rootfs, '-c', '.'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const importer = startDocker(host, ['import', '-c', 'CMD ["sh"]', '-', tag]);
    tar.stdout.pipe(importer.child.stdin);
    const result = await importer.done;
    assert.equal(result.code, 0, `docker import failed: ${result.stderr}`);
  } finally {
    await fs.rm(rootfs, { recursive: true, force: true });
  }
}


async function listen(server: http.Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
}

/** A node:http server that only proxies, wired as the API server wires it. */
async function startProxyServer(socketPath: string, engine: string): Promise<{ server: http.Server; proxy: EngineProxy }> {
  const proxy = createEngineProxy(engine);
  const server = http.createServer((req, res) => proxy.handleRequest(req, res));
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  server.requestTimeout = 0;
  await listen(server, socketPath);
  return { server, proxy };
}

async function stopServer(handle: { server: http.Server; proxy: EngineProxy } | undefined): Promise<void> {
  if (!handle) return;
  handle.proxy.close();
  handle.server.closeAllConnections();
  await new Promise((resolve) => handle.server.close(resolve));
}

/** One request over a unix socket, body read whole (for small answers only). */
function request(socketPath: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ socketPath, method, path: urlPath, headers: payload ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** Docker's multiplexed raw stream: 8-byte frame headers (stream, 0, 0, 0, big-endian length), then the payload. */
function demultiplex(raw: Buffer): { stdout: string; stderr: string } {
  const out = { stdout: '', stderr: '' };
  for (let at = 0; at + 8 <= raw.length; ) {
    const length = raw.readUInt32BE(at + 4);
    const payload = raw.subarray(at + 8, at + 8 + length).toString();
    if (raw[at] === 2) out.stderr += payload;
    else out.stdout += payload;
    at += 8 + length;
  }
  return out;
}

/** Current and peak resident memory of a process, from /proc. */
async function memoryOf(pid: number): Promise<{ rss: number; peakRss: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peakRss: kb('VmHWM') };
}

describe('the swarmlet socket passes the docker CLI through to the engine', () => {
  let dir = '';
  let socket = '';
  let daemon: DaemonHandle | undefined;

  before(async () => {
    await ensureTestImage();
    // The real daemon (the built executable): what users point DOCKER_HOST at.
    daemon = await startDaemon({ args: ['--engine', `unix://${ENGINE}`] });
    dir = daemon.dir;
    socket = daemon.socket;
  });

  after(async () => {
    const ids = (await docker(undefined, ['ps', '-aq', '--filter', `label=com.swarmlet.test.proxy=${RUN}`])).stdout.split('\n').filter(Boolean);
    if (ids.length > 0) await docker(undefined, ['rm', '-f', ...ids]);
    await docker(undefined, ['rmi', '-f', BIG_IMAGE]);
    await daemon?.stop();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('answers docker version and docker ps', async (t) => {
    const version = (await ok(socket, ['version', '--format', '{{.Client.Version}}'])).trim();
    t.diagnostic(`docker CLI ${version}`);
    console.log(`# docker CLI ${version} through the swarmlet socket`);
    assert.match(version, /^\d+\.\d+/);
    assert.match(await ok(socket, ['ps', '-a']), /CONTAINER ID/);
  });

  it('runs a container and shows its output: docker run --rm IMAGE echo hi', async () => {
    assert.equal(await ok(socket, ['run', '--rm', ...LABELS, IMAGE, 'echo', 'hi']), 'hi\n');
  });

  it('delivers stdin and its end: echo hello | docker run -i --rm IMAGE cat', async () => {
    assert.equal(await ok(socket, ['run', '-i', '--rm', ...LABELS, IMAGE, 'cat'], 'hello\n'), 'hello\n');
  });

  it('execs into a running container, with and without stdin', async () => {
    const id = (await ok(socket, ['run', '-d', ...LABELS, IMAGE, 'sleep', '300'])).trim();
    assert.equal(await ok(socket, ['exec', id, 'echo', 'from-exec']), 'from-exec\n');
    assert.equal(await ok(socket, ['exec', '-i', id, 'cat'], 'piped\n'), 'piped\n');
  });

  it('follows logs as lines come, and stops when the container ends', async () => {
    const script = 'echo first; while [ ! -e /go ]; do sleep 0.1; done; echo second';
    const id = (await ok(socket, ['run', '-d', ...LABELS, IMAGE, 'sh', '-c', script])).trim();
    const logs = startDocker(socket, ['logs', '-f', id]);
    logs.child.stdin.end();
    // "first" arrives while the container is still waiting: the stream is not held until it ends.
    await logs.output(/first\n/);
    await ok(socket, ['exec', id, 'sh', '-c', ': > /go']);
    await logs.output(/second\n/);
    const result = await logs.done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'first\nsecond\n');
  });

  it('streams events while a container is created, and answers a bounded --since/--until query', async () => {
    const since = String(Math.floor(Date.now() / 1000) - 1);
    const filters = ['--filter', 'type=container', '--filter', `label=com.swarmlet.test.proxy=${RUN}`];
    const events = startDocker(socket, ['events', '--since', since, ...filters, '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    events.child.stdin.end();
    const name = `swarmlet-proxy-events-${RUN}`;
    await ok(socket, ['create', '--name', name, ...LABELS, IMAGE, 'true']);
    await events.output(new RegExp(`create ${name}`));
    events.child.kill();
    await events.done;

    const until = String(Math.floor(Date.now() / 1000) + 1);
    const bounded = await ok(socket, ['events', '--since', since, '--until', until, ...filters, '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
    assert.match(bounded, new RegExp(`create ${name}`));
  });

  it('saves the test image, then loads a 20 MB image without holding it in memory', async (t) => {
    const small = path.join(dir, 'busybox.tar');
    await ok(socket, ['save', '-o', small, IMAGE]);
    assert.ok((await fs.stat(small)).size > MB, 'docker save wrote too little');

    await importRootfs(socket, BIG_IMAGE, async (rootfs) => {
      const file = await fs.open(path.join(rootfs, 'big'), 'w');
      for (let written = 0; written < BIG_FILE_BYTES; written += MB) await file.write(randomBytes(MB));
      await file.close();
    });
    const tarball = path.join(dir, 'big.tar');
    await ok(socket, ['save', '-o', tarball, BIG_IMAGE]);
    const uploadBytes = (await fs.stat(tarball)).size;
    assert.ok(uploadBytes > BIG_FILE_BYTES, `the saved image is only ${uploadBytes} bytes`);
    await ok(socket, ['rmi', BIG_IMAGE]);

    // The daemon is a process of its own, whose peak RSS the kernel records (VmHWM).
    const pid = daemon!.process.pid!;
    const before = await memoryOf(pid);
    assert.match(await ok(socket, ['load', '-i', tarball]), new RegExp(`Loaded image: ${BIG_IMAGE}`));
    const afterLoad = await memoryOf(pid);
    const growth = afterLoad.peakRss - before.rss;
    t.diagnostic(`uploaded ${(uploadBytes / MB).toFixed(1)} MB through a daemon of ${(before.rss / MB).toFixed(1)} MB RSS; its peak grew by ${(growth / MB).toFixed(1)} MB`);
    // Streaming leaves some garbage for the GC (measured: 8-14 MB for the proxy alone, and no more for 200 MB);
    // holding the upload would add at least its size.
    assert.ok(growth < uploadBytes, `the daemon's peak RSS grew by ${growth} bytes for a ${uploadBytes}-byte upload: is it buffering?`);
    await ok(socket, ['image', 'inspect', BIG_IMAGE]);
  });

  it('tunnels the older hijack without an Upgrade header, stdin end included', async () => {
    const id = (await ok(socket, ['run', '-d', ...LABELS, IMAGE, 'sleep', '300'])).trim();
    const created = await request(socket, 'POST', `/v1.41/containers/${id}/exec`, { AttachStdin: true, AttachStdout: true, AttachStderr: true, Cmd: ['cat'] });
    assert.equal(created.status, 201, created.body);
    const execId = (JSON.parse(created.body) as { Id: string }).Id;

    const body = JSON.stringify({ Detach: false, Tty: false });
    const conn = net.connect(socket);
    conn.write(`POST /v1.41/exec/${execId}/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    const chunks: Buffer[] = [];
    const ended = new Promise<void>((resolve, reject) => {
      conn.on('end', resolve);
      conn.on('error', reject);
    });
    let headSeen = false;
    conn.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (!headSeen && Buffer.concat(chunks).includes('\r\n\r\n')) {
        headSeen = true;
        // Like a hijacking client: stdin only after the answer's head, then a half-close for its end.
        conn.end('hello-raw\n');
      }
    });
    await ended;
    const raw = Buffer.concat(chunks);
    const split = raw.indexOf('\r\n\r\n');
    const head = raw.subarray(0, split).toString();
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /application\/vnd\.docker\.raw-stream/i);
    assert.equal(demultiplex(raw.subarray(split + 4)).stdout, 'hello-raw\n');
  });
});

describe('engine proxy, against a stand-in engine', () => {
  let dir = '';
  let engineSocket = '';
  let proxySocket = '';
  let engine: http.Server | undefined;
  let handle: { server: http.Server; proxy: EngineProxy } | undefined;
  let eventsClosed: Promise<void> = Promise.resolve();

  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-proxy-fake-'));
    engineSocket = path.join(dir, 'engine.sock');
    proxySocket = path.join(dir, 'proxy.sock');
    engine = http.createServer((req, res) => {
      if (req.url === '/v1.41/events') {
        eventsClosed = new Promise((resolve) => res.once('close', () => resolve()));
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.write('{"Action":"start"}\n');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json', 'Keep-Alive': 'timeout=99', Connection: 'X-Hop', 'X-Hop': 'drop-me', 'X-Engine': 'yes' });
      res.end(JSON.stringify(req.headers));
    });
    await listen(engine, engineSocket);
    handle = await startProxyServer(proxySocket, engineSocket);
  });

  after(async () => {
    await stopServer(handle);
    if (engine) {
      engine.closeAllConnections();
      await new Promise((resolve) => engine!.close(resolve));
    }
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it('drops hop-by-hop headers both ways and keeps the rest', async () => {
    const answer = await new Promise<{ headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: proxySocket,
          path: '/v1.41/headers',
          headers: { Connection: 'keep-alive, X-Client-Hop', 'X-Client-Hop': 'drop-me', 'Keep-Alive': 'timeout=98', 'Proxy-Authorization': 'secret', 'X-Kept': 'kept' },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ headers: res.headers, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
    const seenByEngine = JSON.parse(answer.body) as Record<string, string>;
    assert.equal(seenByEngine['x-kept'], 'kept');
    assert.equal(seenByEngine['x-client-hop'], undefined);
    assert.equal(seenByEngine['proxy-authorization'], undefined);
    assert.notEqual(seenByEngine['keep-alive'], 'timeout=98');
    assert.equal(answer.headers['x-engine'], 'yes');
    assert.equal(answer.headers['x-hop'], undefined);
    assert.notEqual(answer.headers['keep-alive'], 'timeout=99');
  });

  it('aborts the engine request when the client goes away mid-stream', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ socketPath: proxySocket, path: '/v1.41/events' }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await eventsClosed;
  });

  it('answers 502 in Docker\'s error shape, naming the engine socket, when there is no engine', async () => {
    const missing = path.join(dir, 'missing.sock');
    const broken = await startProxyServer(path.join(dir, 'broken.sock'), missing);
    try {
      const answer = await request(path.join(dir, 'broken.sock'), 'GET', '/_ping');
      assert.equal(answer.status, 502);
      assert.match(answer.headers['content-type'] ?? '', /application\/json/);
      assert.equal(
        (JSON.parse(answer.body) as { message: string }).message,
        `cannot reach the container engine at unix://${missing} (connect ENOENT): is dockerd running? start it, or point swarmlet at another engine with --engine unix:///path`,
      );

      const conn = net.connect(path.join(dir, 'broken.sock'));
      conn.end('POST /v1.41/containers/x/attach?stream=1 HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
      let raw = '';
      conn.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      await new Promise((resolve) => conn.once('close', resolve));
      assert.match(raw, /^HTTP\/1\.1 502 Bad Gateway/);
      assert.match(raw, /cannot reach the container engine at unix:\/\//);
    } finally {
      await stopServer(broken);
    }
  });
});
