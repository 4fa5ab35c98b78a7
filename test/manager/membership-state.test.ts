/**
 * The membership commands of the state machine: joining with keys, node updates with Docker's refusals, removal
 * with revocation, heartbeat status changes, and join tokens that are derived, hashed and rotated.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJoinToken } from '../../src/identity/join-token.ts';
import { clusterDigest, joinTokenText, newRootKey, newTokenRecord, roleForSecret } from '../../src/manager/state/security.ts';
import type { StateMachine } from '../../src/manager/state/state-machine.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { clusterWith, iso, node, spec, T0 } from '../helpers/fixtures.ts';

const keys = (n: number) => ({ signingKey: `sign${n}`, agreementKey: `agree${n}`, addr: `10.0.0.${n}:4377`, issuer: 'root' });
const code = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return 'none';
};

function withJoined(): StateMachine {
  const machine = clusterWith();
  machine.state.nodes.n1!.Spec.Role = 'manager';
  machine.apply({ type: 'node.join', node: node('n2'), member: keys(2) });
  return machine;
}

describe('membership state', () => {
  it('admits a node with its keys and refuses the same ID with other keys, changing nothing', () => {
    const machine = withJoined();
    assert.equal(machine.state.nodes.n2!.Spec.Role, 'worker');
    assert.deepEqual(machine.state.security!.members.n2, keys(2));
    const before = JSON.stringify(machine.state);
    assert.equal(code(() => machine.apply({ type: 'node.join', node: node('n2'), member: keys(3) })), 'conflict');
    assert.equal(JSON.stringify(machine.state), before);
    // The same node joining again (its keys unchanged) is a re-join, not a conflict.
    machine.apply({ type: 'node.join', node: node('n2'), member: keys(2) });
  });

  it('removes only a down worker unless forced, revokes it, orphans its tasks and refuses it back', () => {
    const machine = withJoined();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    machine.state.tasks.t1 = {
      ID: 't1', Version: { Index: 1 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec('web').TaskTemplate, ServiceID: 's1', Slot: 1, NodeID: 'n2',
      Status: { Timestamp: iso(T0), State: 'running', Message: '' }, DesiredState: 'running',
    };
    assert.equal(code(() => machine.apply({ type: 'node.remove', id: 'n1', force: true, now: iso(T0) })), 'conflict');
    assert.equal(code(() => machine.apply({ type: 'node.remove', id: 'n2', force: false, now: iso(T0) })), 'conflict');
    machine.apply({ type: 'node.status', changes: [{ nodeId: 'n2', state: 'down', message: 'heartbeat failure' }], now: iso(T0) });
    assert.equal(machine.state.nodes.n2!.Status.State, 'down');
    machine.apply({ type: 'node.remove', id: 'n2', force: false, now: iso(T0) });
    assert.equal(machine.state.nodes.n2, undefined);
    assert.equal(machine.state.security!.members.n2, undefined);
    assert.ok(machine.state.security!.revoked.n2);
    assert.equal(machine.state.tasks.t1!.Status.State, 'orphaned');
    assert.equal(code(() => machine.apply({ type: 'node.join', node: node('n2'), member: keys(2) })), 'conflict');
  });

  it('updates a node at the version read and never demotes the last manager', () => {
    const machine = withJoined();
    const n2 = machine.state.nodes.n2!;
    assert.equal(code(() => machine.apply({ type: 'node.update', id: 'n2', version: n2.Version.Index - 1, spec: { ...n2.Spec, Availability: 'drain' }, now: iso(T0) })), 'conflict');
    machine.apply({ type: 'node.update', id: 'n2', version: n2.Version.Index, spec: { ...n2.Spec, Availability: 'drain', Labels: { ssd: 'true' } }, now: iso(T0) });
    assert.equal(machine.state.nodes.n2!.Spec.Availability, 'drain');
    const n1 = machine.state.nodes.n1!;
    assert.equal(code(() => machine.apply({ type: 'node.update', id: 'n1', version: n1.Version.Index, spec: { ...n1.Spec, Role: 'worker' }, now: iso(T0) })), 'conflict');
  });

  it('derives join tokens that pin the root, tells the roles apart, and rotates one without the other', () => {
    const machine = withJoined();
    const security = machine.state.security!;
    const worker = parseJoinToken(joinTokenText(security, 'worker'));
    const manager = parseJoinToken(joinTokenText(security, 'manager'));
    assert.equal(worker.rootDigest, clusterDigest(security));
    assert.notEqual(worker.secret, manager.secret);
    assert.equal(roleForSecret(security, worker.secret), 'worker');
    assert.equal(roleForSecret(security, manager.secret), 'manager');
    assert.equal(roleForSecret(security, 'x'.repeat(25)), null);
    // Only hashes and nonces are stored: no token secret appears in the state.
    assert.ok(!JSON.stringify(machine.state).includes(worker.secret));
    machine.apply({ type: 'token.rotate', role: 'worker', token: newTokenRecord(security.roots[0]!, 'worker', seededRandom(99)) });
    assert.equal(roleForSecret(machine.state.security!, worker.secret), null);
    assert.equal(roleForSecret(machine.state.security!, manager.secret), 'manager');
  });

  it('rotates the root in two steps, trusting both roots in between', () => {
    const machine = withJoined();
    const old = machine.state.security!.roots[0]!;
    const root = newRootKey(seededRandom(5), iso(T0));
    const tokens = { worker: newTokenRecord(root, 'worker', seededRandom(6)), manager: newTokenRecord(root, 'manager', seededRandom(8)) };
    machine.apply({ type: 'ca.rotate', root, tokens });
    assert.equal(machine.state.swarm!.RootRotationInProgress, true);
    assert.equal(machine.state.security!.roots.length, 2);
    assert.equal(code(() => machine.apply({ type: 'ca.rotate', root, tokens })), 'conflict');
    assert.notEqual(parseJoinToken(joinTokenText(machine.state.security!, 'worker')).rootDigest, clusterDigest({ ...machine.state.security!, roots: [old] }));
    machine.apply({ type: 'ca.finish', root: root.publicKey });
    assert.deepEqual(machine.state.security!.roots.map((r) => r.publicKey), [root.publicKey]);
    assert.equal(machine.state.swarm!.RootRotationInProgress, false);
  });
});
