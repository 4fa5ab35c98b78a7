/**
 * Runs a real swarmlet daemon for integration tests: the built executable by default (what ships is what is
 * tested), or the TypeScript source when SWARMLET_TEST_FROM_SOURCE=1 (faster while developing). Each daemon
 * gets its own data dir and socket, so tests never touch the machine's real /run/swarmlet.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request, waitFor } from './unix-http.ts';

export const REPO = path.resolve(import.meta.dirname, '../..');
export const EXECUTABLE = path.join(REPO, 'dist', 'swarmlet-linux-x64');
export const TEST_IMAGE = 'swarmlet-test/busybox:1';

/**
 * Daemons started on this machine's own network (not in a harness host) keep mDNS off: discovery would speak on
 * the machine's real network card. Cluster tests run their daemons inside namespaces, where it stays on the bridge.
 */
export const DISCOVERY_OFF = ['--discovery', 'off'];

/** The command line that runs swarmlet: [file, ...args]. */
export function swarmletCommand(): string[] {
  if (process.env.SWARMLET_TEST_FROM_SOURCE === '1') return [process.execPath, path.join(REPO, 'src', 'main.ts')];
  if (!existsSync(EXECUTABLE)) throw new Error(`${EXECUTABLE} is missing: run npm run build first`);
  return [EXECUTABLE];
}

/** The arm64 executable under qemu-user, with Debian's cross libc as its library root. */
export const ARM64_COMMAND = ['/usr/bin/qemu-aarch64', '-L', '/usr/aarch64-linux-gnu', path.join(REPO, 'dist', 'swarmlet-linux-arm64')];

/**
 * The environment the executable runs in: PATH holds no node (this machine has one in /usr/bin), which proves the
 * executable needs none. Running from source keeps the caller's PATH.
 */
export function swarmletEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  // Overlay networks' DNS forwards no name out of the cluster: tests never resolve names outside it.
  if (process.env.SWARMLET_TEST_FROM_SOURCE === '1') return { ...process.env, SWARMLET_DNS_UPSTREAMS: '', ...extra };
  return { HOME: os.tmpdir(), TMPDIR: os.tmpdir(), PATH: '/nonexistent/swarmlet-has-no-node-on-path', SWARMLET_DNS_UPSTREAMS: '', ...extra };
}

export interface DaemonHandle {
  dir: string;
  socket: string;
  dataDir: string;
  process: ChildProcess;
  /** Everything the daemon wrote to stderr so far. */
  logs(): string;
  api<T = any>(method: string, path: string, body?: unknown): ReturnType<typeof request<T>>;
  /** kill -9, as a power cut or OOM kill would. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

export async function makeTempDir(prefix = 'swarmlet-it-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * Where test daemons' node IDs are noted, so `npm test` can remove the containers of a run that was killed
 * without touching those of a real swarmlet on the same machine (build/test.sh reads it).
 */
export const TEST_NODES_DIR = path.join(os.tmpdir(), 'swarmlet-test-nodes');

async function recordTestNode(dataDir: string): Promise<void> {
  const state = JSON.parse(await fs.readFile(path.join(dataDir, 'state.json'), 'utf8'));
  await fs.mkdir(TEST_NODES_DIR, { recursive: true });
  await fs.writeFile(path.join(TEST_NODES_DIR, state.data.node.id), '');
}

export async function startDaemon(options: { dir?: string; env?: Record<string, string>; args?: string[]; waitReady?: boolean; command?: string[]; readyTimeoutMs?: number } = {}): Promise<DaemonHandle> {
  // First, so a missing executable fails the test before anything is made that would need cleaning up.
  const [file, ...prefix] = options.command ?? swarmletCommand();
  const dir = options.dir ?? (await makeTempDir());
  const socket = path.join(dir, 'swarmlet.sock');
  const dataDir = path.join(dir, 'data');
  const child = spawn(file!, [...prefix, 'daemon', '--data-dir', dataDir, '--socket', socket, ...DISCOVERY_OFF, ...(options.args ?? [])], {
    env: swarmletEnv(options.env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const handle: DaemonHandle = {
    dir,
    socket,
    dataDir,
    process: child,
    logs: () => output,
    api: (method, p, body) => request(socket, method, p, body),
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
    exited,
  };
  if (options.waitReady !== false) {
    let gone = false;
    void exited.then(() => (gone = true));
    await waitFor('the daemon API', async () => {
      if (gone) throw new Error(`daemon exited early:\n${output}`);
      return (await handle.api('GET', '/_ping')).status === 200;
    }, options.readyTimeoutMs ?? 20_000, 50);
    await recordTestNode(dataDir);
  }
  return handle;
}
