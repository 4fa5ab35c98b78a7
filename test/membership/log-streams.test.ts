/**
 * Streams between nodes on loopback with real sockets: PeerNetwork's bulk-channel streams (a request names the
 * stream, the handler owns the channel, sendBytes pauses a sender until drain), and the task log streams built on
 * them — a container that is not that node's task is refused, a slow consumer pauses the node's engine reads, a
 * consumer that goes away stops them, and a node that is not there is reported instead of waited for.
 */

import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { LABEL } from '../../src/agent/labels.ts';
import { encodeFrame, FrameParser, STREAM } from '../../src/cluster/log-frames.ts';
import { LogStreams, type TaskLogEvents } from '../../src/cluster/log-streams.ts';
import { PeerNetwork } from '../../src/cluster/peers.ts';
import type { ContainerLogEngine, ContainerLogOptions } from '../../src/cluster/task-log-reader.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { LoopbackPeers, type TestNode } from '../helpers/loopback-peers.ts';

const loopback = new LoopbackPeers('manager', 'worker');
const [manager, worker] = loopback.nodes as [TestNode, TestNode];
const { networks } = loopback;
const network = (self: TestNode) => loopback.network(self);

after(() => loopback.stop());

/** An engine whose containers' logs are streams the test writes to, recording what was asked and aborted. */
function fakeEngine(nodeId: string) {
  const labels = new Map<string, Record<string, string>>();
  const streams = new Map<string, PassThrough>();
  const aborted: string[] = [];
  const asked: Array<{ containerId: string; options: ContainerLogOptions }> = [];
  const engine: ContainerLogEngine = {
    async labels(containerId) {
      return labels.get(containerId);
    },
    async logs(containerId, options, signal): Promise<Readable> {
      asked.push({ containerId, options });
      const stream = new PassThrough();
      streams.set(containerId, stream);
      signal.addEventListener('abort', () => aborted.push(containerId));
      return stream;
    },
  };
  const task = (taskId: string, containerId: string, onNode = nodeId) =>
    labels.set(containerId, { [LABEL.managed]: '1', [LABEL.nodeId]: onNode, [LABEL.taskId]: taskId });
  return { engine, streams, aborted, asked, task };
}

/** Records a log stream's events; `frames` parses each target's bytes. */
function recorder() {
  const parsers = new Map<number, FrameParser>();
  const frames: Array<[number, string]> = [];
  const failures: Array<[number, string]> = [];
  let ended!: () => void;
  const end = new Promise<void>((resolve) => (ended = resolve));
  const events: TaskLogEvents = {
    data(index, bytes) {
      const parser = parsers.get(index) ?? new FrameParser();
      parsers.set(index, parser);
      for (const frame of parser.push(bytes)) frames.push([index, Buffer.from(frame.payload).toString()]);
    },
    failed: (index, message) => failures.push([index, message]),
    end: () => ended(),
  };
  return { events, frames, failures, end };
}

