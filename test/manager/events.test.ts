import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task, TaskState } from '../../src/api/types.ts';
import { type ClusterEvent, encodeEvent } from '../../src/manager/events/cluster-event.ts';
import { deriveEvents, touchedBy } from '../../src/manager/events/derive.ts';
import { ClusterEventLog } from '../../src/manager/events/event-log.ts';
import { RingBuffer } from '../../src/manager/events/ring-buffer.ts';
import { initSwarmCommand } from '../../src/manager/state/init.ts';
import type { Command } from '../../src/manager/state/commands.ts';
import { networkSpec } from '../../src/manager/state/networks.ts';
import { StateMachine } from '../../src/manager/state/state-machine.ts';
import { seededRandom } from '../../src/util/ids.ts';
import { clusterWith, iso, node, spec, T0 } from '../helpers/fixtures.ts';

/** The clock of commands that carry no time of their own. */
const CLOCK = T0 + 999_000;

/** Applies `command` and returns the events it caused, as the proposer's hook derives them. */
function apply(machine: StateMachine, command: Command): ClusterEvent[] {
  const touched = touchedBy(machine.state, command);
  machine.apply(command);
  return deriveEvents(touched, command, machine.state, CLOCK);
}

/** Events as `type action id {attributes}`, for compact assertions. */
const brief = (events: ClusterEvent[]) => events.map((e) => `${e.Type} ${e.Action} ${e.Actor.ID} ${JSON.stringify(e.Actor.Attributes)}`);

function task(id: string, serviceId: string, slot: number, state: TaskState, nodeId?: string): Task {
  return {
    ID: id, Version: { Index: 0 }, CreatedAt: iso(T0), UpdatedAt: iso(T0), Spec: spec('web').TaskTemplate, ServiceID: serviceId, Slot: slot,
    ...(nodeId ? { NodeID: nodeId } : {}), Status: { Timestamp: iso(T0), State: state, Message: '' }, DesiredState: 'running',
  };
}

const status = (taskId: string, state: TaskState) => ({ taskId, status: { Timestamp: iso(T0), State: state, Message: '' } });

/** A cluster with service s1 `web` (1 replica) and its task t1 running on n1. */
function withRunningWeb(): StateMachine {
  const machine = clusterWith([node('n1'), node('n2')]);
  machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
  machine.apply({ type: 'tasks.put', tasks: [task('t1', 's1', 1, 'assigned', 'n1')], now: iso(T0) });
  machine.apply({ type: 'tasks.status', nodeId: 'n1', updates: [status('t1', 'running')], now: iso(T0) });
  return machine;
}

