/** The leader's membership decisions: Raft's configuration follows the nodes' roles, one safe step at a time. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextConfChange } from '../../src/cluster/raft-membership.ts';
import { withManagerStatus } from '../../src/api/routes/nodes.ts';
import { clusterWith, node } from '../helpers/fixtures.ts';

function stateWith(roles: Record<string, 'manager' | 'worker'>) {
  const nodes = Object.entries(roles).map(([id, role]) => ({ ...node(id), Spec: { ...node(id).Spec, Role: role } }));
  return clusterWith(nodes).state;
}

describe('raft membership', () => {
  it('adds a new manager as a learner, promotes it, and does nothing once in step', () => {
    const state = stateWith({ a: 'manager', b: 'manager' });
    assert.deepEqual(nextConfChange(state, { voters: ['a'], learners: [] }, 'a'), { type: 'add-learner', member: 'b' });
    assert.deepEqual(nextConfChange(state, { voters: ['a'], learners: ['b'] }, 'a'), { type: 'promote', member: 'b' });
    assert.equal(nextConfChange(state, { voters: ['a', 'b'], learners: [] }, 'a'), null);
  });

  it('removes a demoted or removed manager, and a demoted leader hands over first', () => {
    const state = stateWith({ a: 'manager', b: 'worker', c: 'manager' });
    assert.deepEqual(nextConfChange(state, { voters: ['a', 'b', 'c'], learners: [] }, 'a'), { type: 'remove', member: 'b' });
    assert.deepEqual(nextConfChange(state, { voters: ['a', 'c'], learners: ['gone'] }, 'a'), { type: 'remove', member: 'gone' });
    assert.equal(nextConfChange(state, { voters: ['a', 'b', 'c'], learners: [] }, 'b'), 'hand-off');
  });

  it('shows the leader and reachability as Raft sees them, and no manager status on workers', () => {
    const state = stateWith({ a: 'manager', b: 'manager', c: 'worker' });
    const view = { leader: 'a', voters: ['a', 'b'], learners: [], reachable: (id: string) => id === 'a' };
    assert.deepEqual(withManagerStatus(state.nodes.a!, view).ManagerStatus?.Leader, true);
    assert.equal(withManagerStatus(state.nodes.b!, view).ManagerStatus?.Reachability, 'unreachable');
    assert.equal(withManagerStatus(state.nodes.c!, view).ManagerStatus, undefined);
  });
});
