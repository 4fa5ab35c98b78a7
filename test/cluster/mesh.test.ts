/**
 * The routing mesh on real hosts (issue 6): three network namespaces on one bridge, each with its own dockerd and the
 * built executable — a manager that runs no task of the published service and two workers that do. A published
 * port answers on every host; requests spread over the tasks on both workers; a task whose container is killed
 * costs only the requests it was answering, and is out of rotation at once; scaling down under load fails no request, because a task is
 * drained (out of rotation on every node, its connections finished) before its container stops.
 *
 * Time limits are about three times the goals (a dead task out of rotation within 1 s), so a busy two-core machine
 * does not make them flaky.
 */

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../src/api/types.ts';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { ClusterClient, sleep, until } from './cluster-client.ts';
import type { Harness } from './harness.ts';

/** The goal for a dead task to leave rotation; the test allows three times it. */
const OUT_OF_ROTATION_GOAL_MS = 1_000;
/** How long after `docker kill` returns a request may still have been on its way to the killed container. */
const IN_FLIGHT_MS = 100;

let harness: Harness;
const cluster = new ClusterClient();
const cli = (name: string, args: string[]) => cluster.cli(name, args);

/** Each task's page is its container's hostname, so an answer says which task gave it. */
const SITE = ['sh', '-c', 'mkdir -p /srv && hostname > /srv/index.html && exec httpd -f -p 80 -h /srv'];

