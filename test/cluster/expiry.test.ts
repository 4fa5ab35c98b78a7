/**
 * Certificate expiry on real hosts: a cluster made with a short `--cert-expiry` keeps its running nodes' certificates
 * fresh, while a worker switched off for longer than the lifetime comes back with an expired one. The managers refuse
 * it — with one log line naming the node, its address and the reason — and go on serving; the worker says what to do.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byHost, ClusterClient, sleep, until } from './cluster-client.ts';
import type { Harness } from './harness.ts';

/** Long enough for a join and a renewal on a busy machine, short enough to wait out in a test. */
const EXPIRY_S = 20;

let harness: Harness;
const cluster = new ClusterClient();
const cli = (name: string, args: string[]) => cluster.cli(name, args);

describe('certificate expiry on real hosts', { timeout: 300_000 }, () => {
  before(async () => {
    harness = await cluster.startHosts(2);
  });

  after(async () => {
    await harness?.stop();
  });

  it('renews the certificates of running nodes, and refuses a worker that was off past its expiry', async () => {
    await cli('h1', ['init', '--cert-expiry', `${EXPIRY_S}s`]);
    const token = (await cli('h1', ['join-token', '-q', 'worker'])).trim();
    await cli('h2', ['join', '--token', token, harness.host('h1').address]);
    await until('h2 ready', async () => byHost(await cluster.nodes('h1'), 'h2')?.Status.State === 'ready', 15_000);

    // While both run, renewals at two thirds of the lifetime keep them in: past one whole lifetime, h2 is still there.
    await sleep((EXPIRY_S + 5) * 1000);
    assert.equal(byHost(await cluster.nodes('h1'), 'h2')?.Status.State, 'ready');
    assert.match(cluster.daemon('h2').logs(), /certificate renewed/);

    // Switched off past its certificate's expiry, h2 comes back and is refused.
    await cluster.daemon('h2').stop();
    await until('h2 down', async () => byHost(await cluster.nodes('h1'), 'h2')?.Status.State === 'down', 15_000);
    await sleep((EXPIRY_S + 2) * 1000);
    await cluster.daemon('h2').start();
    await until('the manager refusing h2 for its expired certificate', async () => /refused .*connection from 10\.77\.0\.12.*expired/.test(cluster.daemon('h1').logs()), 20_000);
    await until('h2 saying it must rejoin', async () => /certificate expired.*swarmlet leave --force/s.test(cluster.daemon('h2').logs()), 20_000);
    assert.equal(byHost(await cluster.nodes('h1'), 'h2')?.Status.State, 'down', 'an expired node does not come back');
    // The manager serves on.
    await cli('h1', ['service', 'create', '--detach', '--name', 'still', 'swarmlet-test/busybox:1', 'sleep', '1000']);
    await until('the service running on h1', async () => (await cluster.tasks('h1')).some((t) => t.Status.State === 'running'), 30_000);
  });
});
