/**
 * What every ContainerRuntime must do, as one suite run against each implementation (the real engine and the
 * in-memory fake). If the fake passes it, tests built on the fake say something true about the real engine.
 *
 * Everything the suite creates carries `com.swarmlet.test=1` and a per-run label, and is force-removed in
 * `after`, also when a test failed.
 */

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import type { ContainerCreateOptions, ContainerEvent, ContainerRuntime } from '../../src/runtime/runtime.ts';

export interface RuntimeUnderTest {
  runtime: ContainerRuntime;
  /** An image the runtime has locally, with `sleep` in it (the fake ignores commands). */
  image: string;
  /** Releases what the maker set up (connections, images); the suite removes its own containers first. */
  cleanup: () => Promise<void>;
  /** Whether the implementation's engine holds network `id` as internal: the engine's own view, outside the interface. */
  networkIsInternal: (id: string) => Promise<boolean>;
}

/** Long enough for a slow engine, short enough that a missing event fails the test instead of hanging it. */
const EVENT_TIMEOUT_MS = 15_000;

/** Records a subscription's events and lets a test await the one it expects. */
function recordEvents(runtime: ContainerRuntime, filters: string[], since?: number) {
  const events: ContainerEvent[] = [];
  const errors: Error[] = [];
  const waiters = new Set<() => void>();
  const dispose = runtime.subscribeEvents(
    filters,
    (event) => {
      events.push(event);
      for (const wake of waiters) wake();
    },
    (err) => errors.push(err),
    { since },
  );
  const waitFor = (what: string, predicate: (e: ContainerEvent) => boolean) =>
    new Promise<ContainerEvent>((resolve, reject) => {
      const check = () => {
        const found = events.find(predicate);
        if (!found) return;
        cleanup();
        resolve(found);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${what} event within ${EVENT_TIMEOUT_MS} ms; saw ${JSON.stringify(events.map((e) => e.action))}, errors ${errors.map((e) => e.message)}`));
      }, EVENT_TIMEOUT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { events, errors, waitFor, dispose };
}

async function rejectsWithCode(promise: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof SwarmletError, `expected a SwarmletError, got ${err}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

export function runtimeContract(name: string, makeRuntime: () => Promise<RuntimeUnderTest>): void {
  describe(`ContainerRuntime contract: ${name}`, () => {
    const run = randomUUID().slice(0, 8);
    const runLabel = `com.swarmlet.test.contract=${run}`;
    let subject: RuntimeUnderTest | undefined;
    let sequence = 0;
    const rt = () => {
      assert.ok(subject, 'the runtime under test was not made');
      return subject.runtime;
    };
    const options = ({ labels, ...overrides }: Partial<ContainerCreateOptions> = {}): ContainerCreateOptions => ({
      name: `swarmlet-contract-${run}-${++sequence}`,
      image: subject!.image,
      labels: { 'com.swarmlet.test': '1', 'com.swarmlet.test.contract': run, ...labels },
      cmd: ['sleep', '60'],
      // With an init, sleep ends on the stop signal at once instead of waiting for SIGKILL.
      init: true,
      stopTimeout: 1,
      ...overrides,
    });

    before(async () => {
      subject = await makeRuntime();
    });

    after(async () => {
      if (!subject) return;
      try {
        for (const c of await subject.runtime.listContainers([runLabel])) await subject.runtime.removeContainer(c.id, { force: true });
      } finally {
        await subject.cleanup();
      }
    });

    it('describes its engine', async () => {
      const info = await rt().info();
      assert.ok(info.NCPU > 0);
      assert.ok(info.MemTotal > 0);
      assert.ok(info.OSType);
      assert.ok(info.Architecture);
      assert.equal(typeof info.MemoryLimit, 'boolean');
      assert.ok(Array.isArray(info.Labels));
    });

    it('inspects an image it has, and answers undefined for one it lacks', async () => {
      const image = await rt().inspectImage(subject!.image);
      assert.ok(image, `${subject!.image} should be present`);
      assert.match(image.id, /^sha256:[0-9a-f]{64}$/);
      assert.ok(image.os && image.architecture);
      assert.ok(image.repoTags.includes(subject!.image));
      // The test image declares no EXPOSE.
      assert.deepEqual(image.exposedPorts, []);
      assert.equal(await rt().inspectImage(`swarmlet-test/absent:${run}`), undefined);
    });

    it('lists the images it holds, with their tags', async () => {
      const listed = await rt().listImages();
      const image = listed.find((entry) => entry.repoTags.includes(subject!.image));
      assert.ok(image, `${subject!.image} should be listed`);
      assert.equal(image.id, (await rt().inspectImage(subject!.image))!.id);
      assert.ok(listed.every((entry) => entry.repoTags.every((tag) => !tag.startsWith('<none>'))));
    });

    it('refuses to create from a missing image with not_found "No such image"', async () => {
      const ref = `swarmlet-test/absent:${run}`;
      await rejectsWithCode(rt().createContainer(options({ image: ref })), 'not_found', new RegExp(`No such image: ${ref}`));
    });

    it('creates a container that inspect and a label listing both see', async () => {
      const opts = options({ labels: { 'com.swarmlet.test.role': 'listed' } });
      const id = await rt().createContainer(opts);
      const details = await rt().inspectContainer(id);
      assert.ok(details);
      assert.equal(details.id, id);
      assert.equal(details.name, opts.name);
      assert.equal(details.image, opts.image);
      assert.equal(details.state, 'created');
      assert.equal(details.running, false);
      assert.equal(details.labels['com.swarmlet.test.role'], 'listed');

      const ids = async (filters: string[]) => (await rt().listContainers(filters)).map((c) => c.id);
      assert.deepEqual(await ids([runLabel, 'com.swarmlet.test.role=listed']), [id]);
      assert.ok((await ids([runLabel, 'com.swarmlet.test.role'])).includes(id));
      assert.deepEqual(await ids([runLabel, 'com.swarmlet.test.role=other']), []);
      const [summary] = await rt().listContainers([runLabel, 'com.swarmlet.test.role=listed']);
      assert.equal(summary.name, opts.name);
      assert.equal(summary.state, 'created');
      assert.equal(summary.labels['com.swarmlet.test.contract'], run);
    });

    it('makes a labelled bridge network, joins a container to it at a fixed address, and removes it once unused', async () => {
      const name = `swarmlet-contract-${run}`;
      const labels = { 'com.swarmlet.test': '1', 'com.swarmlet.test.contract': run };
      // A subnet no other test or engine network of this machine uses.
      const id = await rt().createNetwork({ name, labels, subnet: '10.251.7.0/24', gateway: '10.251.7.1', ipRange: '10.251.7.192/26', bridgeName: `swlc-${run.slice(0, 6)}` });
      try {
        assert.deepEqual((await rt().listNetworks([runLabel])).map((n) => [n.id, n.name]), [[id, name]]);
        assert.equal(await subject!.networkIsInternal(id), false, 'a bridge is not internal unless asked');
        await rejectsWithCode(rt().createNetwork({ name, labels, subnet: '10.251.8.0/24', gateway: '10.251.8.1', ipRange: '10.251.8.192/26', bridgeName: `swld-${run.slice(0, 6)}` }), 'conflict');
        const container = await rt().createContainer(options({ networks: [{ name, address: '10.251.7.9' }], dns: ['10.251.7.1'] }));
        await rt().startContainer(container);
        const details = await rt().inspectContainer(container);
        assert.equal(details?.address, '10.251.7.9');
        await rejectsWithCode(rt().removeNetwork(id), 'conflict');
        await rt().removeContainer(container, { force: true });
      } finally {
        for (const c of await rt().listContainers([runLabel])) await rt().removeContainer(c.id, { force: true });
        await rt().removeNetwork(id);
      }
      assert.deepEqual(await rt().listNetworks([runLabel]), []);
      await rt().removeNetwork(id);
    });

    it('makes an internal bridge network when asked', async () => {
      const name = `swarmlet-contract-${run}-internal`;
      const labels = { 'com.swarmlet.test': '1', 'com.swarmlet.test.contract': run };
      const id = await rt().createNetwork({ name, labels, subnet: '10.251.9.0/24', gateway: '10.251.9.1', ipRange: '10.251.9.192/26', bridgeName: `swli-${run.slice(0, 6)}`, internal: true });
      try {
        assert.equal(await subject!.networkIsInternal(id), true);
        assert.deepEqual((await rt().listNetworks([runLabel])).map((n) => n.name), [name]);
      } finally {
        await rt().removeNetwork(id);
      }
      assert.deepEqual(await rt().listNetworks([runLabel]), []);
    });

    it('starts, stops and removes, each step idempotent', async () => {
      const id = await rt().createContainer(options());
      await rt().startContainer(id);
      const running = await rt().inspectContainer(id);
      assert.ok(running);
      assert.equal(running.running, true);
      assert.equal(running.state, 'running');
      assert.ok(running.pid > 0);
      assert.match(running.address, /^\d+\.\d+\.\d+\.\d+$/, 'a running container has an address on its network');
      assert.ok(Date.parse(running.startedAt) > Date.parse('2020-01-01'));
      await rt().startContainer(id);

      await rt().stopContainer(id, 5);
      const stopped = await rt().inspectContainer(id);
      assert.ok(stopped);
      assert.equal(stopped.running, false);
      assert.equal(stopped.state, 'exited');
      assert.equal(stopped.address, '');
      assert.ok(Date.parse(stopped.finishedAt) >= Date.parse(running.startedAt));
      await rt().stopContainer(id, 5);

      await rt().removeContainer(id);
      assert.equal(await rt().inspectContainer(id), undefined);
      assert.deepEqual((await rt().listContainers([runLabel])).filter((c) => c.id === id), []);
      await rt().removeContainer(id);
      await rt().removeContainer('0'.repeat(64));
    });

    it('refuses to remove a running container unless forced', async () => {
      const id = await rt().createContainer(options());
      await rt().startContainer(id);
      await rejectsWithCode(rt().removeContainer(id), 'conflict');
      await rt().removeContainer(id, { force: true });
      assert.equal(await rt().inspectContainer(id), undefined);
    });

    it('refuses a second container with a name in use', async () => {
      const opts = options();
      await rt().createContainer(opts);
      await rejectsWithCode(rt().createContainer(opts), 'conflict', new RegExp(opts.name));
    });

    it('streams start and die of labelled containers only, and stops streaming when disposed', async () => {
      const since = Date.now() - 1_000;
      const watched = `com.swarmlet.test.events=${run}`;
      const live = recordEvents(rt(), [watched], since);
      const disposedEarly = recordEvents(rt(), [watched], since);
      disposedEarly.dispose();

      const other = await rt().createContainer(options());
      await rt().startContainer(other);
      const id = await rt().createContainer(options({ labels: { 'com.swarmlet.test.events': run } }));
      await rt().startContainer(id);
      const start = await live.waitFor('start', (e) => e.action === 'start' && e.id === id);
      assert.equal(start.labels['com.swarmlet.test.events'], run);
      await rt().stopContainer(id, 5);
      const die = await live.waitFor('die', (e) => e.action === 'die' && e.id === id);
      assert.ok(die.timeNano >= start.timeNano);
      assert.ok(live.events.indexOf(start) < live.events.indexOf(die));
      assert.deepEqual(live.events.filter((e) => e.id !== id), [], 'events of unlabelled containers leaked through the filter');

      // Replay from `since` shows the same history to a late subscriber...
      const late = recordEvents(rt(), [watched], since);
      await late.waitFor('replayed die', (e) => e.action === 'die' && e.id === id);
      late.dispose();
      live.dispose();
      // ...while the disposed one saw nothing and reported no error.
      assert.deepEqual(disposedEarly.events, []);
      assert.deepEqual(disposedEarly.errors, []);
      assert.deepEqual(live.errors, []);
    });
  });
}
