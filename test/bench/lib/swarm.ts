/**
 * Docker Swarm mode on this machine's engine, as the reference the convergence benchmark compares with. The
 * benchmark owns the swarm only while it runs: it marks its node with a label, so a swarm left by a killed
 * benchmark is recognised and left, while anyone else's swarm is never touched.
 */

import { docker } from '../../helpers/docker.ts';
import { request } from '../../helpers/unix-http.ts';
import { defer } from './cleanup.ts';
import { DOCKER_SOCKET } from './tasks.ts';

export const SWARM_SERVICE = 'swarmlet-bench';
const MARK = 'com.swarmlet.bench';
const GWBRIDGE = 'docker_gwbridge';

async function must(args: string[]): Promise<string> {
  const result = await docker(args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

async function swarmInfo(): Promise<{ LocalNodeState: string; NodeID: string }> {
  return JSON.parse(await must(['info', '--format', '{{json .Swarm}}']));
}

/** A swarm this benchmark made: one node, carrying our label. */
async function isOurs(nodeId: string): Promise<boolean> {
  const nodes = (await must(['node', 'ls', '-q'])).split('\n').filter(Boolean);
  if (nodes.length !== 1) return false;
  const labels = JSON.parse(await must(['node', 'inspect', nodeId, '--format', '{{json .Spec.Labels}}'])) ?? {};
  return labels[MARK] === '1';
}

async function networkExists(name: string): Promise<boolean> {
  return (await docker(['network', 'inspect', name])).code === 0;
}

/** Removes the benchmark's service and its containers now, without waiting out Swarm's 10 s stop grace period. */
export async function removeSwarmService(): Promise<void> {
  await docker(['service', 'rm', SWARM_SERVICE]);
  const ids = (await docker(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${SWARM_SERVICE}`])).stdout.split('\n').filter(Boolean);
  if (ids.length > 0) await docker(['rm', '-f', ...ids]);
  // The manager forgets the service's tasks shortly after: wait, so the next run starts from nothing.
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const tasks = await request<unknown[]>(DOCKER_SOCKET, 'GET', '/tasks');
    const left = (await docker(['ps', '-aq', '--filter', `label=com.docker.swarm.service.name=${SWARM_SERVICE}`])).stdout.trim();
    if ((tasks.status !== 200 || tasks.body.length === 0) && !left) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Makes a one-node swarm on the engine, or returns why it cannot (someone else's swarm is active). Leaving it,
 * with its service and containers, is registered as cleanup.
 */
export async function startBenchSwarm(): Promise<{ ok: true } | { ok: false; reason: string }> {
  const before = await swarmInfo();
  if (before.LocalNodeState === 'active') {
    if (!(await isOurs(before.NodeID))) {
      return { ok: false, reason: `the engine is already in a swarm (node ${before.NodeID}) that this benchmark did not make; leave it first` };
    }
    console.log(`bench: leaving a swarm an earlier benchmark left active (node ${before.NodeID})`);
    await removeSwarmService();
    await must(['swarm', 'leave', '--force']);
  } else if (before.LocalNodeState !== 'inactive') {
    return { ok: false, reason: `the engine's swarm state is "${before.LocalNodeState}"; expected inactive` };
  }
  const hadGwbridge = await networkExists(GWBRIDGE);
  defer('the benchmark swarm', async () => {
    await removeSwarmService();
    if ((await swarmInfo()).LocalNodeState !== 'inactive') await must(['swarm', 'leave', '--force']);
    // Swarm makes this bridge for its tasks' gateway and keeps it after leaving; remove it only if it is ours.
    if (!hadGwbridge && (await networkExists(GWBRIDGE))) await docker(['network', 'rm', GWBRIDGE]);
  });
  await must(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
  const { NodeID } = await swarmInfo();
  await must(['node', 'update', '--label-add', `${MARK}=1`, NodeID]);
  return { ok: true };
}