async function tasksOf(service: string): Promise<Task[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service] }));
  const reply = await cluster.daemon('h1').api<Task[]>('GET', `/tasks?filters=${filters}`);
  if (reply.status !== 200) throw new Error(`GET /tasks on h1: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

const runningTasks = async (service: string) => (await tasksOf(service)).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

/** One GET on a new connection through `host`'s published port: the page (a container hostname), or the error. */
function get(host: string, port: number): Promise<{ host: string; page?: string; error?: string }> {
  return new Promise((resolve) => {
    const request = http.get({ host: harness.host(host).address, port, path: '/', agent: false, timeout: 3_000 }, (reply) => {
      const chunks: Buffer[] = [];
      reply.on('data', (chunk: Buffer) => chunks.push(chunk));
      reply.on('end', () => resolve(reply.statusCode === 200 ? { host, page: Buffer.concat(chunks).toString().trim() } : { host, error: `HTTP ${reply.statusCode}` }));
      reply.on('error', (err) => resolve({ host, error: err.message }));
    });
    request.on('timeout', () => request.destroy(new Error('no answer within 3 s')));
    request.on('error', (err) => resolve({ host, error: err.message }));
  });
}

/**
 * Sends GETs through `hosts` in turn, one every `everyMs`, never retrying, until stopped: what a user's client would
 * see while the cluster does something.
 */
function load(hosts: string[], port: number, everyMs: number) {
  const results: Array<{ at: number; host: string; page?: string; error?: string }> = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; !stopped; i++) {
      const at = performance.now();
      const host = hosts[i % hosts.length]!;
      void get(host, port).then((result) => results.push({ at, ...result }));
      await sleep(everyMs);
    }
    // The last requests' answers.
    await sleep(3_500);
  })();
  return {
    results,
    async stop() {
      stopped = true;
      await done;
      return results;
    },
  };
}

describe('routing mesh on real hosts', { timeout: 600_000 }, () => {
  before(async () => {
    harness = await cluster.startHosts(3);
  });

  after(async () => {
    await harness?.stop();
  });

  it('forms a cluster of one manager and two workers', async () => {
    await cli('h1', ['init']);
    const token = (await cli('h1', ['join-token', '-q', 'worker'])).trim();
    for (const host of ['h2', 'h3']) await cli(host, ['join', '--token', token, harness.host('h1').address]);
    await until('three ready nodes', async () => {
      const list = await cluster.nodes('h1');
      return list.length === 3 && list.every((n) => n.Status.State === 'ready') ? list : undefined;
    }, 30_000);
  });

  it('spreads requests on every host, the manager without a task included, over the tasks on both workers', async () => {
    await cli('h1', [
      'service', 'create', '--detach', '--name', 'site', '--replicas', '2', '--replicas-max-per-node', '1',
      '--constraint', 'node.role==worker', '-p', '8080:80', TEST_IMAGE, ...SITE,
    ]);
    await until('two running tasks of site', async () => ((await runningTasks('site')).length === 2 ? true : undefined), 60_000);
    const pages = await until('both tasks answering through every host', async () => {
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => get(['h1', 'h2', 'h3'][i % 3]!, 8080)));
      const seen = new Set(answers.map((a) => a.page));
      return answers.every((a) => a.page) && seen.size === 2 ? seen : undefined;
    }, 30_000);
    // The pages are the two containers' hostnames: one on each worker.
    const containers = await Promise.all(['h2', 'h3'].map(async (host) => (await harness.host(host).docker(['ps', '--filter', 'label=com.docker.swarm.service.name=site', '--format', '{{.ID}}'])).stdout.trim()));
    assert.deepEqual([...pages].sort(), containers.map((id) => id.slice(0, 12)).sort());
  });

  it('fails only the requests in flight when a task is killed, and takes it out of rotation within the goal', async () => {
    const traffic = load(['h1', 'h2', 'h3'], 8080, 25);
    await sleep(1_000);
    const victimHost = harness.host('h2');
    const victim = (await victimHost.docker(['ps', '--filter', 'label=com.docker.swarm.service.name=site', '--format', '{{.ID}}'])).stdout.trim();
    const killedAt = performance.now();
    assert.equal((await victimHost.docker(['kill', victim])).code, 0);
    const failedAt = await until('the killed task marked failed', async () => {
      const task = (await tasksOf('site')).find((t) => t.Status.ContainerStatus?.ContainerID?.startsWith(victim));
      return task && task.Status.State === 'failed' ? performance.now() : undefined;
    }, 10_000);
    await until('a replacement running', async () => ((await runningTasks('site')).length === 2 ? true : undefined), 30_000);
    await sleep(1_000);
    const results = await traffic.stop();
    const failed = results.filter((r) => r.error);
    const after = results.filter((r) => r.at > killedAt);
    console.log(`mesh: ${results.length} requests, ${failed.length} failed; the killed task was marked failed ${(failedAt - killedAt).toFixed(0)} ms after the kill`);
    assert.ok(after.length > 40, `requests kept coming during the kill (${after.length})`);
    // A request the killed container was answering dies with it, in any system. Every other one is served: a dead
    // backend costs the mesh a retry on another task, not the client an error.
    const inFlight = (r: { at: number }) => r.at < killedAt + IN_FLIGHT_MS;
    assert.deepEqual(failed.filter((r) => !inFlight(r)), [], 'nothing sent after the kill failed');
    assert.ok(failed.length <= 3, `at most the few requests in flight at the kill failed (${failed.length})`);
    assert.ok(!after.some((r) => r.at > killedAt + 100 && r.page === victim.slice(0, 12)), 'nothing was answered by the killed container');
    assert.ok(failedAt - killedAt < 3 * OUT_OF_ROTATION_GOAL_MS, `out of rotation within ${3 * OUT_OF_ROTATION_GOAL_MS} ms (took ${(failedAt - killedAt).toFixed(0)} ms)`);
  });

  it('fails no request while the service scales down and back: a stopping task is drained first', async () => {
    const traffic = load(['h1', 'h2', 'h3'], 8080, 25);
    await sleep(1_000);
    await cli('h1', ['service', 'scale', '--detach', 'site=1']);
    await until('one running task of site', async () => ((await tasksOf('site')).filter((t) => t.Status.State === 'running').length === 1 ? true : undefined), 30_000);
    await sleep(1_000);
    await cli('h1', ['service', 'scale', '--detach', 'site=2']);
    await until('two running tasks of site', async () => ((await runningTasks('site')).length === 2 ? true : undefined), 30_000);
    await sleep(1_000);
    const results = await traffic.stop();
    const failed = results.filter((r) => r.error);
    console.log(`mesh: scale 2 → 1 → 2 under load: ${results.length} requests, ${failed.length} failed`);
    assert.ok(results.length > 100, `requests kept coming (${results.length})`);
    assert.deepEqual(failed, []);
    await cli('h1', ['service', 'rm', 'site']);
  });
});
