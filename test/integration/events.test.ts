/**
 * `swarmlet events` and the stock `docker events` on a one-node cluster on the real engine: a service's creation,
 * its task reaching running, a scale, a node update and the removal stream live; `--since` replays them; the
 * stream ends at `--until`; clients that leave release what the daemon held for them.
 */

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, swarmletCommand, swarmletEnv, TEST_IMAGE } from '../helpers/daemon.ts';
import { docker, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

/** A `swarmlet events` left running, as a user watching a terminal would. */
interface Watcher {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function watch(socket: string, args: string[]): Watcher {
  const [file, ...prefix] = swarmletCommand();
  const child = spawn(file!, [...prefix, '-H', `unix://${socket}`, 'events', ...args], { env: swarmletEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Open sockets of a process: what a stream that was not released would keep. */
async function openSockets(pid: number): Promise<number> {
  let count = 0;
  for (const fd of await fs.readdir(`/proc/${pid}/fd`)) {
    const target = await fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith('socket:')) count += 1;
  }
  return count;
}

const seconds = (ms: number) => (ms / 1000).toFixed(3);

describe('cluster events on the real engine', () => {
  let daemon: DaemonHandle;
  let nodeId = '';
  let serviceId = '';
  let started = 0;
  let finished = 0;

  before(async () => {
    daemon = await startDaemon();
    const init = await swarmlet(daemon.socket, ['init']);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await daemon.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('streams a service\'s life live: create, tasks running, scale, node update, remove', async () => {
    started = Date.now() - 1000;
    const live = watch(daemon.socket, ['--filter', 'scope=swarm']);
    try {
      // The stream is open once the daemon has answered; a change made before would be missed by a live-only client.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const created = await swarmlet(daemon.socket, ['service', 'create', '-d', '--name', 'ev', '--restart-delay', '200ms', TEST_IMAGE, 'sleep', '3600']);
      assert.equal(created.code, 0, created.stderr);
      serviceId = created.stdout.trim();
      const runningTasks = async (count: number) =>
        waitFor(`${count} running tasks of ev`, async () => {
          const filters = encodeURIComponent(JSON.stringify({ service: ['ev'] }));
          const tasks = (await daemon.api<Task[]>('GET', `/tasks?filters=${filters}`)).body.filter((t) => t.Status.State === 'running');
          return tasks.length === count ? tasks : undefined;
        });
      await runningTasks(1);
      assert.equal((await swarmlet(daemon.socket, ['service', 'scale', '-d', 'ev=2'])).code, 0);
      await runningTasks(2);
      assert.equal((await swarmlet(daemon.socket, ['node', 'update', '--availability', 'pause', nodeId])).code, 0);
      assert.equal((await swarmlet(daemon.socket, ['node', 'update', '--availability', 'active', nodeId])).code, 0);
      assert.equal((await swarmlet(daemon.socket, ['service', 'rm', 'ev'])).code, 0);
      await waitFor('the removal in the live stream', async () => live.output().includes(`service remove ${serviceId}`), 10_000);
      finished = Date.now() + 1000;

      const out = live.output();
      const line = (pattern: RegExp) => assert.match(out, pattern, out);
      const stamp = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d)`;
      line(new RegExp(`^${stamp} service create ${serviceId} \\(name=ev\\)$`, 'm'));
      line(new RegExp(`^${stamp} task create \\w+ \\(name=ev\\.1, (?:node\\.id=${nodeId}, )?service\\.id=${serviceId}, service\\.name=ev, slot=1\\)$`, 'm'));
      line(new RegExp(`^${stamp} task update \\w+ \\(.*name=ev\\.1, node\\.id=${nodeId}, .*state\\.new=running, state\\.old=\\w+\\)$`, 'm'));
      line(new RegExp(`^${stamp} service update ${serviceId} \\(name=ev, replicas\\.new=2, replicas\\.old=1\\)$`, 'm'));
      line(new RegExp(`^${stamp} task update \\w+ \\(.*name=ev\\.2, .*state\\.new=running`, 'm'));
      line(new RegExp(`^${stamp} node update ${nodeId} \\(availability\\.new=pause, availability\\.old=active, name=\\S+\\)$`, 'm'));
      line(new RegExp(`^${stamp} service remove ${serviceId} \\(name=ev\\)$`, 'm'));
      assert.doesNotMatch(out, / container /, 'scope=swarm shows no engine events');
    } finally {
      live.child.kill('SIGTERM');
      await live.exited;
    }
  });

  it('--since replays the history and --until ends the stream; docker events prints the same lines', async () => {
    const args = ['--filter', 'scope=swarm', '--since', seconds(started), '--until', seconds(finished)];
    const replay = await swarmlet(daemon.socket, ['events', ...args]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, new RegExp(`service create ${serviceId} \\(name=ev\\)`));
    assert.match(replay.stdout, /replicas\.new=2, replicas\.old=1/);
    assert.match(replay.stdout, new RegExp(`service remove ${serviceId}`));

    const stock = await docker(['events', ...args], daemon.socket);
    assert.equal(stock.code, 0, stock.stderr);
    assert.equal(stock.stdout, replay.stdout, 'the stock docker CLI reads the same stream');

    const json = await swarmlet(daemon.socket, ['events', ...args, '--filter', 'type=service', '--filter', 'event=update', '--format', 'json']);
    const scaled = json.stdout.trim().split('\n').map((text) => JSON.parse(text));
    assert.deepEqual(scaled.map((e) => [e.Type, e.Action, e.scope, e.Actor.Attributes['replicas.new']]), [['service', 'update', 'swarm', '2']]);
  });

  it('a live stream ends by itself at --until', async () => {
    const begun = Date.now();
    const result = await swarmlet(daemon.socket, ['events', '--filter', 'scope=swarm', '--until', seconds(Date.now() + 1500)]);
    assert.equal(result.code, 0, result.stderr);
    const took = Date.now() - begun;
    assert.ok(took >= 1000 && took < 10_000, `ended after ${took} ms`);
  });

  it('clients that go away leave nothing open in the daemon', async () => {
    const pid = daemon.process.pid!;
    const baseline = await openSockets(pid);
    // The default scope: each client holds its connection, a subscription and a stream from the engine (the
    // daemon's own pooled engine connections come and go meanwhile, hence the margins).
    const watchers = Array.from({ length: 4 }, () => watch(daemon.socket, []));
    try {
      await waitFor('the clients and their engine streams', async () => (await openSockets(pid)) >= baseline + 6, 15_000);
    } finally {
      for (const watcher of watchers) watcher.child.kill('SIGKILL');
      await Promise.all(watchers.map((watcher) => watcher.exited));
    }
    await waitFor('the daemon to release them', async () => (await openSockets(pid)) <= baseline + 1, 10_000);
    // And the cluster still streams to the next client.
    const after = await swarmlet(daemon.socket, ['events', '--filter', 'scope=swarm', '--since', seconds(started), '--until', seconds(finished), '--filter', 'event=create', '--filter', 'type=service']);
    assert.equal(after.stdout.trim().split('\n').length, 1);
  });
});
