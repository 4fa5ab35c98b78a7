/**
 * Benchmarks (b) and (c): what the x64 executable costs a small box. Start-to-API-ready time (spawn to the first
 * 200 from GET /_ping, median of SWARMLET_BENCH_STARTS starts, default 10, each with a fresh data dir), the daemon's
 * idle resident memory (after init with no service, then with 20 replicas running), and each executable's size.
 * Goals: ready < 300 ms, idle RSS < 60 MB, size ≤ 100 MB.
 *
 * Idle memory is measured twice. Most of VmRSS is file-backed pages of the executable itself, and how many of
 * those a process maps depends on how the file sits in the page cache (seen here: the same bytes idle at 68 MB run
 * from dist/, where the build wrote them and other processes run them, and at 50 MB from a copy read cold from
 * disk). So it runs dist/ as is, and a private copy dropped from the page cache first, which is how an installed
 * binary starts after a boot; the anonymous part (what the daemon itself allocates) is shown beside both.
 */

import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fs, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EXECUTABLE, makeTempDir, REPO, TEST_IMAGE } from '../helpers/daemon.ts';
import { request } from '../helpers/unix-http.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { mebibytes, median, megabytes, millis, printTable, summary, verdict } from './lib/report.ts';
import { type Resident, residentBytes, spawnDaemon, startInitialisedDaemon } from './lib/swarmlet.ts';
import { waitForRunning } from './lib/tasks.ts';

const STARTS = Number(process.env.SWARMLET_BENCH_STARTS ?? 10);
const IDLE_MS = 5_000;
const REPLICAS = 20;
/** What build/bundle.mjs writes and pkg injects into the runtime. */
const BUNDLE = path.join(REPO, 'build', '.cache', 'bundle', 'swarmlet.cjs');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

interface Start {
  /** Spawn to the first 200 from /_ping, as a client sees it. */
  ready: number;
  /** What the daemon logs as its own time to API-ready (from its entry point, so without the runtime's boot). */
  logged: number | undefined;
}

async function startTimes(): Promise<Start[]> {
  const root = await makeTempDir('swarmlet-bench-start-');
  const removeRoot = defer(`temp dir ${root}`, () => fs.rm(root, { recursive: true, force: true }));
  const starts: Start[] = [];
  for (let i = 0; i < STARTS; i++) {
    const dir = path.join(root, String(i));
    await fs.mkdir(dir);
    const start = performance.now();
    const daemon = await spawnDaemon([EXECUTABLE], dir);
    try {
      await daemon.ready();
      const ready = performance.now() - start;
      // The log line is written around the moment the socket answers; give it a moment.
      await sleep(20);
      const logged = /API ready on .* in (\d+) ms/.exec(daemon.output())?.[1];
      starts.push({ ready, logged: logged === undefined ? undefined : Number(logged) });
    } finally {
      await daemon.dispose();
    }
  }
  await removeRoot();
  return starts;
}

interface Idle {
  empty: Resident;
  loaded: Resident;
}

/** RSS after IDLE_MS of idling: once initialised with no service, then with REPLICAS running. */
async function idleMemory(command: string[], dir?: string): Promise<Idle> {
  const daemon = await startInitialisedDaemon(command, dir);
  try {
    const pid = daemon.child.pid!;
    await sleep(IDLE_MS);
    const empty = await residentBytes(pid);
    const start = Date.now();
    await daemon.cli(['service', 'create', '-d', '--name', 'idle', '--replicas', String(REPLICAS), TEST_IMAGE, 'sleep', '3600']);
    await waitForRunning(daemon.socket, 'idle', REPLICAS, start);
    await sleep(IDLE_MS);
    return { empty, loaded: await residentBytes(pid) };
  } finally {
    await daemon.dispose();
  }
}

