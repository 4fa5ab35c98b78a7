/** The fake passes the runtime contract, and its knobs do what other tests rely on. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import type { ContainerEvent } from '../../src/runtime/runtime.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { runtimeContract } from './contract.ts';

const IMAGE = 'swarmlet-test/busybox:1';

runtimeContract('FakeRuntime', async () => {
  const runtime = new FakeRuntime({ images: [IMAGE] });
  return { runtime, image: IMAGE, cleanup: async () => {}, networkIsInternal: async (id) => runtime.networks.get(id)?.options.internal === true };
});

/** Lets queued event deliveries run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('FakeRuntime knobs', () => {
  const options = (name: string) => ({ name, image: IMAGE, labels: { app: 'x' } });

  it('makes a running container exit with a code, and tells subscribers', async () => {
    const runtime = new FakeRuntime({ images: [IMAGE], clock: () => 1_000 });
    const events: ContainerEvent[] = [];
    runtime.subscribeEvents(['app=x'], (e) => events.push(e), assert.fail);
    const id = await runtime.createContainer(options('a'));
    await runtime.startContainer(id);
    runtime.exitContainer(id, 3, { oom: true });
    await flush();
    assert.deepEqual(events.map((e) => e.action), ['create', 'start', 'oom', 'die']);
    assert.equal(events[0]!.timeNano, 1_000 * 1e6);
    const details = await runtime.inspectContainer(id);
    assert.equal(details?.state, 'exited');
    assert.equal(details?.exitCode, 3);
  });

  it('fails the next create only', async () => {
    const runtime = new FakeRuntime({ images: [IMAGE] });
    runtime.failNextCreate(new SwarmletError('engine_error', 'disk full'));
    await assert.rejects(runtime.createContainer(options('a')), /disk full/);
    assert.ok(await runtime.createContainer(options('a')));
  });

  it('fails the next start, leaving the container behind with the error', async () => {
    const runtime = new FakeRuntime({ images: [IMAGE] });
    const id = await runtime.createContainer(options('a'));
    runtime.failNextStart();
    await assert.rejects(runtime.startContainer(id), (err: unknown) => err instanceof SwarmletError && err.code === 'engine_error');
    const details = await runtime.inspectContainer(id);
    assert.equal(details?.running, false);
    assert.match(details?.error ?? '', /executable file not found/);
    await runtime.startContainer(id);
    assert.equal((await runtime.inspectContainer(id))?.running, true);
  });

  it('goes unreachable: calls fail with engine_unreachable, streams break, state survives', async () => {
    const runtime = new FakeRuntime({ images: [IMAGE] });
    const id = await runtime.createContainer(options('a'));
    const errors: Error[] = [];
    runtime.subscribeEvents([], () => {}, (err) => errors.push(err));
    runtime.setUnreachable(true);
    await assert.rejects(runtime.listContainers([]), (err: unknown) => err instanceof SwarmletError && err.code === 'engine_unreachable');
    await flush();
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /cannot reach the container engine/);
    runtime.setUnreachable(false);
    assert.deepEqual((await runtime.listContainers([])).map((c) => c.id), [id]);
  });

  it('makes the same IDs on every run', async () => {
    const ids = async () => {
      const runtime = new FakeRuntime({ images: [IMAGE] });
      return [await runtime.createContainer(options('a')), await runtime.createContainer(options('b'))];
    };
    const first = await ids();
    assert.deepEqual(await ids(), first);
    assert.notEqual(first[0]!.slice(0, 12), first[1]!.slice(0, 12));
  });
});
