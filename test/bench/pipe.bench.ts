/**
 * Benchmark: the routing mesh's forwarding path to a task on the same host, in one process on loopback — the part of
 * test/bench/mesh.bench.ts's same-host figure (a 256 MB download, ≥ 0.5× direct) that is the daemon's own work,
 * without hosts, engines or a build. A source sends SWARMLET_BENCH_PIPE_MB (default 256) MiB on each connection as
 * fast as it is let (one 1 MiB buffer written over and over, the cheapest a sender gets short of sendfile) and a
 * client reads it into one reused buffer; each in its own worker thread, so each has its event loop as httpd and
 * curl have their process. Paths, interleaved, SWARMLET_BENCH_PIPE_RUNS (default 5) times each:
 *
 * - direct: the client connects to the source;
 * - mesh: through an IngressListener whose task is the source (src/mesh/ingress.ts → socket-splice.ts);
 * - generic splice: through a listener that joins the sockets with Node's pipes under the same connection rules
 *   (splice.ts's spliceEnds), the path the ingress took before socket-splice.ts: the figure to compare against.
 *
 * For each: the median rate, its ratio to direct, and the CPU the forwarding thread spent per GB (from /proc; the
 * wall-clock rate on a small busy machine swings with whatever else runs, CPU per GB much less). Then the same with
 * busybox httpd (sendfile, as in the real-host benchmark) and curl when both are on PATH; and the round trip of a
 * 64-byte message on one connection, so a cheaper bulk path is seen not to cost conversational traffic.
 */

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, ftruncateSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { connectLocal } from '../../src/mesh/connect.ts';
import { IngressListener } from '../../src/mesh/ingress.ts';
import { type Splice, type SpliceOptions, spliceEnds } from '../../src/mesh/splice.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { median, printTable, summary, verdict } from './lib/report.ts';

const MIB = Number(process.env.SWARMLET_BENCH_PIPE_MB ?? 256);
const RUNS = Number(process.env.SWARMLET_BENCH_PIPE_RUNS ?? 5);
const TOTAL = MIB * 2 ** 20;
const GOAL = 0.5;
const ROUND_TRIPS = 5_000;
const MESSAGE = 64;

type Role = 'source' | 'client';
type PathName = 'direct' | 'mesh' | 'generic splice';
const PATHS: PathName[] = ['direct', 'mesh', 'generic splice'];

/** CPU seconds this thread has used (schedstat counts nanoseconds); NaN off Linux. */
function threadCpuSeconds(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return NaN;
  }
}

const listen = async (server: Server): Promise<number> => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

// ---------------------------------------------------------------- the workers

/** The source: TOTAL bytes to every bulk connection, and an echo server for the round trips. */
async function source(): Promise<void> {
  const piece = Buffer.alloc(1 << 20, 0x5a);
  const bulk = createServer((socket) => {
    socket.on('error', () => {});
    let sent = 0;
    const pump = () => {
      while (sent < TOTAL) {
        const size = Math.min(piece.length, TOTAL - sent);
        sent += size;
        if (!socket.write(size === piece.length ? piece : piece.subarray(0, size))) return void socket.once('drain', pump);
      }
      socket.end();
    };
    pump();
  });
  const echo = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk) => socket.write(chunk));
  });
  parentPort!.postMessage({ bulk: await listen(bulk), echo: await listen(echo) });
}

interface Download {
  bytes: number;
  ms: number;
}

/** The client: downloads (reading into one reused buffer, as curl does) and round trips, on request. */
function client(): void {
  const buffer = Buffer.allocUnsafe(1 << 20);
  parentPort!.on('message', (job: { kind: 'download' | 'roundTrips'; port: number }) => {
    const start = performance.now();
    if (job.kind === 'download') {
      let bytes = 0;
      const socket = connect({ host: '127.0.0.1', port: job.port, onread: { buffer, callback: (n) => ((bytes += n), true) } });
      socket.on('error', () => {});
      socket.on('close', () => parentPort!.postMessage({ bytes, ms: performance.now() - start } satisfies Download));
      return;
    }
    const socket = connect({ host: '127.0.0.1', port: job.port, noDelay: true });
    const message = Buffer.alloc(MESSAGE, 1);
    let left = ROUND_TRIPS;
    let got = 0;
    socket.on('connect', () => socket.write(message));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got < MESSAGE) return;
      got = 0;
      if (--left > 0) return void socket.write(message);
      parentPort!.postMessage({ bytes: ROUND_TRIPS * MESSAGE, ms: performance.now() - start } satisfies Download);
      socket.destroy();
    });
  });
}

// ---------------------------------------------------------------- the forwarders

