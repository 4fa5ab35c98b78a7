/** GET /tasks's filters: `node` values resolved as Docker's daemon resolves them, so `node ps NAME` finds its tasks. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseTaskFilters, taskMatches } from '../../src/api/routes/tasks.ts';
import type { Node, Service, Swarm, Task } from '../../src/api/types.ts';
import { SwarmletError } from '../../src/errors.ts';
import { type ClusterState, emptyClusterState } from '../../src/manager/state/cluster-state.ts';

const meta = (id: string) => ({ ID: id, Version: { Index: 1 }, CreatedAt: '2026-11-27T03:00:00Z', UpdatedAt: '2026-11-27T03:00:00Z' });

function node(id: string, hostname: string, name?: string): Node {
  return {
    ...meta(id),
    Spec: { Role: 'worker', Availability: 'active', ...(name ? { Name: name } : {}) },
    Description: {
      Hostname: hostname,
      Platform: { Architecture: 'aarch64', OS: 'linux' },
      Resources: { NanoCPUs: 4e9, MemoryBytes: 4 << 30 },
      Engine: { EngineVersion: '28.0.0' },
    },
    Status: { State: 'ready', Addr: '10.0.0.1' },
  };
}

function task(id: string, nodeId: string | undefined, slot: number): Task {
  return {
    ...meta(id),
    Spec: { ContainerSpec: { Image: 'img' } },
    ServiceID: 'svc1',
    Slot: slot,
    ...(nodeId ? { NodeID: nodeId } : {}),
    Status: { Timestamp: '2026-11-27T03:00:00Z', State: 'running', Message: 'started' },
    DesiredState: 'running',
  };
}

function cluster(): ClusterState {
  const service: Service = { ...meta('svc1'), Spec: { Name: 'back', TaskTemplate: { ContainerSpec: { Image: 'img' } } } };
  return {
    ...emptyClusterState(),
    swarm: { ...meta('swarm') } as Swarm,
    nodes: { pi1aaaaaaaaa: node('pi1aaaaaaaaa', 'pi-1'), pi2bbbbbbbbb: node('pi2bbbbbbbbb', 'pi-2', 'radio') },
    services: { svc1: service },
    tasks: { t1: task('t1', 'pi1aaaaaaaaa', 1), t2: task('t2', 'pi2bbbbbbbbb', 2), t3: task('t3', undefined, 3) },
  };
}

function listed(state: ClusterState, filters: Record<string, string[]>): string[] {
  const parsed = parseTaskFilters(state, JSON.stringify(filters));
  return Object.values(state.tasks)
    .filter((t) => taskMatches(state, t, parsed))
    .map((t) => t.ID);
}

describe('GET /tasks node filter', () => {
  it('finds a node by ID, ID prefix, hostname or given name', () => {
    const state = cluster();
    assert.deepEqual(listed(state, { node: ['pi1aaaaaaaaa'] }), ['t1']);
    assert.deepEqual(listed(state, { node: ['pi2'] }), ['t2']);
    assert.deepEqual(listed(state, { node: ['pi-1'] }), ['t1']);
    assert.deepEqual(listed(state, { node: ['radio'] }), ['t2']);
    assert.deepEqual(listed(state, { node: ['pi-1', 'radio'] }), ['t1', 't2'], 'values of one key are alternatives');
    assert.deepEqual(listed(state, { node: ['pi-1'], service: ['back'] }), ['t1']);
    assert.deepEqual(listed(state, {}), ['t1', 't2', 't3'], 'no filter, every task, unassigned ones too');
  });

  it('says when the node does not exist or the reference is ambiguous, as Docker does', () => {
    const state = cluster();
    assert.throws(
      () => parseTaskFilters(state, '{"node":["pi-9"]}'),
      (err: unknown) => err instanceof SwarmletError && err.code === 'not_found' && err.message === 'node pi-9 not found',
    );
    assert.throws(() => parseTaskFilters(state, '{"node":["pi"]}'), (err: unknown) => err instanceof SwarmletError && /ambiguous/.test(err.message));
  });
});
