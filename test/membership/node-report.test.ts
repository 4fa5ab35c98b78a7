/**
 * A node's description reaches the cluster: read from the engine (images with their platforms, memory limits),
 * sent when it changed, checked by the leader, recorded without touching the node's spec or status.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeDescription } from '../../src/api/types.ts';
import { NodeReporter, parseNodeDescription } from '../../src/cluster/node-report.ts';
import { NodeDescriber } from '../../src/daemon/node-description.ts';
import { LocalDispatcher } from '../../src/manager/dispatcher.ts';
import type { Proposer } from '../../src/manager/proposer.ts';
import type { Command } from '../../src/manager/state/commands.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { FakeRuntime } from '../fakes/fake-runtime.ts';
import { clusterWith, iso, node, T0 } from '../helpers/fixtures.ts';

const base = (): NodeDescription => structuredClone(node('n1').Description);

describe('node description', () => {
  it('lists the engine\'s images sorted, with platforms read once per image, and whether memory limits hold', async () => {
    const runtime = new FakeRuntime({ info: { MemoryLimit: false } });
    const arm = runtime.addImage('app:arm', { architecture: 'arm', variant: 'v7' });
    const amd = runtime.addImage('app:amd');
    let inspects = 0;
    const inspect = runtime.inspectImage.bind(runtime);
    runtime.inspectImage = (ref) => (inspects++, inspect(ref));
    const describer = new NodeDescriber(runtime, { hostname: 'pi-1' });

    const first = await describer.describe();
    assert.equal(first.Hostname, 'pi-1');
    assert.equal(first.MemoryLimit, false);
    assert.deepEqual(first.Images!.map((image) => image.ID), [arm.id, amd.id].sort());
    assert.deepEqual(first.Images!.find((image) => image.ID === arm.id)!.Platform, { OS: 'linux', Architecture: 'arm', Variant: 'v7' });
    assert.deepEqual(first.Images!.find((image) => image.ID === amd.id)!.Platform, { OS: 'linux', Architecture: 'amd64' });
    assert.equal(inspects, 2);

    assert.deepEqual(await describer.describe(), first, 'an unchanged engine describes itself the same');
    assert.equal(inspects, 2, 'platforms are not read again');
    runtime.removeImage('app:arm');
    assert.deepEqual((await describer.describe()).Images!.map((image) => image.RepoTags), [['app:amd']]);
  });

  it('refuses a description of the wrong shape, naming the field', () => {
    assert.deepEqual(parseNodeDescription(base()), base());
    const withImages = { ...base(), Images: [{ ID: 'sha256:1', RepoTags: ['a:1'], RepoDigests: [], Platform: { OS: 'linux', Architecture: 'arm64' } }], MemoryLimit: true };
    assert.deepEqual(parseNodeDescription(withImages), withImages);
    assert.throws(() => parseNodeDescription(undefined), /invalid node description/);
    assert.throws(() => parseNodeDescription({ ...base(), Resources: { NanoCPUs: -1, MemoryBytes: 1 } }), /invalid node description at Resources\.NanoCPUs/);
    assert.throws(() => parseNodeDescription({ ...base(), Images: [{ ID: 7 }] }), /at Images\.0\.ID/);
    assert.throws(() => parseNodeDescription({ ...base(), Hostname: 'x'.repeat(300) }), /at Hostname/);
  });

  it('sends a description when it changed, and again after a failed delivery', async () => {
    let current = base();
    const sent: NodeDescription[] = [];
    let fail = false;
    const reporter = new NodeReporter({
      describe: async () => structuredClone(current),
      send: async (description) => {
        if (fail) throw new Error('no leader');
        sent.push(description);
      },
      log: silentLogger,
    });
    await reporter.check();
    await reporter.check();
    assert.equal(sent.length, 1, 'unchanged: not sent again');
    current = { ...current, MemoryLimit: true };
    fail = true;
    await reporter.check();
    assert.equal(sent.length, 1);
    fail = false;
    await reporter.check();
    assert.equal(sent.length, 2, 'sent once the leader answers');
    assert.equal(sent[1]!.MemoryLimit, true);
    reporter.resend();
    await reporter.check();
    assert.equal(sent.length, 3, 'resend sends the same description again');
  });

  it('is recorded without touching the node\'s spec version or status, and only when it differs', async () => {
    const machine = clusterWith([node('n1'), node('n2', { state: 'down' })]);
    const proposed: Command[] = [];
    const proposer = {
      get state() {
        return machine.state;
      },
      propose: async (command: Command) => {
        proposed.push(command);
        machine.apply(command);
      },
      watch: () => () => {},
    } as unknown as Proposer;
    const dispatcher = new LocalDispatcher(proposer, 'n2', () => T0 + 5_000);
    const before = structuredClone(machine.state.nodes.n2!);
    const description = { ...before.Description, MemoryLimit: false, Images: [] };
    await dispatcher.describe(description);
    await dispatcher.describe(description);
    assert.equal(proposed.length, 1, 'the same description twice is one change');
    const after = machine.state.nodes.n2!;
    assert.deepEqual(after.Description, description);
    assert.deepEqual(after.Version, before.Version);
    assert.equal(after.Status.State, 'down', 'a description is no heartbeat');
    assert.equal(after.UpdatedAt, iso(T0 + 5_000));
  });
});
