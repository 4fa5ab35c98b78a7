/**
 * `service logs` on a one-node cluster on the real engine: a service that prints known lines, read through the
 * swarmlet socket by swarmlet's CLI and by the stock docker CLI — the same `name.slot.id@node    | line` output,
 * --tail per task, --since, -t, a task's own logs, and -f seeing a new line and letting go of everything it held
 * when the client exits.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs, readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Node, Task } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, swarmletCommand, swarmletEnv, TEST_IMAGE } from '../helpers/daemon.ts';
import { docker, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

/**
 * Prints a line on stderr, then three on stdout, then `late` each time /tmp/go appears. The pause keeps the two
 * pipes' lines in a known order in the engine's log, which --tail depends on.
 */
const SCRIPT = 'echo oops >&2; sleep 1; echo first; echo second; echo third; while :; do if [ -f /tmp/go ]; then rm /tmp/go; echo late; fi; sleep 1; done';

const sorted = (text: string) => text.split('\n').filter(Boolean).sort();

describe('service logs on the real engine', () => {
  let daemon: DaemonHandle;
  let nodeId = '';
  let hostname = '';
  let tasks: Task[] = [];
  /** What each task's lines start with: `talker.SLOT.ID@HOST` padded as docker pads it. */
  const prefix = (task: Task) => `talker.${task.Slot}.${task.ID.slice(0, 12)}@${hostname}    | `;

  before(async () => {
    daemon = await startDaemon();
    // Loopback and a port of its own: another test's daemon may hold the default one.
    const init = await swarmlet(daemon.socket, ['init', '--listen-addr', '127.0.0.1:0', '--advertise-addr', '127.0.0.1']);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await daemon.api<{ Swarm: { NodeID: string } }>('GET', '/info')).body.Swarm.NodeID;
    hostname = (await daemon.api<Node>('GET', `/nodes/${nodeId}`)).body.Description.Hostname;
    const created = await swarmlet(daemon.socket, ['service', 'create', '--detach', '--name', 'talker', '--replicas', '2', TEST_IMAGE, 'sh', '-c', SCRIPT]);
    assert.equal(created.code, 0, created.stderr);
    tasks = await waitFor('two running tasks that printed their lines', async () => {
      const filters = encodeURIComponent(JSON.stringify({ service: ['talker'] }));
      const all = (await daemon.api<Task[]>('GET', `/tasks?filters=${filters}`)).body.filter((t) => t.Status.State === 'running');
      if (all.length !== 2) return undefined;
      const out = await swarmlet(daemon.socket, ['service', 'logs', 'talker']);
      return out.stdout.split('\n').filter((line) => line.endsWith('| third')).length === 2 ? all : undefined;
    });
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('shows every task\'s lines with docker\'s prefix, stdout and stderr apart, in swarmlet\'s CLI and docker\'s', async () => {
    const expectedOut = tasks.flatMap((t) => ['first', 'second', 'third'].map((line) => prefix(t) + line)).sort();
    const expectedErr = tasks.map((t) => `${prefix(t)}oops`).sort();
    const ours = await swarmlet(daemon.socket, ['service', 'logs', 'talker']);
    assert.equal(ours.code, 0, ours.stderr);
    assert.deepEqual(sorted(ours.stdout), expectedOut);
    assert.deepEqual(sorted(ours.stderr), expectedErr);
    const theirs = await docker(['service', 'logs', 'talker'], daemon.socket);
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.deepEqual(sorted(theirs.stdout), expectedOut);
    assert.deepEqual(sorted(theirs.stderr), expectedErr);
    // Each task's own lines keep their order.
    for (const task of tasks) assert.deepEqual(ours.stdout.split('\n').filter((l) => l.startsWith(prefix(task))), ['first', 'second', 'third'].map((l) => prefix(task) + l));
  });

  it('reads one task by its ID, and the raw stream without prefixes', async () => {
    const [task] = tasks;
    for (const run of [swarmlet(daemon.socket, ['service', 'logs', task!.ID]), docker(['service', 'logs', task!.ID], daemon.socket)]) {
      const result = await run;
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.split('\n').filter(Boolean), ['first', 'second', 'third'].map((l) => prefix(task!) + l));
    }
    const raw = await swarmlet(daemon.socket, ['service', 'logs', '--raw', task!.ID]);
    assert.equal(raw.stdout, 'first\nsecond\nthird\n');
  });

  it('applies --tail to each task, --since, and -t', async () => {
    for (const run of [swarmlet(daemon.socket, ['service', 'logs', '--tail', '1', 'talker']), docker(['service', 'logs', '--tail', '1', 'talker'], daemon.socket)]) {
      const result = await run;
      assert.deepEqual(sorted(result.stdout), tasks.map((t) => `${prefix(t)}third`).sort(), result.stderr);
    }
    const recent = await swarmlet(daemon.socket, ['service', 'logs', '--since', '10m', 'talker']);
    assert.equal(sorted(recent.stdout).length, 6);
    const future = await swarmlet(daemon.socket, ['service', 'logs', '--since', String(Math.floor(Date.now() / 1000) + 60), 'talker']);
    assert.equal(future.code, 0, future.stderr);
    assert.equal(future.stdout, '');
    for (const run of [swarmlet(daemon.socket, ['service', 'logs', '-t', 'talker']), docker(['service', 'logs', '-t', 'talker'], daemon.socket)]) {
      const lines = sorted((await run).stdout);
      assert.equal(lines.length, 6);
      for (const line of lines) assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z talker\.\d\.\w{12}@\S+ {4}\| (first|second|third)$/);
    }
  });

  it('follows with -f: a new line arrives, and the daemon lets go of the streams when the client exits', async () => {
    const sockets = () => readdirSync(`/proc/${daemon.process.pid}/fd`).length;
    const baseline = sockets();
    const [file, ...args] = swarmletCommand();
    const follower = spawn(file!, [...args, '-H', `unix://${daemon.socket}`, 'service', 'logs', '-f', 'talker'], { env: swarmletEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    follower.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => follower.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the existing lines', async () => out.split('\n').filter((l) => l.endsWith('| third')).length === 2);
      const [task] = tasks;
      const touched = await docker(['exec', task!.Status.ContainerStatus!.ContainerID!, '/bin/sh', '-c', 'touch /tmp/go']);
      assert.equal(touched.code, 0, touched.stderr);
      await waitFor('the new line', async () => out.includes(`${prefix(task!)}late\n`), 10_000);
      assert.ok(sockets() > baseline, 'the follow holds connections meanwhile');
    } finally {
      follower.kill('SIGINT');
    }
    await exited;
    await waitFor('the daemon to close the follow\'s connections', async () => sockets() <= baseline, 10_000);
  });
});
