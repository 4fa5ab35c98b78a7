/**
 * A node that restarts while no manager answers runs what it was last assigned, from its cache on disk, and
 * takes the leader's word again as soon as a leader pushes.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Assignment } from '../../src/agent/assignment.ts';
import { AssignmentCache } from '../../src/cluster/assignment-cache.ts';
import { OFFLINE_AFTER_BEATS } from '../../src/cluster/node-session.ts';
import type { PeerMessage, PeerNetwork } from '../../src/cluster/peers.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { testSession } from '../helpers/node-session.ts';

const assignment = (id: string): Assignment => ({ serviceName: 'web', task: { ID: id } as Assignment['task'] });

/** Polls until `check` holds; fails after `ms`. */
async function waitFor(check: () => boolean, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await sleep(10);
  }
}

async function tempDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-offline-'));
}

/** Peers where no manager answers until `leader` is set; then it answers heartbeats and can push. */
function fakePeers() {
  const handlers = new Map<string, (message: PeerMessage, channel: unknown) => void>();
  let leader: string | null = null;
  const peers = {
    on: (type: string, handler: (message: PeerMessage, channel: unknown) => void) => handlers.set(type, handler),
    request: async (nodeId: string, message: PeerMessage) => {
      if (leader !== nodeId) throw Object.assign(new Error('no channel'), { reason: 'timeout' });
      if (message.type === 'heartbeat') return { leader, now: Date.now(), role: 'worker', managers: [], roots: [], heartbeatMs: 20 };
      return { ok: true };
    },
  } as unknown as PeerNetwork;
  return {
    peers,
    answer: (id: string) => (leader = id),
    push: (from: string, assignments: Assignment[]) => handlers.get('assignments')!({ type: 'assignments', assignments }, { peer: { nodeId: from } }),
  };
}

function session(peers: PeerNetwork, cache: AssignmentCache, cached: Awaited<ReturnType<AssignmentCache['load']>>) {
  return testSession(peers, { cache: { cached, save: (assignments) => cache.save(assignments) } });
}

describe('offline node', () => {
  it('caches pushed assignments, writing a burst once', async () => {
    const dir = await tempDir();
    try {
      const cache = new AssignmentCache(dir, silentLogger, { delayMs: 30 });
      cache.save([assignment('a')]);
      cache.save([assignment('a'), assignment('b')]);
      cache.save([assignment('a'), assignment('b')]);
      await cache.flush();
      const loaded = await new AssignmentCache(dir, silentLogger).load();
      assert.deepEqual(loaded!.assignments.map((a) => a.task.ID), ['a', 'b']);
      assert.ok(Math.abs(loaded!.savedAt - Date.now()) < 5_000);
      await cache.remove();
      assert.equal(await new AssignmentCache(dir, silentLogger).load(), null);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('sets a damaged cache aside instead of failing', async () => {
    const dir = await tempDir();
    try {
      await fs.writeFile(path.join(dir, 'assignments.json'), '{"format":"swarmlet","sha256":"00","data":{}}');
      assert.equal(await new AssignmentCache(dir, silentLogger).load(), null);
      await fs.access(path.join(dir, 'assignments.json.damaged'));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('runs the cached assignments when no manager answers, and the leader\'s once one pushes', async () => {
    const dir = await tempDir();
    const net = fakePeers();
    const cache = new AssignmentCache(dir, silentLogger, { delayMs: 10 });
    cache.save([assignment('cached-1'), assignment('cached-2')]);
    await cache.flush();
    const node = session(net.peers, cache, await cache.load());
    let changes = 0;
    node.watch(() => changes++);
    try {
      assert.equal(node.ready(), false, 'not before the managers had their chance');
      node.start();
      await waitFor(() => node.ready());
      assert.deepEqual(node.assignments().map((a) => a.task.ID), ['cached-1', 'cached-2']);
      assert.ok(changes > 0, 'the agent is told to run them');

      net.answer('m1');
      await waitFor(() => node.leader === 'm1');
      net.push('m1', [assignment('fresh')]);
      assert.deepEqual(node.assignments().map((a) => a.task.ID), ['fresh']);
      await cache.flush();
      assert.deepEqual((await cache.load())!.assignments.map((a) => a.task.ID), ['fresh'], 'the push is cached in turn');
    } finally {
      node.stop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('waits for the leader when there is no cache', async () => {
    const net = fakePeers();
    const dir = await tempDir();
    const node = session(net.peers, new AssignmentCache(dir, silentLogger), null);
    try {
      node.start();
      await sleep(20 * (OFFLINE_AFTER_BEATS + 3));
      assert.equal(node.ready(), false, 'no assignments known: containers are left alone');
    } finally {
      node.stop();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
