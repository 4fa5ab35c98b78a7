/**
 * A one-node cluster on the machine's real Docker engine, driven through the built executable's API and CLI:
 * services become containers with Swarm's names, labels and memory settings; exits are healed; a kill -9 of the
 * daemon — even between creating a container and recording it — is recovered without duplicates.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Service, Task } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { containerIds, docker, inspect, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

const MB = 1024 * 1024;

async function tasksOf(daemon: DaemonHandle, service: string): Promise<Task[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service] }));
  return (await daemon.api<Task[]>('GET', `/tasks?filters=${filters}`)).body;
}

const running = (tasks: Task[]) => tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

function waitRunning(daemon: DaemonHandle, service: string, count: number, timeoutMs = 30_000) {
  return waitFor(`${count} running tasks of ${service}`, async () => {
    const tasks = running(await tasksOf(daemon, service));
    return tasks.length === count ? tasks : undefined;
  }, timeoutMs);
}

function serviceSpec(name: string, replicas: number, extra: Record<string, unknown> = {}) {
  return {
    Name: name,
    TaskTemplate: {
      ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'] },
      RestartPolicy: { Condition: 'any', Delay: 200_000_000 },
      ...extra,
    },
    Mode: { Replicated: { Replicas: replicas } },
  };
}

describe('one-node cluster on the real engine', () => {
  let daemon: DaemonHandle;
  let nodeId: string;

  before(async () => {
    daemon = await startDaemon();
    const init = await swarmlet(daemon.socket, ['init']);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await daemon.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;
    assert.match(init.stdout, new RegExp(nodeId));
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('runs a service as containers with Swarm names, labels and memory settings', async () => {
    const created = await swarmlet(daemon.socket, [
      'service', 'create', '--name', 'back', '--replicas', '3', '--reserve-memory', '64M', '--limit-memory', '64M',
      '--env', 'K=V', '--restart-delay', '200ms', TEST_IMAGE, 'sleep', '3600',
    ]);
    assert.equal(created.code, 0, created.stderr);
    const tasks = await waitRunning(daemon, 'back', 3);
    const containers = await inspect(tasks.map((t) => t.Status.ContainerStatus!.ContainerID!));
    for (const [i, c] of containers.entries()) {
      const task = tasks[i]!;
      assert.equal(c.Name, `/back.${task.Slot}.${task.ID}`);
      assert.equal(c.HostConfig.Memory, 64 * MB);
      assert.equal(c.HostConfig.MemoryReservation, 64 * MB);
      assert.equal(c.Config.Labels['com.docker.swarm.task.id'], task.ID);
      assert.equal(c.Config.Labels['com.docker.swarm.service.name'], 'back');
      assert.equal(c.Config.Labels['com.docker.swarm.node.id'], nodeId);
      assert.ok(c.Config.Env.includes('K=V'));
      assert.deepEqual(c.Config.Cmd, ['sleep', '3600']);
    }
    const ls = await swarmlet(daemon.socket, ['service', 'ls']);
    assert.match(ls.stdout, /^ID\s+NAME\s+MODE\s+REPLICAS\s+IMAGE\s+PORTS/);
    assert.match(ls.stdout, /back\s+replicated\s+3\/3\s+swarmlet-test\/busybox:1/);
  });

  it('scales up and down', async () => {
    const up = await swarmlet(daemon.socket, ['service', 'scale', 'back=5']);
    assert.equal(up.code, 0, up.stderr);
    await waitRunning(daemon, 'back', 5);
    const down = await swarmlet(daemon.socket, ['service', 'scale', 'back=2']);
    assert.equal(down.code, 0, down.stderr);
    await waitRunning(daemon, 'back', 2);
    await waitFor('retired containers to stop', async () => {
      const ps = await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=back`, '--filter', `label=com.docker.swarm.node.id=${nodeId}`]);
      return ps.stdout.trim().split('\n').filter(Boolean).length === 2;
    });
  });

  it('replaces a container that exits', async () => {
    const [victim] = running(await tasksOf(daemon, 'back'));
    await docker(['kill', victim!.Status.ContainerStatus!.ContainerID!]);
    await waitFor('a replacement in the same slot', async () => {
      const tasks = running(await tasksOf(daemon, 'back'));
      return tasks.length === 2 && tasks.some((t) => t.Slot === victim!.Slot && t.ID !== victim!.ID);
    });
    const old = (await daemon.api<Task>('GET', `/tasks/${victim!.ID}`)).body;
    assert.equal(old.Status.State, 'failed');
    assert.match(old.Status.Err ?? '', /non-zero exit \(137\)/);
  });

  it('holds a task at starting until its healthcheck passes, and replaces one the engine finds unhealthy', async () => {
    const ms = 1_000_000;
    const check = (test: string[]) => ({ Healthcheck: { Test: test, Interval: 200 * ms, Timeout: 1_000 * ms, Retries: 1, StartPeriod: 0 } });
    const healthy = await daemon.api('POST', '/services/create', {
      ...serviceSpec('healthy', 1),
      TaskTemplate: { ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'], ...check(['CMD-SHELL', 'test -e /tmp/ready']) } },
    });
    assert.equal(healthy.status, 201);
    const [starting] = await waitFor('a task waiting for its healthcheck', async () => {
      const tasks = await tasksOf(daemon, 'healthy');
      return tasks[0]?.Status.State === 'starting' ? tasks : undefined;
    });
    const touched = await docker(['exec', starting!.Status.ContainerStatus!.ContainerID!, '/bin/sh', '-c', 'touch /tmp/ready']);
    assert.equal(touched.code, 0, touched.stdout + touched.stderr);
    const [ready] = await waitRunning(daemon, 'healthy', 1);
    assert.equal(ready!.ID, starting!.ID, 'the same task, now running');

    const sick = await daemon.api('POST', '/services/create', {
      ...serviceSpec('sick', 1),
      TaskTemplate: {
        ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'], ...check(['CMD-SHELL', 'exit 1']) },
        RestartPolicy: { Condition: 'any', Delay: 200 * ms },
      },
    });
    assert.equal(sick.status, 201);
    const failed = await waitFor('an unhealthy task replaced', async () => {
      const tasks = await tasksOf(daemon, 'sick');
      const ended = tasks.find((t) => t.Status.State === 'failed');
      return ended && tasks.length >= 2 ? ended : undefined;
    });
    assert.equal(failed.Status.Err, 'task: container unhealthy');
    const container = (await inspect([failed.Status.ContainerStatus!.ContainerID!]))[0]!;
    assert.equal(container.State.Running, false, 'the unhealthy container was stopped');
    await daemon.api('DELETE', '/services/healthy');
    await daemon.api('DELETE', '/services/sick');
  });

  it('passes mounts, capabilities and host devices to the container, and rejects a device the node lacks', async () => {
    const dir = await fs.mkdtemp(path.join(daemon.dir, 'bind-'));
    const reply = await daemon.api('POST', '/services/create', {
      ...serviceSpec('gpio', 1),
      TaskTemplate: {
        ContainerSpec: {
          Image: TEST_IMAGE,
          Args: ['sleep', '3600'],
          Mounts: [{ Type: 'bind', Source: dir, Target: '/data', ReadOnly: true }],
          CapabilityAdd: ['CAP_NET_ADMIN'],
          CapabilityDrop: ['CAP_CHOWN'],
          Devices: [{ PathOnHost: '/dev/null', PathInContainer: '/dev/radio0', CgroupPermissions: 'rwm' }],
        },
      },
    });
    assert.equal(reply.status, 201);
    const [task] = await waitRunning(daemon, 'gpio', 1);
    const container = (await inspect([task!.Status.ContainerStatus!.ContainerID!]))[0]!;
    assert.deepEqual(container.HostConfig.Mounts, [{ Type: 'bind', Source: dir, Target: '/data', ReadOnly: true }]);
    assert.deepEqual(container.HostConfig.CapAdd, ['CAP_NET_ADMIN']);
    assert.deepEqual(container.HostConfig.CapDrop, ['CAP_CHOWN']);
    assert.deepEqual(container.HostConfig.Devices, [{ PathOnHost: '/dev/null', PathInContainer: '/dev/radio0', CgroupPermissions: 'rwm' }]);
    const ls = await docker(['exec', container.Id, '/bin/sh', '-c', 'test -c /dev/radio0']);
    assert.equal(ls.code, 0, ls.stderr);

    const missing = await daemon.api('POST', '/services/create', {
      ...serviceSpec('no-radio', 1),
      TaskTemplate: {
        ContainerSpec: { Image: TEST_IMAGE, Args: ['sleep', '3600'], Devices: [{ PathOnHost: '/dev/swarmlet-absent', PathInContainer: '/dev/radio0', CgroupPermissions: 'rwm' }] },
        RestartPolicy: { Condition: 'any', Delay: 10_000_000_000 },
      },
    });
    assert.equal(missing.status, 201);
    const rejected = await waitFor('the task without its device to fail', async () =>
      (await tasksOf(daemon, 'no-radio')).find((t) => t.Status.State === 'rejected' || t.Status.State === 'failed'),
    );
    assert.match(rejected.Status.Err ?? '', /\/dev\/swarmlet-absent/);
    await daemon.api('DELETE', '/services/gpio');
    await daemon.api('DELETE', '/services/no-radio');
  });

  it('keeps a task pending with the reason when its reservation does not fit', async () => {
    const reply = await daemon.api('POST', '/services/create', serviceSpec('huge', 1, { Resources: { Reservations: { MemoryBytes: 64 * 1024 * 1024 * MB } } }));
    assert.equal(reply.status, 201);
    await waitFor('the pending reason', async () => (await tasksOf(daemon, 'huge'))[0]?.Status.Err);
    const ps = await swarmlet(daemon.socket, ['service', 'ps', '--no-trunc', 'huge']);
    assert.match(ps.stdout, /Pending/);
    assert.match(ps.stdout, /no suitable node \(insufficient resources on 1 node\)/);
    await daemon.api('DELETE', '/services/huge');
  });

  it('keeps the task of an image no node holds pending, saying so in service ps, and places it once loaded', async () => {
    const absent = 'swarmlet-test/absent:1';
    const reply = await daemon.api<{ Warnings?: string[] }>('POST', '/services/create', {
      ...serviceSpec('ghost', 1),
      TaskTemplate: { ContainerSpec: { Image: absent, Args: ['sleep', '3600'] }, RestartPolicy: { Delay: 10_000_000_000 } },
    });
    assert.equal(reply.status, 201);
    assert.match(reply.body.Warnings?.[0] ?? '', /not present/);
    await waitFor('the reason', async () => (await tasksOf(daemon, 'ghost'))[0]?.Status.Err);
    const ps = await swarmlet(daemon.socket, ['service', 'ps', '--no-trunc', 'ghost']);
    assert.match(ps.stdout, /Pending/);
    assert.match(ps.stdout, /no suitable node \(image not present on 1 node\)/);
    // Loaded by hand (no registry): the node reports it within seconds and the task runs.
    await docker(['tag', TEST_IMAGE, absent]);
    try {
      await waitRunning(daemon, 'ghost', 1, 20_000);
    } finally {
      await daemon.api('DELETE', '/services/ghost');
      await waitFor('the ghost container gone', async () => (await containerIds(`com.docker.swarm.service.name=ghost`)).length === 0);
      await docker(['rmi', absent]);
    }
  });

  it('refuses a bad spec with 400 and Docker\'s error shape, storing nothing', async () => {
    const before = (await daemon.api<Service[]>('GET', '/services')).body.length;
    const reply = await daemon.api<{ message: string }>('POST', '/services/create', { Name: 'bad', TaskTemplate: { ContainerSpec: { Image: '' } } });
    assert.equal(reply.status, 400);
    assert.match(reply.body.message, /an image is required/);
    const cli = await swarmlet(daemon.socket, ['service', 'create', '--limit-memory', '64X', TEST_IMAGE]);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /invalid memory size "64X"/);
    assert.equal((await daemon.api<Service[]>('GET', '/services')).body.length, before);
  });

  it('removes a service and its containers', async () => {
    await swarmlet(daemon.socket, ['service', 'create', '-d', '--name', 'gone', '--replicas', '2', TEST_IMAGE, 'sleep', '3600']);
    await waitRunning(daemon, 'gone', 2);
    const rm = await swarmlet(daemon.socket, ['service', 'rm', 'gone']);
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(rm.stdout.trim(), 'gone');
    await waitFor('containers removed', async () => (await containerIds('com.docker.swarm.service.name=gone')).length === 0);
    await waitFor('tasks forgotten', async () => (await tasksOf(daemon, 'gone')).length === 0 || undefined);
  });

  it('adopts its containers after kill -9: same IDs, same start times, no duplicates', async () => {
    const beforeTasks = running(await tasksOf(daemon, 'back'));
    assert.equal(beforeTasks.length, 2);
    const [victim, survivor] = beforeTasks;
    const survivorId = survivor!.Status.ContainerStatus!.ContainerID!;
    const [startedBefore] = (await inspect([survivorId])).map((c) => c.State.StartedAt);
    await daemon.kill9();
    // While the daemon is dead one container dies too: its replacement after the restart proves the restarted
    // daemon really looked at the engine, so the survivor's adoption below is a result, not an accident.
    await docker(['kill', victim!.Status.ContainerStatus!.ContainerID!]);
    daemon = await startDaemon({ dir: daemon.dir });
    await waitFor('the dead container\'s slot to be refilled', async () =>
      running(await tasksOf(daemon, 'back')).some((t) => t.Slot === victim!.Slot && t.ID !== victim!.ID),
    );
    const afterTasks = running(await tasksOf(daemon, 'back'));
    const adopted = afterTasks.find((t) => t.Slot === survivor!.Slot)!;
    assert.equal(adopted.ID, survivor!.ID);
    assert.equal(adopted.Status.ContainerStatus!.ContainerID, survivorId);
    assert.deepEqual((await inspect([survivorId])).map((c) => c.State.StartedAt), [startedBefore]);
    const all = await containerIds(`com.docker.swarm.node.id=${nodeId}`);
    const alive = (await inspect(all)).filter((c) => c.State.Running && c.Config.Labels['com.docker.swarm.service.name'] === 'back');
    assert.equal(alive.length, 2);
  });
});

describe('recovery from a crash between creating a container and recording it', () => {
  it('adopts the container instead of creating a second one', async () => {
    let daemon = await startDaemon({ env: { SWARMLET_FAILPOINTS: 'agent-after-create' } });
    let nodeId = '';
    try {
      await swarmlet(daemon.socket, ['init']);
      nodeId = (await daemon.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;
      await daemon.api('POST', '/services/create', serviceSpec('crashy', 1));
      // The failpoint kills the daemon right after the engine created the container.
      await daemon.exited;
      const made = await containerIds(`com.docker.swarm.node.id=${nodeId}`);
      assert.equal(made.length, 1, 'the container was created before the crash');
      // The container's ID appears in the replicated state only once the agent reports it: it must not be there.
      const raftFiles = await fs.readdir(path.join(daemon.dataDir, 'raft'), { recursive: true });
      for (const name of raftFiles) {
        const file = path.join(daemon.dataDir, 'raft', name);
        if ((await fs.stat(file)).isFile()) assert.ok(!(await fs.readFile(file, 'utf8')).includes(made[0]!), `${name} already records the container`);
      }

      daemon = await startDaemon({ dir: daemon.dir });
      const [runningTask] = await waitRunning(daemon, 'crashy', 1);
      assert.equal(runningTask!.Status.ContainerStatus!.ContainerID, made[0]);
      assert.deepEqual(await containerIds(`com.docker.swarm.node.id=${nodeId}`), made);
    } finally {
      await daemon.stop();
      if (nodeId) await removeNodeContainers(nodeId);
      await fs.rm(daemon.dir, { recursive: true, force: true });
    }
  });
});

describe('daemon start-up failures', () => {
  it('names the engine socket and the fix when the engine does not answer', async () => {
    const daemon = await startDaemon({ args: ['--engine', 'unix:///run/swarmlet-test-no-such-engine.sock'], waitReady: false });
    const code = await daemon.exited;
    assert.notEqual(code, 0);
    const lines = daemon.logs().trim().split('\n');
    assert.equal(lines.length, 1, daemon.logs());
    assert.match(lines[0]!, /unix:\/\/\/run\/swarmlet-test-no-such-engine\.sock/);
    assert.match(lines[0]!, /--engine/);
    await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('refuses a corrupt state file, naming it and the way to recover, and leaves it untouched', async () => {
    const first = await startDaemon();
    await first.stop();
    const file = path.join(first.dataDir, 'state.json');
    const good = await fs.readFile(file, 'utf8');
    await fs.writeFile(file, good.slice(0, 40));
    const second = await startDaemon({ dir: first.dir, waitReady: false });
    assert.notEqual(await second.exited, 0);
    assert.match(second.logs(), new RegExp(`${file.replace(/[/.]/g, '\\$&')} is damaged`));
    assert.match(second.logs(), /move it away/);
    assert.equal(await fs.readFile(file, 'utf8'), good.slice(0, 40));
    await fs.rm(first.dir, { recursive: true, force: true });
  });
});