describe('cluster events derived from applied commands', () => {
  it('swarm init creates its first node, named by its hostname', () => {
    const machine = new StateMachine();
    const init = initSwarmCommand({ swarmId: 'sw', nodeId: 'n1', description: node('n1').Description, addr: '127.0.0.1', now: iso(T0), random: seededRandom(1) });
    const events = apply(machine, init);
    assert.deepEqual(brief(events), ['node create n1 {"name":"host-n1"}']);
    assert.equal(events[0]!.at, T0, 'the time the command carries');
  });

  it('a joining node is created; one joining again is updated', () => {
    const machine = clusterWith();
    const joining = node('n2', { hostname: 'pi-2' });
    const member = { signingKey: 'sk', agreementKey: 'ak', addr: '10.0.0.2:4377', issuer: 'x' };
    assert.deepEqual(brief(apply(machine, { type: 'node.join', node: joining, member })), ['node create n2 {"name":"pi-2"}']);
    machine.apply({ type: 'node.status', changes: [{ nodeId: 'n2', state: 'down', message: 'heartbeat failure' }], now: iso(T0) });
    const again = apply(machine, { type: 'node.join', node: joining, member });
    assert.deepEqual(brief(again), ['node update n2 {"name":"pi-2","state.old":"down","state.new":"ready"}']);
  });

  it('service create, scale, image change and remove carry Docker\'s attributes', () => {
    const machine = clusterWith();
    assert.deepEqual(brief(apply(machine, { type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0 + 1) })), ['service create s1 {"name":"web"}']);
    const scale = apply(machine, { type: 'service.update', id: 's1', version: machine.state.services.s1!.Version.Index, spec: spec('web', { replicas: 3 }), now: iso(T0 + 2) });
    assert.deepEqual(brief(scale), ['service update s1 {"name":"web","replicas.old":"1","replicas.new":"3"}']);
    assert.equal(scale[0]!.at, T0 + 2);
    const image = apply(machine, { type: 'service.update', id: 's1', version: machine.state.services.s1!.Version.Index, spec: spec('web', { replicas: 3, image: 'web:2' }), now: iso(T0 + 3) });
    assert.deepEqual(brief(image), ['service update s1 {"name":"web","image.old":"swarmlet-test/busybox:1","image.new":"web:2"}']);
    const same = apply(machine, { type: 'service.update', id: 's1', version: machine.state.services.s1!.Version.Index, spec: spec('web', { replicas: 3, image: 'web:2' }), now: iso(T0 + 4) });
    assert.deepEqual(brief(same), ['service update s1 {"name":"web"}'], 'an update that changes neither is still an update, as in Docker');
    assert.deepEqual(brief(apply(machine, { type: 'service.remove', id: 's1', now: iso(T0 + 5) })), ['service remove s1 {"name":"web"}']);
  });

  it('swarm networks are created and removed with their name, as Docker reports them', () => {
    const machine = clusterWith();
    const created = apply(machine, { type: 'network.create', id: 'net1', spec: networkSpec({ name: 'appnet' }), subnet: '10.0.1.0/24', gateway: '10.0.1.1', now: iso(T0 + 1) });
    assert.deepEqual(brief(created), ['network create net1 {"name":"appnet","type":"overlay"}']);
    assert.deepEqual(brief(apply(machine, { type: 'network.remove', id: 'net1', now: iso(T0 + 2) })), ['network remove net1 {"name":"appnet","type":"overlay"}']);
  });

  it('a global service has no replica counts to compare', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 'g1', spec: spec('agent', { Mode: { Global: {} } }), now: iso(T0) });
    const events = apply(machine, { type: 'service.update', id: 'g1', version: machine.state.services.g1!.Version.Index, spec: spec('agent', { Mode: { Global: {} }, image: 'agent:2' }), now: iso(T0) });
    assert.deepEqual(brief(events), ['service update g1 {"name":"agent","image.old":"swarmlet-test/busybox:1","image.new":"agent:2"}']);
  });

  it('tasks are created, placed, started and ended, named as service ps names them', () => {
    const machine = clusterWith();
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    const created = apply(machine, { type: 'tasks.put', tasks: [task('t1', 's1', 1, 'pending')], now: iso(T0) });
    assert.deepEqual(brief(created), ['task create t1 {"name":"web.1","service.id":"s1","service.name":"web","slot":"1"}']);
    const placed = apply(machine, { type: 'tasks.put', tasks: [{ ...machine.state.tasks.t1!, NodeID: 'n1', Status: { Timestamp: iso(T0), State: 'assigned', Message: '' } }], now: iso(T0) });
    assert.deepEqual(brief(placed), ['task update t1 {"name":"web.1","service.id":"s1","service.name":"web","node.id":"n1","slot":"1","state.old":"pending","state.new":"assigned"}']);
    const started = apply(machine, { type: 'tasks.status', nodeId: 'n1', updates: [status('t1', 'running')], now: iso(T0 + 7) });
    assert.deepEqual(brief(started), ['task update t1 {"name":"web.1","service.id":"s1","service.name":"web","node.id":"n1","slot":"1","state.old":"assigned","state.new":"running"}']);
    assert.equal(started[0]!.at, T0 + 7);
    assert.deepEqual(apply(machine, { type: 'tasks.status', nodeId: 'n1', updates: [status('t1', 'running')], now: iso(T0 + 8) }), [], 'a re-sent report is no change');
    const shutdown = apply(machine, { type: 'tasks.put', tasks: [{ ...machine.state.tasks.t1!, DesiredState: 'shutdown' }], now: iso(T0) });
    assert.deepEqual(brief(shutdown).map((line) => line.replace(/.*"slot":"1",/, '')), ['"desiredstate.old":"running","desiredstate.new":"shutdown"}']);
  });

  it('forgotten tasks are removed, with the time of the clock since the command carries none', () => {
    const machine = withRunningWeb();
    const events = apply(machine, { type: 'tasks.delete', ids: ['t1', 'absent'] });
    assert.deepEqual(brief(events), ['task remove t1 {"name":"web.1","service.id":"s1","service.name":"web","node.id":"n1","slot":"1"}']);
    assert.equal(events[0]!.at, CLOCK);
  });

  it('removing a service ends its tasks after it; their events still name it', () => {
    const machine = withRunningWeb();
    const events = apply(machine, { type: 'service.remove', id: 's1', now: iso(T0) });
    assert.deepEqual(brief(events), [
      'service remove s1 {"name":"web"}',
      'task update t1 {"name":"web.1","service.id":"s1","service.name":"web","node.id":"n1","slot":"1","desiredstate.old":"running","desiredstate.new":"remove"}',
    ]);
    const forgotten = apply(machine, { type: 'tasks.delete', ids: ['t1'] });
    assert.equal(forgotten[0]!.Actor.Attributes.name, 's1.1', 'the service is gone: its ID stands in');
  });

  it('node update reports availability and role changes', () => {
    const machine = clusterWith([node('n1', { role: 'manager' }), node('n2')]);
    const n2 = machine.state.nodes.n2!;
    const drained = apply(machine, { type: 'node.update', id: 'n2', version: n2.Version.Index, spec: { ...n2.Spec, Availability: 'drain' }, now: iso(T0) });
    assert.deepEqual(brief(drained), ['node update n2 {"name":"host-n2","availability.old":"active","availability.new":"drain"}']);
    const promoted = apply(machine, { type: 'node.update', id: 'n2', version: machine.state.nodes.n2!.Version.Index, spec: { ...machine.state.nodes.n2!.Spec, Role: 'manager', Name: 'pi' }, now: iso(T0) });
    assert.deepEqual(brief(promoted), ['node update n2 {"name":"pi","role.old":"worker","role.new":"manager"}']);
  });

  it('heartbeat transitions and reports move a node\'s state', () => {
    const machine = clusterWith([node('n1'), node('n2')]);
    const down = apply(machine, { type: 'node.status', changes: [{ nodeId: 'n2', state: 'down', message: 'heartbeat failure' }, { nodeId: 'gone', state: 'down', message: '' }], now: iso(T0) });
    assert.deepEqual(brief(down), ['node update n2 {"name":"host-n2","state.old":"ready","state.new":"down"}']);
    const back = apply(machine, { type: 'node.report', nodeId: 'n2', description: node('n2').Description, addr: '10.0.0.2', now: iso(T0) });
    assert.deepEqual(brief(back), ['node update n2 {"name":"host-n2","state.old":"down","state.new":"ready"}']);
    const described = apply(machine, { type: 'node.describe', nodeId: 'n2', description: node('n2', { hostname: 'renamed' }).Description, now: iso(T0) });
    assert.deepEqual(brief(described), ['node update n2 {"name":"renamed"}']);
    assert.deepEqual(apply(machine, { type: 'node.describe', nodeId: 'gone', description: node('n2').Description, now: iso(T0) }), []);
  });

  it('removing a node ends the tasks it held', () => {
    const machine = clusterWith([node('n1'), node('n2')]);
    machine.apply({ type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) });
    machine.apply({ type: 'tasks.put', tasks: [task('t1', 's1', 1, 'running', 'n2'), task('t2', 's1', 2, 'running', 'n1')], now: iso(T0) });
    const events = apply(machine, { type: 'node.remove', id: 'n2', force: true, now: iso(T0) });
    assert.deepEqual(events.map((e) => `${e.Type} ${e.Action} ${e.Actor.ID}`), ['node remove n2', 'task update t1']);
    assert.equal(events[1]!.Actor.Attributes['state.new'], 'orphaned');
    assert.equal(events[1]!.Actor.Attributes['desiredstate.new'], 'shutdown');
  });

  it('swarm-level commands cause no events', () => {
    const machine = clusterWith();
    const token = { hash: 'h', nonce: 'n', createdAt: iso(T0) } as never;
    assert.deepEqual(apply(machine, { type: 'token.rotate', role: 'worker', token }), []);
  });

  it('encodes an event as Docker\'s JSON line with an exact timeNano', () => {
    const line = encodeEvent({ Type: 'service', Action: 'create', Actor: { ID: 's1', Attributes: { name: 'web' } }, at: 1735689600123 });
    assert.equal(line, '{"Type":"service","Action":"create","Actor":{"ID":"s1","Attributes":{"name":"web"}},"scope":"swarm","time":1735689600,"timeNano":1735689600123000000}\n');
  });
});

