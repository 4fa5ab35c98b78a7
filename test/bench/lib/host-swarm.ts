/**
 * Docker Swarm mode across the harness's hosts, as the reference the orchestration benchmark compares with: the
 * first host's engine inits on its bridge address (so Swarm listens only there), the others join as workers.
 * Leaving is registered as cleanup before the init, so every engine leaves, also when the benchmark fails, and
 * also an engine the benchmark killed (it is started again first): the hosts' engines outlive a benchmark run
 * only until the harness stops, but a swarm left active would meet whatever ran next on them.
 */

import type { Host } from '../../cluster/harness.ts';
import { defer } from './cleanup.ts';

const SWARM_PORT = 2377;

async function must(host: Host, args: string[]): Promise<string> {
  const result = await host.docker(args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} on ${host.name}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

async function swarmState(host: Host): Promise<string> {
  return must(host, ['info', '--format', '{{.Swarm.LocalNodeState}}']);
}

/**
 * Every engine leaves the swarm (`--force`), workers first, and is emptied; an engine that is down is started again
 * first. Removing the service before leaving spares the manager from rescheduling tasks while the workers go.
 */
export async function leaveSwarm(hosts: Host[], service?: string): Promise<void> {
  for (const host of hosts) if (!host.dockerd?.running) await host.restartEngine();
  const [manager, ...workers] = hosts;
  if (service) await manager!.docker(['service', 'rm', service]);
  await Promise.all(workers.map((host) => host.docker(['swarm', 'leave', '--force'])));
  await manager!.docker(['swarm', 'leave', '--force']);
  const still = [];
  for (const host of hosts) {
    const state = await swarmState(host);
    if (state !== 'inactive') still.push(`${host.name}: ${state}`);
  }
  await Promise.all(hosts.map((host) => host.clearEngine()));
  if (still.length > 0) throw new Error(`engines still in a swarm after leaving: ${still.join(', ')}`);
}

/**
 * Forms a swarm of `hosts`: the first inits and manages, the others join with the worker token; resolves once the
 * manager lists every node ready. Returns a function that leaves it now (it is also left at exit if never called).
 */
export async function formSwarm(hosts: Host[], service: string, readyTimeoutMs = 60_000): Promise<() => Promise<void>> {
  const [manager, ...workers] = hosts;
  if (!manager) throw new Error('a swarm needs at least one host');
  for (const host of hosts) {
    const state = await swarmState(host);
    if (state !== 'inactive') throw new Error(`${host.name}'s engine is already in a swarm (${state}): the harness's engines start empty, so something else made it`);
  }
  const leave = defer('Docker Swarm mode on the hosts', () => leaveSwarm(hosts, service));
  const address = manager.address;
  await must(manager, ['swarm', 'init', '--advertise-addr', address, '--listen-addr', `${address}:${SWARM_PORT}`]);
  const token = await must(manager, ['swarm', 'join-token', '-q', 'worker']);
  await Promise.all(workers.map((host) => must(host, [
    'swarm', 'join', '--token', token, '--advertise-addr', host.address, '--listen-addr', `${host.address}:${SWARM_PORT}`, `${address}:${SWARM_PORT}`,
  ])));
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const nodes = await manager.engineApi<{ Status: { State: string } }[]>('GET', '/nodes');
    if (nodes.status === 200 && nodes.body.length === hosts.length && nodes.body.every((n) => n.Status.State === 'ready')) return leave;
    if (Date.now() > deadline) throw new Error(`the swarm did not list ${hosts.length} ready nodes within ${readyTimeoutMs} ms: ${JSON.stringify(nodes.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
