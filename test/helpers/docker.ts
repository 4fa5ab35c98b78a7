/** Runs the stock docker CLI (and swarmlet's) as a user would, for integration tests. */

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { REPO, swarmletCommand } from './daemon.ts';

const run = promisify(execFile);

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function exec(file: string, args: string[], env: Record<string, string> = {}, input?: string): Promise<CommandResult> {
  try {
    const child = run(file, args, { env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 });
    if (input !== undefined) {
      child.child.stdin!.end(input);
    }
    const { stdout, stderr } = await child;
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/** The docker CLI against the machine's engine, or against `host` (a unix socket path) when given. */
export function docker(args: string[], host?: string): Promise<CommandResult> {
  return exec('docker', args, host ? { DOCKER_HOST: `unix://${host}` } : {});
}

/** The swarmlet CLI against the daemon at `socket`. */
export function swarmlet(socket: string, args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const [file, ...prefix] = swarmletCommand();
  return exec(file!, [...prefix, '-H', `unix://${socket}`, ...args], env);
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
