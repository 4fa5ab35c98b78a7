/**
 * A swarmlet daemon for a benchmark: the built x64 executable (test/helpers/daemon.ts), a fresh temp dir, and a
 * registered cleanup that stops it, removes every container its node made and deletes the dir.
 */

import { promises as fs } from 'node:fs';
import path from 'node:path';
import { type DaemonHandle, makeTempDir, startDaemon } from '../../helpers/daemon.ts';
import { removeNodeContainers, swarmlet } from '../../helpers/docker.ts';
import { defer } from './cleanup.ts';

export interface BenchDaemon extends DaemonHandle {
  nodeId: string;
  /** Runs the swarmlet CLI against this daemon; throws with its stderr when it fails. */
  cli(args: string[]): Promise<string>;
  /** Stops the daemon, removes its containers and its dir, now (also done at exit if never called). */
  dispose(): Promise<void>;
}

export async function startBenchDaemon(): Promise<BenchDaemon> {
  const dir = await makeTempDir('swarmlet-bench-');
  const removeDir = defer(`temp dir ${dir}`, () => fs.rm(dir, { recursive: true, force: true }));
  let handle: DaemonHandle;
  try {
    handle = await startDaemon({ dir });
  } catch (err) {
    await removeDir();
    throw err;
  }
  const state = JSON.parse(await fs.readFile(path.join(handle.dataDir, 'state.json'), 'utf8'));
  const nodeId: string = state.data.node.id;
  const stopAndClean = defer(`swarmlet daemon ${nodeId}`, async () => {
    await stopWithin(handle, 10_000);
    await removeNodeContainers(nodeId);
    await removeDir();
  });
  return {
    ...handle,
    nodeId,
    async cli(args) {
      const result = await swarmlet(handle.socket, args);
      if (result.code !== 0) throw new Error(`swarmlet ${args.join(' ')} failed: ${result.stderr.trim()}`);
      return result.stdout;
    },
    dispose: stopAndClean,
  };
}

/** SIGTERM, then SIGKILL if the daemon has not exited after `ms`. */
async function stopWithin(handle: DaemonHandle, ms: number): Promise<void> {
  const timer = setTimeout(() => handle.process.kill('SIGKILL'), ms);
  try {
    await handle.stop();
  } finally {
    clearTimeout(timer);
  }
}

/** The daemon's resident memory from /proc: the SEA executable is the process itself, so the child's PID is it. */
export async function residentBytes(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}