/** The mesh's listener for a local task listening on `targetPort`. */
async function meshForwarder(targetPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const ingress = new IngressListener({ serviceId: 'bench', publishedPort: 0, host: '127.0.0.1', targetPort, peers: () => null, log: silentLogger });
  await ingress.start();
  ingress.setBackends([{ taskId: 'task', nodeId: 'self', address: '127.0.0.1' }]);
  return { port: ingress.port, stop: () => ingress.stop() };
}

/** Joins two streams with Node's pipes, under the mesh's connection rules: the way before socket-splice.ts. */
function splice(a: Duplex, b: Duplex, options: SpliceOptions): Splice {
  return spliceEnds(a, b, options, (from, to, shared) => {
    from.on('data', (chunk: Buffer) => {
      shared.lastActivity = performance.now();
      if (to.writableLength + chunk.length > options.maxBufferedBytes) shared.abort(`over ${options.maxBufferedBytes} bytes waited to be written`);
    });
    from.pipe(to);
  });
}

/** A listener joining each client to `targetPort` with the generic splice (streams and pipe). */
async function genericForwarder(targetPort: number): Promise<{ port: number; stop(): Promise<void> }> {
  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
    socket.on('error', () => {});
    socket.setNoDelay(true);
    connectLocal('127.0.0.1', targetPort, 3_000, undefined).then((upstream) => {
      splice(socket, upstream, { idleTimeoutMs: 60_000, maxBufferedBytes: 4 << 20 });
      socket.resume();
    }, () => socket.destroy());
  });
  const port = await listen(server);
  return { port, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

// ---------------------------------------------------------------- measuring

interface Run {
  rate: number;
  /** Forwarder thread CPU seconds per GB moved (0 on the direct path: nothing forwards). */
  cpuPerGb: number;
}

/** One job in the client worker, with this (the forwarding) thread's CPU around it. */
async function job(worker: Worker, kind: 'download' | 'roundTrips', port: number): Promise<Run & Download> {
  const cpu = threadCpuSeconds();
  worker.postMessage({ kind, port });
  const [result] = (await once(worker, 'message')) as [Download];
  const used = threadCpuSeconds() - cpu;
  return { ...result, rate: result.bytes / 1e6 / (result.ms / 1000), cpuPerGb: used / (result.bytes / 1e9) };
}

/** A download with curl from `port` (httpd serving `file`). */
async function curl(port: number, file: string): Promise<Run> {
  const cpu = threadCpuSeconds();
  const child = spawn('curl', ['-s', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', `http://127.0.0.1:${port}/${file}`]);
  let out = '';
  child.stdout.on('data', (chunk) => (out += chunk));
  const [code] = (await once(child, 'close')) as [number];
  const used = threadCpuSeconds() - cpu;
  const [bytes, seconds] = out.split(' ').map(Number) as [number, number];
  if (code !== 0 || bytes !== TOTAL) throw new Error(`curl through port ${port} got ${bytes} of ${TOTAL} bytes (exit ${code})`);
  return { rate: bytes / 1e6 / seconds, cpuPerGb: used / (bytes / 1e9) };
}

/** Every path `runs` times, interleaved; a table and the summary line against the goal. */
async function compare(title: string, measure: (path: PathName) => Promise<Run>): Promise<void> {
  const runs = new Map<PathName, Run[]>(PATHS.map((p) => [p, []]));
  const loadBefore = loadAverage();
  for (let i = 0; i < RUNS; i++) for (const p of PATHS) runs.get(p)!.push(await measure(p));
  const rate = (p: PathName) => median(runs.get(p)!.map((r) => r.rate));
  const cpu = (p: PathName) => median(runs.get(p)!.map((r) => r.cpuPerGb));
  printTable(`pipe: ${title}, median of ${RUNS} (load average ${loadBefore} before, ${loadAverage()} after)`, ['path', 'MB/s', 'runs', '× direct', 'forwarder CPU-s/GB'], PATHS.map((p) => [
    p, rate(p).toFixed(0), runs.get(p)!.map((r) => r.rate.toFixed(0)).join(' '), (rate(p) / rate('direct')).toFixed(2), p === 'direct' ? '-' : cpu(p).toFixed(3),
  ]));
  const ratio = rate('mesh') / rate('direct');
  summary(`pipe: ${title}: direct ${rate('direct').toFixed(0)} MB/s, mesh ${rate('mesh').toFixed(0)} MB/s = ${ratio.toFixed(2)}x (goal ≥ ${GOAL}: ${verdict(ratio >= GOAL)}), generic splice ${(rate('generic splice') / rate('direct')).toFixed(2)}x; forwarder CPU ${cpu('mesh').toFixed(3)} vs ${cpu('generic splice').toFixed(3)} s/GB`);
}

const loadAverage = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function onPath(name: string): Promise<boolean> {
  const child = spawn('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
  const [code] = (await once(child, 'close')) as [number];
  return code === 0;
}

/** busybox httpd serving a TOTAL-byte file of zeros (sparse: the page cache holds it) from a temp dir. */
async function httpd(): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'swarmlet-pipe-bench-'));
  defer('the httpd directory', () => rmSync(dir, { recursive: true, force: true }));
  const fd = openSync(path.join(dir, 'big'), 'w');
  ftruncateSync(fd, TOTAL);
  closeSync(fd);
  const probe = createServer();
  const port = await listen(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const child = spawn('busybox', ['httpd', '-f', '-p', `127.0.0.1:${port}`, '-h', dir], { stdio: 'ignore' });
  defer('busybox httpd', () => void child.kill());
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => connect({ host: '127.0.0.1', port }).once('connect', function (this: import('node:net').Socket) {
      this.destroy();
      resolve(true);
    }).once('error', () => resolve(false)));
    if (up) return port;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('busybox httpd did not start listening');
}

async function main(): Promise<void> {
  console.log(`pipe: ${availableParallelism()} CPU(s), load average ${loadAverage()}; ${MIB} MiB per download, ${RUNS} runs per path`);
  const sourceWorker = new Worker(new URL(import.meta.url), { workerData: 'source' satisfies Role });
  defer('the source worker', async () => void (await sourceWorker.terminate()));
  const clientWorker = new Worker(new URL(import.meta.url), { workerData: 'client' satisfies Role });
  defer('the client worker', async () => void (await clientWorker.terminate()));
  const [ports] = (await once(sourceWorker, 'message')) as [{ bulk: number; echo: number }];

  const forwarders = async (target: number) => {
    const mesh = await meshForwarder(target);
    defer('a mesh listener', () => mesh.stop());
    const generic = await genericForwarder(target);
    defer('a generic forwarder', () => generic.stop());
    return { direct: target, mesh: mesh.port, 'generic splice': generic.port } satisfies Record<PathName, number>;
  };

  const bulk = await forwarders(ports.bulk);
  await job(clientWorker, 'download', bulk.mesh); // warm-up: the JIT, the pools
  await compare(`${MIB} MiB download from a Node source, in-process client`, async (p) => {
    const run = await job(clientWorker, 'download', bulk[p]);
    if (run.bytes !== TOTAL) throw new Error(`the ${p} download got ${run.bytes} of ${TOTAL} bytes`);
    return run;
  });

  if ((await onPath('busybox')) && (await onPath('curl'))) {
    const served = await forwarders(await httpd());
    await curl(served.mesh, 'big');
    await compare(`${MIB} MiB download from busybox httpd (sendfile) with curl`, (p) => curl(served[p], 'big'));
  } else {
    console.log('pipe: busybox or curl not on PATH: no httpd + curl figures');
  }

  const echo = await forwarders(ports.echo);
  const trip = new Map<PathName, { wall: number; cpu: number }>();
  for (let i = 0; i < 3; i++) await job(clientWorker, 'roundTrips', echo.mesh); // warm-up
  for (const p of PATHS) {
    const runs: Array<Run & Download> = [];
    for (let i = 0; i < 5; i++) runs.push(await job(clientWorker, 'roundTrips', echo[p]));
    // Forwarder CPU per round trip: cpuPerGb is per 10^9 bytes, a round trip moves MESSAGE bytes each way.
    trip.set(p, { wall: (median(runs.map((r) => r.ms)) * 1000) / ROUND_TRIPS, cpu: median(runs.map((r) => r.cpuPerGb)) * MESSAGE * 1e6 / 1e9 });
  }
  printTable(`pipe: round trip of a ${MESSAGE}-byte message on one connection, ${ROUND_TRIPS} in a row (median of 5)`, ['path', 'µs per round trip', 'forwarder CPU µs per round trip'], PATHS.map((p) => [
    p, trip.get(p)!.wall.toFixed(1), p === 'direct' ? '-' : trip.get(p)!.cpu.toFixed(1),
  ]));
  const cell = (p: PathName) => `${trip.get(p)!.wall.toFixed(1)} µs${p === 'direct' ? '' : ` (forwarder CPU ${trip.get(p)!.cpu.toFixed(1)} µs)`}`;
  summary(`pipe: ${MESSAGE}-byte round trip ${cell('direct')} direct, ${cell('mesh')} through the mesh, ${cell('generic splice')} through the generic splice`);
}

if (isMainThread) runBench('pipe', main);
else if ((workerData as Role) === 'source') await source();
else client();
