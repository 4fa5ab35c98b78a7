/** Runs the stock docker CLI (and swarmlet's) as a user would, for integration tests. */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { REPO, swarmletCommand, swarmletEnv } from './daemon.ts';

const run = promisify(execFile);

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  try {
    const { stdout, stderr } = await run(file, args, { env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** The docker CLI against the machine's engine, or against `host` (a unix socket path) when given. */
export function docker(args: string[], host?: string): Promise<CommandResult> {
  return exec('docker', args, host ? { ...process.env, DOCKER_HOST: `unix://${host}` } : process.env);
}

/** The swarmlet CLI against the daemon at `socket` (the built executable unless `command` says otherwise). */
export function swarmlet(socket: string, args: string[], command: string[] = swarmletCommand()): Promise<CommandResult> {
  const [file, ...prefix] = command;
  return exec(file!, [...prefix, '-H', `unix://${socket}`, ...args], swarmletEnv());
}

/** Container IDs the engine has for a label filter (all states). */
export async function containerIds(label: string): Promise<string[]> {
  const result = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${label}`]);
  return result.stdout.split('\n').filter(Boolean).sort();
}

export async function inspect(ids: string[]): Promise<any[]> {
  if (ids.length === 0) return [];
  const result = await docker(['inspect', ...ids]);
  return JSON.parse(result.stdout);
}

/** Removes every container a test daemon made for `nodeId`. */
export async function removeNodeContainers(nodeId: string): Promise<void> {
  const ids = await containerIds(`com.docker.swarm.node.id=${nodeId}`);
  if (ids.length > 0) await docker(['rm', '-f', ...ids]);
}

/** Builds the offline test image when absent, with the same script the setup uses (never a registry). */
export async function ensureTestImage(): Promise<void> {
  const result = await exec('bash', [path.join(REPO, 'build', 'test-image.sh')]);
  if (result.code !== 0) throw new Error(`could not build the test image: ${result.stderr}`);
}
