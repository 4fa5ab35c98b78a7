/**
 * GET /services/{id}/logs's gathering without sockets: the query read as Docker's daemon reads it, every node's
 * tasks merged into one multiplexed stream with each line's task context, a node that is down or fails reported
 * on stderr in its tasks' context, backpressure pausing the node streams, and follow closing them all.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseLogQuery } from '../../src/api/routes/logs.ts';
import type { Task } from '../../src/api/types.ts';
import { encodeFrame, FrameParser, STREAM } from '../../src/cluster/log-frames.ts';
import { LogGather } from '../../src/cluster/log-gather.ts';
import type { TaskLogEvents, TaskLogOpener, TaskLogTarget } from '../../src/cluster/log-streams.ts';

function task(id: string, nodeId: string, container = `c-${id}`): Task {
  return {
    ID: id,
    Version: { Index: 1 },
    CreatedAt: '2026-11-27T03:00:00Z',
    UpdatedAt: '2026-11-27T03:00:00Z',
    Spec: { ContainerSpec: { Image: 'img' } },
    ServiceID: 'svc',
    Slot: 1,
    NodeID: nodeId,
    Status: { Timestamp: '2026-11-27T03:00:00Z', State: 'running', Message: 'started', ContainerStatus: { ContainerID: container } },
    DesiredState: 'running',
  };
}

/** An opener whose node streams the test drives by node ID. */
function fakeOpener() {
  const opened = new Map<string, { targets: readonly TaskLogTarget[]; events: TaskLogEvents; paused: boolean; closed: boolean; tail?: string }>();
  const opener: TaskLogOpener = {
    open(nodeId, targets, options, events) {
      const entry = { targets, events, paused: false, closed: false, tail: options.tail };
      opened.set(nodeId, entry);
      return { pause: () => (entry.paused = true), resume: () => (entry.paused = false), close: () => (entry.closed = true) };
    },
  };
  return { opener, opened };
}

function output(accept = () => true) {
  const parser = new FrameParser();
  const lines: Array<[number, string]> = [];
  let ended = false;
  return {
    lines,
    ended: () => ended,
    sink: {
      write(bytes: Uint8Array) {
        for (const frame of parser.push(bytes)) lines.push([frame.stream, Buffer.from(frame.payload).toString()]);
        return accept();
      },
      end: () => (ended = true),
    },
  };
}

const OPTIONS = { stdout: true, stderr: true, follow: false, timestamps: false, tail: '10' };
const ctx = (taskId: string, nodeId: string) => `com.docker.swarm.node.id=${nodeId},com.docker.swarm.service.id=svc,com.docker.swarm.task.id=${taskId}`;

describe('reading the logs query', () => {
  it('takes Docker\'s booleans, a tail and a since, and refuses no stream at all', () => {
    const { options, details } = parseLogQuery(new URLSearchParams('stdout=1&stderr=true&follow=0&details=1&tail=-1&since=1700000000.5'));
    assert.deepEqual(options, { stdout: true, stderr: true, follow: false, timestamps: false, since: '1700000000.5', tail: 'all' });
    assert.equal(details, true);
    assert.throws(() => parseLogQuery(new URLSearchParams('stdout=0')), /you must choose at least one stream/);
    assert.throws(() => parseLogQuery(new URLSearchParams('stdout=1&since=10m')), /not a Unix timestamp/);
    assert.throws(() => parseLogQuery(new URLSearchParams('stdout=1&tail=many')), /"tail"/);
  });
});

describe('gathering a service\'s logs', () => {
  it('merges every node\'s tasks with their context, and ends when every node stream has', () => {
    const { opener, opened } = fakeOpener();
    const out = output();
    const gather = new LogGather(opener, { options: OPTIONS, details: true, mux: true }, out.sink);
    gather.add([task('t1', 'n1'), task('t2', 'n2'), task('t3', 'n1'), { ...task('t4', 'n3'), Status: { ...task('t4', 'n3').Status, ContainerStatus: {} } }], () => undefined);
    gather.seal();
    assert.deepEqual([...opened.keys()], ['n1', 'n2'], 'one stream per node; a task without a container is not asked for');
    assert.deepEqual(opened.get('n1')!.targets, [{ taskId: 't1', containerId: 'c-t1' }, { taskId: 't3', containerId: 'c-t3' }]);
    const frames = Buffer.concat([encodeFrame(STREAM.stdout, 'hello\n'), encodeFrame(STREAM.stderr, 'oops\n')]);
    opened.get('n1')!.events.data(1, frames.subarray(0, 5));
    opened.get('n2')!.events.data(0, encodeFrame(STREAM.stdout, 'two\n'));
    opened.get('n1')!.events.data(1, frames.subarray(5));
    opened.get('n1')!.events.end();
    assert.equal(out.ended(), false);
    opened.get('n2')!.events.end();
    assert.equal(out.ended(), true);
    assert.deepEqual(out.lines, [
      [STREAM.stdout, `${ctx('t2', 'n2')} two\n`],
      [STREAM.stdout, `${ctx('t3', 'n1')} hello\n`],
      [STREAM.stderr, `${ctx('t3', 'n1')} oops\n`],
    ]);
  });

  it('reports the tasks of a node that is down or failed on stderr in their context, with a timestamp when asked', () => {
    const { opener, opened } = fakeOpener();
    const out = output();
    const gather = new LogGather(opener, { options: { ...OPTIONS, timestamps: true }, details: true, mux: true }, out.sink, () => Date.UTC(2026, 10, 27, 3));
    gather.add([task('t1', 'down-node'), task('t2', 'n2')], (nodeId) => (nodeId === 'down-node' ? 'node pi-9 is down' : undefined));
    gather.seal();
    opened.get('n2')!.events.failed(0, 'node n2 did not serve its logs: timeout');
    opened.get('n2')!.events.end();
    assert.deepEqual(out.lines, [
      [STREAM.stderr, `2026-11-27T03:00:00.000000000Z ${ctx('t1', 'down-node')} swarmlet: node pi-9 is down\n`],
      [STREAM.stderr, `2026-11-27T03:00:00.000000000Z ${ctx('t2', 'n2')} swarmlet: node n2 did not serve its logs: timeout\n`],
    ]);
    assert.equal(out.ended(), true);
  });

  it('pauses every node stream while the output is full, resumes on drain, and closes them all when following ends', () => {
    const { opener, opened } = fakeOpener();
    let full = false;
    const out = output(() => !full);
    const gather = new LogGather(opener, { options: { ...OPTIONS, follow: true }, details: false, mux: true }, out.sink);
    gather.add([task('t1', 'n1'), task('t2', 'n2')], () => undefined);
    full = true;
    opened.get('n1')!.events.data(0, encodeFrame(STREAM.stdout, 'a\n'));
    assert.ok(opened.get('n1')!.paused && opened.get('n2')!.paused);
    full = false;
    gather.drained();
    assert.ok(!opened.get('n1')!.paused && !opened.get('n2')!.paused);
    // A task that gets a container later joins, read from its start.
    gather.add([task('t1', 'n1'), task('t2', 'n2'), task('t5', 'n3')], () => undefined);
    assert.equal(opened.get('n3')!.tail, 'all');
    assert.equal(out.ended(), false, 'a followed stream does not end on its own');
    gather.close();
    assert.ok([...opened.values()].every((entry) => entry.closed));
    assert.deepEqual(out.lines, [[STREAM.stdout, 'a\n']]);
  });
});