describe('ring buffer', () => {
  it('keeps the newest items, oldest first', () => {
    const ring = new RingBuffer<number>(3);
    assert.deepEqual(ring.toArray(), []);
    for (const n of [1, 2]) ring.push(n);
    assert.deepEqual(ring.toArray(), [1, 2]);
    for (const n of [3, 4, 5]) ring.push(n);
    assert.deepEqual(ring.toArray(), [3, 4, 5]);
    assert.equal(ring.size, 3);
  });

  it('refuses a capacity below one', () => {
    assert.throws(() => new RingBuffer(0), RangeError);
  });
});

describe('cluster event log', () => {
  const at = (ms: number, id = `s${ms}`): ClusterEvent => ({ Type: 'service', Action: 'create', Actor: { ID: id, Attributes: { name: id } }, at: ms });

  it('replays the bounded history between since and until, in order', () => {
    const log = new ClusterEventLog({ capacity: 3 });
    for (const ms of [10, 20, 30, 40]) log.publish(at(ms));
    assert.deepEqual(log.replay(0).map((e) => e.at), [20, 30, 40], 'the oldest fell out');
    assert.deepEqual(log.replay(25).map((e) => e.at), [30, 40]);
    assert.deepEqual(log.replay(20, 30).map((e) => e.at), [20, 30]);
  });

  it('hands live events to subscribers until they dispose, and survives one that throws', () => {
    const log = new ClusterEventLog();
    const seen: number[] = [];
    const dispose = log.subscribe((e) => seen.push(e.at));
    const disposeBad = log.subscribe(() => {
      throw new Error('broken client');
    });
    assert.equal(log.subscribers, 2);
    log.publish(at(1));
    dispose();
    disposeBad();
    log.publish(at(2));
    assert.deepEqual(seen, [1]);
    assert.equal(log.subscribers, 0);
  });

  it('records what applied commands caused, and never throws into the apply', () => {
    const log = new ClusterEventLog({ clock: () => CLOCK });
    const machine = clusterWith();
    const command: Command = { type: 'service.create', id: 's1', spec: spec('web'), now: iso(T0) };
    const touched = log.before(machine.state, command);
    machine.apply(command);
    log.applied(touched, command, machine.state);
    assert.deepEqual(brief(log.replay(0)), ['service create s1 {"name":"web"}']);
    const broken = { type: 'node.status', changes: null, now: iso(T0) } as unknown as Command;
    assert.doesNotThrow(() => log.applied(log.before(machine.state, broken), broken, machine.state));
  });
});