/** The same, from a private copy of the executable that is not in the page cache, as after a boot. */
async function idleMemoryCold(): Promise<Idle> {
  const dir = await makeTempDir('swarmlet-bench-cold-');
  const removeDir = defer(`temp dir ${dir}`, () => fs.rm(dir, { recursive: true, force: true }));
  try {
    const copy = path.join(dir, 'swarmlet');
    await fs.copyFile(EXECUTABLE, copy);
    // GNU dd's documented way to drop one file from the page cache (node has no posix_fadvise).
    await run('dd', [`if=${copy}`, 'iflag=nocache', 'count=0', 'status=none']);
    return await idleMemory([copy], dir);
  } finally {
    await removeDir();
  }
}

/**
 * The same bundle the executable carries, run by the plain pinned runtime, initialised and idle: the difference
 * from the executable is what the SEA packaging itself costs in memory.
 */
async function bundleOnPlainNode(): Promise<Resident | undefined> {
  if (!existsSync(BUNDLE)) return undefined;
  const daemon = await spawnDaemon([process.execPath, BUNDLE]);
  try {
    await daemon.ready();
    const init = await request(daemon.socket, 'POST', '/swarm/init', { ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
    if (init.status !== 200) throw new Error(`swarm init on the bundle daemon: ${init.status} ${JSON.stringify(init.body)}`);
    await sleep(IDLE_MS);
    return await residentBytes(daemon.child.pid!);
  } finally {
    await daemon.dispose();
  }
}

/** The pinned Node 22 doing nothing: the floor under any daemon written for it. */
async function nodeBaseline(): Promise<Resident> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const stop = defer(`node baseline pid ${child.pid}`, () => {
    child.kill('SIGKILL');
  });
  await sleep(1_000);
  const resident = await residentBytes(child.pid!);
  await stop();
  return resident;
}

interface Size {
  arch: string;
  bytes: number;
  /** The stripped runtime pkg injected the bundle into, when its SEA cache is on this machine. */
  runtime: number | undefined;
}

function sizes(): Size[] {
  return ['x64', 'arm64'].map((arch) => {
    const file = path.join(REPO, 'dist', `swarmlet-linux-${arch}`);
    if (!existsSync(file)) throw new Error(`${file} is missing: run npm run build first`);
    const runtime = path.join(os.homedir(), '.pkg-cache', 'sea', `node-${process.version}-linux-${arch}`, 'bin', 'node');
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

  const asBuilt = await idleMemory([EXECUTABLE]);
  const cold = await idleMemoryCold();
  const plain = await bundleOnPlainNode();
  const baseline = await nodeBaseline();
  const rows: [string, Resident][] = [
    ['dist/ executable, initialised, no service', asBuilt.empty],
    [`dist/ executable, ${REPLICAS} replicas running`, asBuilt.loaded],
    ['cold copy, initialised, no service', cold.empty],
    [`cold copy, ${REPLICAS} replicas running`, cold.loaded],
    ...(plain ? [[`reference: the same bundle on plain node ${process.version}, no service`, plain] as [string, Resident]] : []),
    [`reference: node ${process.version} -e "setInterval(...)"`, baseline],
  ];
  printTable(
    `idle memory: the x64 daemon after ${IDLE_MS / 1000} s idle (VmRSS; VmHWM is the peak so far)`,
    ['process', 'VmRSS', 'VmHWM', 'of which anonymous', 'of which file-backed'],
    rows.map(([what, m]) => [what, megabytes(m.rss), megabytes(m.peak), megabytes(m.anon), megabytes(m.file)]),
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
  for (const [state, pick] of [['no service', (i: Idle) => i.empty], [`${REPLICAS} replicas running`, (i: Idle) => i.loaded]] as const) {
    summary(
      `idle RSS, ${state}: ${megabytes(pick(cold).rss)} cold copy (goal < 60 MB: ${verdict(pick(cold).rss < 60e6)}), ` +
        `${megabytes(pick(asBuilt).rss)} from dist/ (${verdict(pick(asBuilt).rss < 60e6)}); anonymous ${megabytes(pick(cold).anon)}`,
    );
  }
  for (const s of built) summary(`size ${s.arch}: ${megabytes(s.bytes)} (goal ≤ 100 MB: ${verdict(s.bytes <= 100e6)})`);
}

runBench('footprint', main);
