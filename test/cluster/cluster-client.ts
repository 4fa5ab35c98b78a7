/**
 * What the cluster tests on real hosts say to their daemons: the CLI and API of a host's daemon, the node table as a
 * manager sees it, and polling with a deadline. Kept apart from the harness (which makes hosts) so each test file
 * reads as its scenario.
 */

import assert from 'node:assert/strict';
import type { Node, Task } from '../../src/api/types.ts';
import { type Daemon, Harness } from './harness.ts';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every 100 ms until it returns something truthy; fails after `timeoutMs` with the last error seen. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

export const byHost = (list: Node[], host: string) => list.find((n) => n.Description.Hostname === host);

/** The daemons of a test, by host name. */
export class ClusterClient {
  readonly daemons = new Map<string, Daemon>();

  daemon(name: string): Daemon {
    const d = this.daemons.get(name);
    if (!d) throw new Error(`no daemon on ${name}`);
    return d;
  }

  /** Runs `swarmlet ARGS` against host `name`'s daemon and returns its output; a failure fails the test with the daemon's log. */
  async cli(name: string, args: string[]): Promise<string> {
    const result = await this.daemon(name).cli(args);
    assert.equal(result.code, 0, `swarmlet ${args.join(' ')} on ${name} failed: ${result.stderr}\n--- daemon log ---\n${this.daemon(name).logs().slice(-3000)}`);
    return result.stdout;
  }

  async nodes(name: string): Promise<Node[]> {
    const reply = await this.daemon(name).api<Node[]>('GET', '/nodes');
    if (reply.status !== 200) throw new Error(`GET /nodes on ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  }

  async tasks(name: string): Promise<Task[]> {
    const reply = await this.daemon(name).api<Task[]>('GET', '/tasks');
    if (reply.status !== 200) throw new Error(`GET /tasks on ${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
    return reply.body;
  }

  /**
   * Starts a harness of `hosts` hosts with a swarmlet daemon on each (in no cluster yet), logging as the tests do;
   * SWARMLET_LOG_LEVEL reaches the daemons.
   */
  async startHosts(hosts: number): Promise<Harness> {
    const harness = await Harness.start({ hosts, log: (line) => console.log(`harness: ${line}`) });
    console.log(`harness: ${harness.hosts.length} hosts up in ${harness.timings.totalMs} ms`);
    const env: Record<string, string> = process.env.SWARMLET_LOG_LEVEL ? { SWARMLET_LOG_LEVEL: process.env.SWARMLET_LOG_LEVEL } : {};
    await Promise.all(harness.hosts.map(async (host) => this.daemons.set(host.name, await host.startDaemon([], { env }))));
    return harness;
  }

  /**
   * h1 inits; `managers` and `workers` join with their token and h1's address (mDNS discovery has tests of its own);
   * returns once h1 sees every node ready.
   */
  async formCluster(harness: Harness, managers: string[], workers: string[], timeoutMs = 30_000): Promise<Node[]> {
    await this.cli('h1', ['init']);
    const tokens = {
      manager: (await this.cli('h1', ['join-token', '-q', 'manager'])).trim(),
      worker: (await this.cli('h1', ['join-token', '-q', 'worker'])).trim(),
    };
    const joining = [...managers.map((host) => [host, tokens.manager] as const), ...workers.map((host) => [host, tokens.worker] as const)];
    for (const [host, token] of joining) await this.cli(host, ['join', '--token', token, harness.host('h1').address]);
    const count = 1 + joining.length;
    return until(`${count} ready nodes`, async () => {
      const list = await this.nodes('h1');
      return list.length === count && list.every((n) => n.Status.State === 'ready') ? list : undefined;
    }, timeoutMs);
  }

  async leaderHost(asking: string): Promise<string | undefined> {
    const list = await this.nodes(asking);
    return list.find((n) => n.ManagerStatus?.Leader)?.Description.Hostname;
  }
}
