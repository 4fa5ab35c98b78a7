/**
 * Benchmarks (b) and (c): what the x64 executable costs a small box. Start-to-API-ready time (spawn to the first
 * 200 from GET /_ping, median of SWARMLET_BENCH_STARTS starts, default 10, each with a fresh data dir), the daemon's
 * idle resident memory (after init with no service, then with 20 replicas running), and each executable's size.
 * Goals: ready < 300 ms, idle RSS < 60 MB, size ≤ 100 MB.
 */

import { spawn } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXECUTABLE, makeTempDir, REPO, TEST_IMAGE } from '../helpers/daemon.ts';
import { request } from '../helpers/unix-http.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { mebibytes, median, megabytes, millis, printTable, summary, verdict } from './lib/report.ts';
import { residentBytes, startBenchDaemon } from './lib/swarmlet.ts';
import { waitForRunning } from './lib/tasks.ts';

const STARTS = Number(process.env.SWARMLET_BENCH_STARTS ?? 10);
const IDLE_MS = 5_000;
const REPLICAS = 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Start {
  /** Spawn to the first 200 from /_ping, as a client sees it. */
  ready: number;
  /** What the daemon logs as its own time to API-ready (from its entry point, so without the runtime's boot). */
  logged: number | undefined;
}

/** One start: spawn the executable, poll /_ping every 2 ms until it answers, then stop it. */
async function timeStart(dir: string): Promise<Start> {
  const socket = path.join(dir, 's.sock');
  const start = performance.now();
  const child = spawn(EXECUTABLE, ['daemon', '--data-dir', path.join(dir, 'data'), '--socket', socket], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = defer(`daemon pid ${child.pid}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`daemon exited early:\n${output}`);
      const ok = await request(socket, 'GET', '/_ping').then((r) => r.status === 200, () => false);
      if (ok) break;
      if (performance.now() - start > 20_000) throw new Error(`daemon not ready after 20 s:\n${output}`);
      await sleep(2);
    }
    const ready = performance.now() - start;
    // The log line is written just before or after the socket answers; give it a moment.
    await sleep(20);
    const logged = /API ready on .* in (\d+) ms/.exec(output)?.[1];
    return { ready, logged: logged === undefined ? undefined : Number(logged) };
  } finally {
    await stop();
  }
}

async function startTimes(): Promise<Start[]> {
  const root = await makeTempDir('swarmlet-bench-start-');
  const cleanup = defer(`temp dir ${root}`, () => fs.rm(root, { recursive: true, force: true }));
  const starts: Start[] = [];
  for (let i = 0; i < STARTS; i++) {
    const dir = path.join(root, String(i));
    await fs.mkdir(dir);
    starts.push(await timeStart(dir));
  }
  await cleanup();
  return starts;
}

/** RSS after IDLE_MS of idling: once the node is initialised with no service, then with REPLICAS running. */
async function idleMemory(): Promise<{ empty: { rss: number; peak: number }; loaded: { rss: number; peak: number } }> {
  const daemon = await startBenchDaemon();
  try {
    const pid = daemon.process.pid!;
    await daemon.cli(['init']);
    await sleep(IDLE_MS);
    const empty = await residentBytes(pid);
    const start = Date.now();
    await daemon.cli(['service', 'create', '-d', '--name', 'idle', '--replicas', String(REPLICAS), TEST_IMAGE, 'sleep', '3600']);
    await waitForRunning(daemon.socket, 'idle', REPLICAS, start);
    await sleep(IDLE_MS);
    const loaded = await residentBytes(pid);
    return { empty, loaded };
  } finally {
    await daemon.dispose();
  }
}

/** The pinned Node 22 doing nothing: the floor under any daemon written for it. */
async function nodeBaseline(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const stop = defer(`node baseline pid ${child.pid}`, () => {
    child.kill('SIGKILL');
  });
  await sleep(1_000);
  const { rss } = await residentBytes(child.pid!);
  await stop();
  return rss;
}

interface Size {
  arch: string;
  bytes: number;
  /** The stripped runtime pkg injected the bundle into, when its SEA cache is on this machine. */
  runtime: number | undefined;
}

function sizes(): Size[] {
  const version = process.version;
  return ['x64', 'arm64'].map((arch) => {
    const file = path.join(REPO, 'dist', `swarmlet-linux-${arch}`);
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
    const runtime = path.join(os.homedir(), '.pkg-cache', 'sea', `node-${version}-linux-${arch}`, 'bin', 'node');
    return { arch, bytes: statSync(file).size, runtime: existsSync(runtime) ? statSync(runtime).size : undefined };
  });
}

async function main(): Promise<void> {
  if (!existsSync(EXECUTABLE)) throw new Error(`${EXECUTABLE} is missing: run npm run build first`);

  const starts = await startTimes();
  const readyMs = median(starts.map((s) => s.ready));
  printTable(
    `start-to-ready: ${path.relative(REPO, EXECUTABLE)} daemon, spawn → first 200 from GET /_ping (fresh data dir each)`,
    ['start', 'spawn → ready', 'daemon log "API ready in"'],
    starts.map((s, i) => [String(i + 1), millis(s.ready), s.logged === undefined ? '?' : millis(s.logged)]),
  );
  console.log(`min ${millis(Math.min(...starts.map((s) => s.ready)))}, median ${millis(readyMs)}, max ${millis(Math.max(...starts.map((s) => s.ready)))}`);

  const memory = await idleMemory();
  const baseline = await nodeBaseline();
  printTable(
    `idle memory: the x64 daemon after ${IDLE_MS / 1000} s idle (VmRSS; VmHWM is the peak so far)`,
    ['state', 'VmRSS', 'VmHWM'],
    [
      ['initialised, no service', megabytes(memory.empty.rss), megabytes(memory.empty.peak)],
      [`${REPLICAS} replicas running`, megabytes(memory.loaded.rss), megabytes(memory.loaded.peak)],
      [`reference: node ${process.version} -e "setInterval(...)"`, megabytes(baseline), ''],
    ],
  );

  const built = sizes();
  printTable(
    'executable size (goal ≤ 100 MB, MB = 10^6 bytes)',
    ['file', 'size', '', 'of which runtime', 'of which swarmlet'],
    built.map((s) => [
      `dist/swarmlet-linux-${s.arch}`,
      megabytes(s.bytes),
      mebibytes(s.bytes),
      s.runtime === undefined ? '?' : megabytes(s.runtime),
      s.runtime === undefined ? '?' : megabytes(s.bytes - s.runtime),
    ]),
  );

  summary(`start-to-ready: median ${millis(readyMs)} of ${STARTS} (goal < 300 ms: ${verdict(readyMs < 300)})`);
  summary(`idle RSS: ${megabytes(memory.empty.rss)} with no service (goal < 60 MB: ${verdict(memory.empty.rss < 60e6)})`);
  summary(`idle RSS: ${megabytes(memory.loaded.rss)} with ${REPLICAS} replicas running (goal < 60 MB: ${verdict(memory.loaded.rss < 60e6)})`);
  for (const s of built) summary(`size ${s.arch}: ${megabytes(s.bytes)} (goal ≤ 100 MB: ${verdict(s.bytes <= 100e6)})`);
}

runBench('footprint', main);