async function until(what: string, check: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const OPTIONS: ContainerLogOptions = { stdout: true, stderr: true, follow: true, timestamps: false, tail: '5' };

describe('peer streams on bulk channels', () => {
  it('carries a stream request to its handler, its reply back, and bytes with backpressure until drain', async () => {
    const a = await network(manager);
    const b = await network(worker);
    let falseAfter = 0;
    b.serveStreams('flood', (request, channel) => {
      const piece = Buffer.alloc(64 * 1024, 7);
      void (async () => {
        let sent = 0;
        while (channel.sendBytes(piece)) sent++;
        falseAfter = sent + 1;
        await new Promise<void>((resolve) => channel.onDrain(resolve));
        channel.sendBytes(Buffer.from('last'));
        channel.send({ type: 'done', pieces: falseAfter + 1 });
      })();
      return { accepted: request.n };
    });
    const { channel, reply } = await a.openStream('worker', { type: 'flood', n: 42 }, 2_000);
    assert.deepEqual(reply, { accepted: 42 });
    assert.equal(channel.kind, 'bulk');
    let pieces = 0;
    let last = '';
    channel.onBytes((bytes) => {
      pieces++;
      last = Buffer.from(bytes).toString();
    });
    const message = await new Promise<{ pieces: number }>((resolve) => channel.onMessage((m) => resolve(m as { pieces: number })));
    await until('every piece', () => pieces === message.pieces);
    assert.ok(falseAfter > 1 && falseAfter <= 20, `sendBytes answered false after ${falseAfter} pieces of 64 KiB (high-water mark 1 MiB)`);
    assert.equal(last, 'last');
    channel.close();
    assert.ok(a.isConnected('worker') === false, 'a stream is not a control channel');
  });

  it('refuses an unknown stream type with a message, leaving nothing open', async () => {
    const a = networks[0]!;
    await assert.rejects(a.openStream('worker', { type: 'no-such-stream' }, 2_000), /serves no stream of type "no-such-stream"/);
  });
});

describe('task log streams', () => {
  it('streams a task of the node, and refuses a container that is not its task', async () => {
    const [a, b] = networks as [PeerNetwork, PeerNetwork];
    const remote = fakeEngine('worker');
    remote.task('t1', 'c1');
    remote.task('t2', 'c2', 'someone-else');
    new LogStreams({ selfId: 'worker', engine: remote.engine, peers: () => b, log: silentLogger }).serve(b);
    const streams = new LogStreams({ selfId: 'manager', engine: null, peers: () => a, log: silentLogger });
    const seen = recorder();
    const stream = streams.open('worker', [{ taskId: 't1', containerId: 'c1' }, { taskId: 't2', containerId: 'c2' }, { taskId: 't3', containerId: 'gone' }], OPTIONS, seen.events);
    await until('the engine asked', () => remote.streams.has('c1'));
    assert.deepEqual(remote.asked, [{ containerId: 'c1', options: OPTIONS }], 'only the task of this node is read');
    const c1 = remote.streams.get('c1')!;
    c1.write(encodeFrame(STREAM.stdout, 'one\n'));
    c1.write(Buffer.concat([encodeFrame(STREAM.stderr, 'two\n'), encodeFrame(STREAM.stdout, 'thr')]).subarray(0, 15));
    c1.write(Buffer.concat([encodeFrame(STREAM.stderr, 'two\n'), encodeFrame(STREAM.stdout, 'three\n')]).subarray(15));
    await until('three lines', () => seen.frames.length === 3);
    assert.deepEqual(seen.frames, [[0, 'one\n'], [0, 'two\n'], [0, 'three\n']]);
    assert.equal(seen.failures.length, 1);
    assert.match(seen.failures[0]![1], /container c2 is not task t2 on node worker/);
    assert.equal(seen.failures[0]![0], 1);

    // A slow consumer pauses the node's engine read; resuming lets it go on.
    stream.pause();
    await until('the engine stream paused', () => c1.isPaused());
    stream.resume();
    await until('the engine stream resumed', () => !c1.isPaused());

    c1.end();
    await seen.end;
    assert.deepEqual(seen.failures.map(([index]) => index), [1], 'a removed container is over, not an error');
  });

  it('stops the node reading when the consumer goes away', async () => {
    const [a, b] = networks as [PeerNetwork, PeerNetwork];
    const remote = fakeEngine('worker');
    remote.task('t1', 'c1');
    new LogStreams({ selfId: 'worker', engine: remote.engine, peers: () => b, log: silentLogger }).serve(b);
    const streams = new LogStreams({ selfId: 'manager', engine: null, peers: () => a, log: silentLogger });
    const seen = recorder();
    const stream = streams.open('worker', [{ taskId: 't1', containerId: 'c1' }], OPTIONS, seen.events);
    await until('the engine asked', () => remote.streams.has('c1'));
    remote.streams.get('c1')!.write(encodeFrame(STREAM.stdout, 'hello\n'));
    await until('a line', () => seen.frames.length === 1);
    stream.close();
    await until('the engine read aborted', () => remote.aborted.includes('c1'));
    assert.ok(remote.streams.get('c1')!.destroyed);
  });

  it('reports every task of a node that does not answer, within the open deadline', async () => {
    const streams = new LogStreams({ selfId: 'manager', engine: null, peers: () => networks[0]!, log: silentLogger });
    const seen = recorder();
    const started = Date.now();
    streams.open('ghost', [{ taskId: 't1', containerId: 'c1' }, { taskId: 't2', containerId: 'c2' }], OPTIONS, seen.events);
    await seen.end;
    assert.ok(Date.now() - started < 8_000);
    assert.deepEqual(seen.failures.map(([index]) => index), [0, 1]);
    assert.match(seen.failures[0]![1], /node ghost did not serve its logs/);
  });

  it('reads its own tasks straight from its engine', async () => {
    const local = fakeEngine('manager');
    local.task('t9', 'c9');
    const streams = new LogStreams({ selfId: 'manager', engine: local.engine, peers: () => null, log: silentLogger });
    const seen = recorder();
    streams.open('manager', [{ taskId: 't9', containerId: 'c9' }], { ...OPTIONS, follow: false }, seen.events);
    await until('the engine asked', () => local.streams.has('c9'));
    local.streams.get('c9')!.end(encodeFrame(STREAM.stdout, 'mine\n'));
    await seen.end;
    assert.deepEqual(seen.frames, [[0, 'mine\n']]);
  });
});
