/**
 * The arm64 executable does the real job, not just --version: under qemu-user it runs a daemon against this
 * machine's engine, creates a one-node cluster and runs a service — what a Raspberry Pi owner does first.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { Task } from '../../src/api/types.ts';
import { ARM64_COMMAND, type DaemonHandle, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { inspect, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

describe('arm64 executable under qemu', () => {
  let daemon: DaemonHandle | undefined;
  let nodeId = '';

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('runs init and a service', async (t) => {
    const started = Date.now();
    // Emulation makes start-up several times slower than native; the budget is generous on purpose.
    daemon = await startDaemon({ command: ARM64_COMMAND, readyTimeoutMs: 60_000 });
    t.diagnostic(`arm64 daemon answered after ${Date.now() - started} ms under qemu`);

    const init = await swarmlet(daemon.socket, ['init'], ARM64_COMMAND);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await daemon.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;

    const created = await swarmlet(daemon.socket, ['service', 'create', '-d', '--name', 'pi', '--replicas', '2', '--limit-memory', '32M', TEST_IMAGE, 'sleep', '3600'], ARM64_COMMAND);
    assert.equal(created.code, 0, created.stderr);
    const filters = encodeURIComponent(JSON.stringify({ service: ['pi'] }));
    const tasks = await waitFor('2 running tasks', async () => {
      const running = (await daemon!.api<Task[]>('GET', `/tasks?filters=${filters}`)).body.filter((task) => task.Status.State === 'running');
      return running.length === 2 ? running : undefined;
    }, 60_000);
    const containers = await inspect(tasks.map((task) => task.Status.ContainerStatus!.ContainerID!));
    assert.ok(containers.every((c) => c.State.Running && c.HostConfig.Memory === 32 * 1024 * 1024));

    const ls = await swarmlet(daemon.socket, ['service', 'ls'], ARM64_COMMAND);
    assert.match(ls.stdout, /pi\s+replicated\s+2\/2/);
  });
});
