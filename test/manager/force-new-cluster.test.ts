/**
 * `swarmlet init --force-new-cluster`, proven in-process on real storage: a manager whose two peers are gone for
 * good cannot commit anything, and after forcing a new cluster it leads alone with all the state it had.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ProposalData } from '../../src/manager/consensus/raft-proposer.ts';
import { Manager } from '../../src/manager/manager.ts';
import { bootstrapState } from '../../src/manager/raft/bootstrap.ts';
import { initSwarmCommand } from '../../src/manager/state/init.ts';
import { DiskRaftStorage } from '../../src/store/raft/disk-raft-storage.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { iso, node, spec, T0 } from '../helpers/fixtures.ts';

let dataDir: string;
beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-force-'));
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

const options = () => ({ dataDir, nodeId: 'a', random: seededRandom(7), log: silentLogger });

/** Manager a's disk as a 3-manager cluster left it: the membership, the swarm, a service (its last entry uncommitted). */
async function writeThreeManagerLog(): Promise<void> {
  const storage = new DiskRaftStorage({ dataDir, log: silentLogger });
  await storage.load();
  const initial = bootstrapState(['a', 'b', 'c']);
  const n = initial.entries.length;
  const a = node('a');
  const commands: ProposalData[] = [
    { request: 'r1', command: initSwarmCommand({ swarmId: 'swarm1', nodeId: 'a', description: a.Description, addr: '10.0.0.1', now: iso(T0) }) },
    { request: 'r2', command: { type: 'service.create', id: 's1', spec: spec('web', { replicas: 2 }), now: iso(T0) } },
  ];
  const entries = [...initial.entries, ...commands.map((data, i) => ({ term: 2, index: n + 1 + i, type: 'normal' as const, data }))];
  await storage.save({ hardState: { term: 2, vote: 'a', commit: n + 1 }, entries });
  await storage.close();
}

describe('force a new cluster', () => {
  it('turns a manager that lost its quorum into the only member of a new cluster, keeping its state', async () => {
    await writeThreeManagerLog();

    const stuck = (await Manager.open(options()))!;
    stuck.start();
    const started = Date.now();
    await assert.rejects(stuck.proposer.propose({ type: 'service.remove', id: 's1', now: iso(T0) }), /No manager leader is known/);
    assert.ok(Date.now() - started < 15_000, 'the "no leader" answer comes within a bounded time');
    await stuck.stop();

    const recovered = await Manager.forceNewCluster(options());
    recovered.start();
    await recovered.proposer.read();
    assert.equal(recovered.proposer.state.swarm?.ID, 'swarm1');
    assert.equal(recovered.proposer.state.services.s1?.Spec.Name, 'web');
    await recovered.proposer.propose({ type: 'service.create', id: 's2', spec: spec('db'), now: iso(T0) });
    await recovered.stop();

    const reopened = (await Manager.open(options()))!;
    reopened.start();
    await reopened.proposer.read();
    assert.deepEqual(Object.keys(reopened.proposer.state.services).sort(), ['s1', 's2']);
    await reopened.stop();
  });

  it('refuses when the node holds no cluster state', async () => {
    await assert.rejects(Manager.forceNewCluster(options()), /no cluster state to recover/);
  });
});
