/**
 * swarmlet daemons for the benchmarks, spawned by hand from an executable (the built x64 one, or a copy of it),
 * each in a fresh temp dir, with a registered cleanup that stops the daemon, removes every container its node
 * made and deletes the dir, also when the benchmark fails or is interrupted.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { DISCOVERY_OFF, EXECUTABLE, makeTempDir, TEST_NODES_DIR } from '../../helpers/daemon.ts';
import { removeNodeContainers, swarmlet } from '../../helpers/docker.ts';
import { request } from '../../helpers/unix-http.ts';
import { defer } from './cleanup.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface BenchDaemon {
  child: ChildProcess;
  dir: string;
  socket: string;
  /** Resolves once GET /_ping answers 200, polling every 2 ms (fine enough to time a start). */
  ready(): Promise<void>;
  /** Everything the daemon printed so far. */
  output(): string;
  /** Runs the swarmlet CLI against this daemon; throws with its stderr when it fails. */
  cli(args: string[]): Promise<string>;
  /** The node's ID, once the daemon has written its state. */
  nodeId(): Promise<string>;
  /** Stops the daemon, removes its node's containers and its dir, now (also done at exit if never called). */
  dispose(): Promise<void>;
}

/**
 * Spawns `command daemon` (command: the executable, or a runtime and a script) on a fresh temp dir. `given` is a
 * dir the caller made and removes itself, e.g. one holding a copy of the executable. Everything before the spawn
 * is synchronous when `given` is passed, so a caller can time the start from just before the call.
 */
export async function spawnDaemon(command: string[] = [EXECUTABLE], given?: string): Promise<BenchDaemon> {
  const dir = given ?? (await makeTempDir('swarmlet-bench-'));
  const removeDir = given ? async () => {} : defer(`temp dir ${dir}`, () => fs.rm(dir, { recursive: true, force: true }));
  const socket = path.join(dir, 's.sock');
  const dataDir = path.join(dir, 'data');
  const child = spawn(command[0]!, [...command.slice(1), 'daemon', '--data-dir', dataDir, '--socket', socket, ...DISCOVERY_OFF], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let knownNodeId: string | undefined;

  const nodeId = async () => {
    if (knownNodeId) return knownNodeId;
    const state = JSON.parse(await fs.readFile(path.join(dataDir, 'state.json'), 'utf8'));
    knownNodeId = state.data.node.id as string;
    // Noted where build/test.sh looks, so even a kill -9'd benchmark's containers are swept by the next test run.
    await fs.mkdir(TEST_NODES_DIR, { recursive: true });
    await fs.writeFile(path.join(TEST_NODES_DIR, knownNodeId), '');
    return knownNodeId;
  };

  const dispose = defer(`swarmlet daemon pid ${child.pid}`, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    if (knownNodeId ?? existsSync(path.join(dataDir, 'state.json'))) await removeNodeContainers(await nodeId());
    await removeDir();
  });

  return {
    child,
    dir,
    socket,
    output: () => output,
    async ready() {
      const start = performance.now();
      for (;;) {
        if (child.exitCode !== null) throw new Error(`daemon exited early:\n${output}`);
        if (await request(socket, 'GET', '/_ping').then((r) => r.status === 200, () => false)) return;
        if (performance.now() - start > 20_000) throw new Error(`daemon not ready after 20 s:\n${output}`);
        await sleep(2);
      }
    },
    async cli(args) {
      const result = await swarmlet(socket, args);
      if (result.code !== 0) throw new Error(`swarmlet ${args.join(' ')} failed: ${result.stderr.trim()}`);
      return result.stdout;
    },
    nodeId,
    dispose,
  };
}

/** A daemon (the built executable unless told), ready and initialised as a one-node cluster. */
export async function startInitialisedDaemon(command: string[] = [EXECUTABLE], dir?: string): Promise<BenchDaemon> {
  const daemon = await spawnDaemon(command, dir);
  try {
    await daemon.ready();
    await daemon.cli(['init']);
    await daemon.nodeId();
    return daemon;
  } catch (err) {
    await daemon.dispose();
    throw err;
  }
}

export interface Resident {
  /** VmRSS, what the goal is stated in, and VmHWM, its peak so far. */
  rss: number;
  peak: number;
  /**
   * VmRSS split: anonymous memory (heap, stacks: what the process really costs) and file-backed pages (mostly the
   * executable's own code and data, clean and shared with the page cache, so the kernel can drop them).
   */
  anon: number;
  file: number;
}

/** The daemon's resident memory from /proc: the SEA executable is the process itself, so the child's PID is it. */
export async function residentBytes(pid: number): Promise<Resident> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile') };
}
