/**
 * A node written by the first swarmlet (state.json at schema 1, holding the whole cluster state) starts under the
 * built executable with its cluster intact: the state moves behind Raft, and its services run again.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Service, Task } from '../../src/api/types.ts';
import { initSwarmCommand } from '../../src/manager/state/init.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { DurableJSONFile } from '../../src/store/durable-json-file.ts';
import { makeTempDir, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { removeNodeContainers } from '../helpers/docker.ts';
import { iso, node, spec, T0 } from '../helpers/fixtures.ts';
import { waitFor } from '../helpers/unix-http.ts';

describe('migration of a schema 1 store', () => {
  it('keeps the cluster and runs its services', async () => {
    const dir = await makeTempDir();
    const nodeId = `migrated${Date.now().toString(36)}`;
    const machine = new StateMachine();
    machine.apply(initSwarmCommand({ swarmId: 'swarm-v1', nodeId, description: node(nodeId).Description, addr: '127.0.0.1', now: iso(T0) }));
    machine.apply({ type: 'service.create', id: 'svcv1', spec: spec('legacy', { replicas: 2, image: TEST_IMAGE }), now: iso(T0) });
    await fs.mkdir(path.join(dir, 'data'), { recursive: true });
    await new DurableJSONFile(path.join(dir, 'data', 'state.json')).write({ schemaVersion: 1, node: { id: nodeId }, cluster: machine.state });

    const daemon = await startDaemon({ dir });
    try {
      const services = (await daemon.api<Service[]>('GET', '/services')).body;
      assert.deepEqual(services.map((s) => s.Spec.Name), ['legacy']);
      const filters = encodeURIComponent(JSON.stringify({ service: ['legacy'] }));
      await waitFor('the migrated service to run', async () =>
        (await daemon.api<Task[]>('GET', `/tasks?filters=${filters}`)).body.filter((t) => t.Status.State === 'running').length === 2,
      );
      const stored = JSON.parse(await fs.readFile(path.join(daemon.dataDir, 'state.json'), 'utf8'));
      assert.equal(stored.data.schemaVersion, 2);
      assert.equal(stored.data.cluster, undefined);
    } finally {
      await daemon.stop();
      await removeNodeContainers(nodeId);
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
