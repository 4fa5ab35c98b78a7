/**
 * Rolling updates on one node and the real engine, through the API, the stock docker CLI and swarmlet's own:
 * - bad update and rollback requests get clear errors and change nothing;
 * - `docker service update` and `docker service rollback` follow swarmlet's UpdateStatus to the end, as they follow
 *   Swarm's, and `docker service inspect` shows it;
 * - `swarmlet service update` waits with per-slot progress; `swarmlet service rollback` puts the previous spec back.
 * The cross-host scenarios, under load through the routing mesh, are in test/cluster/update.test.ts.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Service, ServiceSpec } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { docker, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

const SECOND = 1_000_000_000;

function spec(name: string, extra: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    Name: name,
    TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'], Env: ['V=1'] }, RestartPolicy: { Condition: 'any', Delay: 200_000_000 } },
    Mode: { Replicated: { Replicas: 2 } },
    UpdateConfig: { Parallelism: 1, Monitor: SECOND },
    ...extra,
  };
}

describe('rolling updates on one node', () => {
  let daemon: DaemonHandle;
  let nodeId = '';
  const api = <T = any>(method: string, path: string, body?: unknown) => daemon.api<T>(method, path, body);
  const inspect = async (name: string) => (await api<Service>('GET', `/services/${name}`)).body;
  const dockerCli = (args: string[]) => docker(args, daemon.socket);

  before(async () => {
    daemon = await startDaemon();
    const init = await swarmlet(daemon.socket, ['init']);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('refuses bad update policies, a rollback with no previous spec, start-first with a host port and a stale version, changing nothing', async () => {
    const created = await api<{ ID: string }>('POST', '/services/create', spec('tidy'));
    assert.equal(created.status, 201);
    const before = await inspect('tidy');
    const update = (body: unknown, query = '') => api('POST', `/services/${before.ID}/update?version=${before.Version.Index}${query}`, body);

    const bad: Array<[string, ServiceSpec, RegExp]> = [
      ['ratio above 1', spec('tidy', { UpdateConfig: { MaxFailureRatio: 1.5 } }), /MaxFailureRatio.*between 0 and 1/],
      ['negative parallelism', spec('tidy', { UpdateConfig: { Parallelism: -1 } }), /Parallelism.*negative/],
      ['negative delay', spec('tidy', { RollbackConfig: { Delay: -5 } }), /Delay.*negative/],
      ['unknown failure action', spec('tidy', { UpdateConfig: { FailureAction: 'explode' as 'pause' } }), /FailureAction.*continue, pause or rollback/],
      ['start-first with a host port', spec('tidy', {
        UpdateConfig: { Order: 'start-first' },
        EndpointSpec: { Ports: [{ TargetPort: 80, PublishedPort: 8085, PublishMode: 'host' }] },
      }), /--update-order start-first cannot be used with host-mode published port 8085/],
    ];
    for (const [what, body, message] of bad) {
      const reply = await update(body);
      assert.equal(reply.status, 400, `${what}: ${JSON.stringify(reply.body)}`);
      assert.match(reply.body.message, message, what);
    }
    const createStartFirst = await api('POST', '/services/create', { ...bad[4]![1], Name: 'clash' });
    assert.equal(createStartFirst.status, 400);

    const noPrevious = await update(spec('tidy'), '&rollback=previous');
    assert.equal(noPrevious.status, 400);
    assert.match(noPrevious.body.message, /does not have a previous spec to roll back to/);
    const unknownRollback = await update(spec('tidy'), '&rollback=later');
    assert.equal(unknownRollback.status, 400);

    const stale = await api('POST', `/services/${before.ID}/update?version=${before.Version.Index - 1}`, spec('tidy', { Mode: { Replicated: { Replicas: 5 } } }));
    assert.equal(stale.status, 409);
    assert.match(stale.body.message, /update out of sequence/);

    const after = await inspect('tidy');
    assert.deepEqual(after, before, 'nothing changed');
    assert.equal((await api('GET', '/services/clash')).status, 404);
    assert.equal((await api('DELETE', '/services/tidy')).status, 200);
  });

  it('the docker CLI updates and rolls back a service, following UpdateStatus to the end', async () => {
    const created = await dockerCli(['service', 'create', '--detach', '--name', 'web', '--replicas', '2', '--env', 'V=1', '--update-monitor', '1s', '--rollback-monitor', '1s', TEST_IMAGE, 'sleep', '3600']);
    assert.equal(created.code, 0, created.stderr);
    await waitFor('web running', async () => ((await inspect('web')) && (await api<unknown[]>('GET', '/tasks?filters=%7B%22service%22%3A%5B%22web%22%5D%2C%22desired-state%22%3A%5B%22running%22%5D%7D')).body.length === 2 ? true : undefined), 30_000);

    const updated = await dockerCli(['service', 'update', '--env-add', 'V=2', '--update-parallelism', '1', 'web']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout + updated.stderr, /verify: Service (web|\w+) converged/);
    // The docker CLI verifies stability by its own clock; the daemon marks the update completed on its next pass.
    const afterUpdate = await waitFor('the update completed', async () => {
      const service = await inspect('web');
      return service.UpdateStatus?.State === 'completed' ? service : undefined;
    }, 10_000);
    assert.ok(afterUpdate.Spec.TaskTemplate.ContainerSpec.Env?.includes('V=2'));
    const shown = await dockerCli(['service', 'inspect', '--format', '{{.UpdateStatus.State}} {{.UpdateStatus.Message}}', 'web']);
    assert.equal(shown.stdout.trim(), 'completed update completed');
    // `inspect --pretty` prints the status block as docker's does (times as how long ago, which may differ by a second
    // between the two commands: compared without them).
    const block = (text: string) => /\nUpdateStatus:\n(?: .*\n)+/.exec(text)?.[0]?.replace(/\t(Less than a second|About a minute|About an hour|\d+ \w+) ago\n/g, '\t… ago\n');
    const dockerPretty = block((await dockerCli(['service', 'inspect', '--pretty', 'web'])).stdout);
    const ours = block((await swarmlet(daemon.socket, ['service', 'inspect', '--pretty', 'web'])).stdout);
    assert.ok(dockerPretty?.includes(' State:\t\tcompleted\n'), dockerPretty);
    assert.equal(ours, dockerPretty);

    const rolledBack = await dockerCli(['service', 'rollback', 'web']);
    assert.equal(rolledBack.code, 0, rolledBack.stderr);
    assert.match(rolledBack.stdout + rolledBack.stderr, /rollback: manually requested rollback/);
    const afterRollback = await waitFor('the rollback completed', async () => {
      const service = await inspect('web');
      return service.UpdateStatus?.State === 'rollback_completed' ? service : undefined;
    }, 10_000);
    assert.ok(afterRollback.Spec.TaskTemplate.ContainerSpec.Env?.includes('V=1'));
  });

  it('swarmlet service update waits with progress; swarmlet service rollback puts the previous spec back', async () => {
    const updated = await swarmlet(daemon.socket, ['service', 'update', '--env-add', 'V=3', 'web']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /^web\n/);
    assert.match(updated.stdout, /overall progress: 2 out of 2 tasks/);
    assert.match(updated.stdout, /1\/2: +running/);
    assert.equal((await inspect('web')).UpdateStatus?.State, 'completed');

    const bad = await swarmlet(daemon.socket, ['service', 'update', '--update-max-failure-ratio', '2', 'web']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--update-max-failure-ratio/);

    const rolledBack = await swarmlet(daemon.socket, ['service', 'rollback', 'web']);
    assert.equal(rolledBack.code, 0, rolledBack.stderr);
    const after = await inspect('web');
    assert.equal(after.UpdateStatus?.State, 'rollback_completed');
    assert.deepEqual(after.Spec.TaskTemplate.ContainerSpec.Env, ['V=1'], 'the spec before V=3 (the docker rollback put V=1 back)');
    assert.deepEqual(after.PreviousSpec?.TaskTemplate.ContainerSpec.Env, ['V=3']);
  });
});
