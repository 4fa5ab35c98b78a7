import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, TaskSpec } from '../../src/api/types.ts';
import { ReadyFilter, ResourceFilter } from '../../src/manager/scheduler/filters.ts';
import { MB, node, nodeImage, pendingTask, runningTask, scheduleOnce } from '../helpers/fixtures.ts';

const IMAGE = 'swarmlet-test/app:1';
const taskSpec = (extra: Partial<TaskSpec> = {}, image = IMAGE): TaskSpec => ({ ContainerSpec: { Image: image }, ...extra });
/** Where one fresh task of service s1 goes, or why it stays pending. */
const placeOne = (nodes: Node[], spec: TaskSpec = taskSpec(), options = {}) => scheduleOnce(nodes, [pendingTask('t1', 's1', spec)], options).get('t1');

describe('scheduler filters', () => {
  it('refuses nodes that are down, and nodes the leader has not heard from lately', () => {
    const nodes = [node('n1', { state: 'down' }), node('n2'), node('n3', { state: 'disconnected' })];
    assert.equal(placeOne(nodes), 'n2', 'without the set, a ready node is taken as today');
    assert.equal(placeOne(nodes, taskSpec(), { unresponsive: new Set(['n2']) }), 'no suitable node (3 nodes not available for new tasks)');
  });

  it('refuses paused and drained nodes', () => {
    assert.equal(
      placeOne([node('n1', { availability: 'pause' }), node('n2', { availability: 'drain' })]),
      'no suitable node (2 nodes not available for new tasks (paused or drained))',
    );
  });

  it('applies == and != on every constraint key', () => {
    const nodes = [
      node('n1', { role: 'manager', hostname: 'pi-1', arch: 'aarch64', labels: { zone: 'a' }, engineLabels: { disk: 'ssd' } }),
      node('n2', { hostname: 'box-2', labels: { zone: 'b' } }),
    ];
    const cases: Array<[string, string[]]> = [
      ['node.id==n2', ['n2']],
      ['node.id!=n1', ['n2']],
      ['node.hostname==pi-1', ['n1']],
      ['node.hostname!=pi-1', ['n2']],
      ['node.role==manager', ['n1']],
      ['node.role!=manager', ['n2']],
      ['node.platform.os==linux', ['n1', 'n2']],
      ['node.platform.os!=linux', []],
      ['node.platform.arch==aarch64', ['n1']],
      ['node.platform.arch!=aarch64', ['n2']],
      ['node.labels.zone==B', ['n2']],
      ['node.labels.zone!=b', ['n1']],
      ['engine.labels.disk==ssd', ['n1']],
      ['engine.labels.disk!=ssd', ['n2']],
    ];
    for (const [constraint, expected] of cases) {
      // Two replicas spread over the nodes that pass; none passing leaves both pending.
      const spec = taskSpec({ Placement: { Constraints: [constraint] } });
      const placed = [...scheduleOnce(nodes, [pendingTask('t1', 's1', spec), pendingTask('t2', 's1', spec)]).values()].filter((v) => !v.startsWith('no suitable'));
      assert.deepEqual(new Set(placed), new Set(expected), constraint);
    }
    assert.equal(
      placeOne(nodes, taskSpec({ Placement: { Constraints: ['node.labels.gpu==yes'] } })),
      'no suitable node (scheduling constraints not satisfied on 2 nodes)',
    );
  });

  it('never places an image on a machine it was not built for, reading the image platform where the image is', () => {
    const amd64 = nodeImage([IMAGE], { arch: 'amd64' });
    const nodes = [node('x1', { images: [amd64], availability: 'drain' }), node('a1', { arch: 'aarch64', images: [] }), node('a2', { arch: 'aarch64', images: [] })];
    assert.equal(placeOne(nodes), 'no suitable node (1 node not available for new tasks (paused or drained); unsupported platform on 2 nodes)');
    // A node holding a copy for the wrong machine is refused too: that copy is what would run.
    assert.equal(placeOne([node('a1', { arch: 'aarch64', images: [amd64] })]), 'no suitable node (unsupported platform on 1 node)');
    // An arm/v6 image runs on a Pi 2 (armv7l) but not the other way round.
    const v6 = nodeImage([IMAGE], { arch: 'arm', variant: 'v6' });
    assert.equal(placeOne([node('pi2', { arch: 'armv7l', images: [v6] })]), 'pi2');
    const v7 = nodeImage([IMAGE], { arch: 'arm', variant: 'v7' });
    assert.equal(placeOne([node('pi1', { arch: 'armv6l', images: [v7] })]), 'no suitable node (unsupported platform on 1 node)');
  });

  it('honours the platforms the spec names', () => {
    const spec = taskSpec({ Placement: { Platforms: [{ Architecture: 'arm64', OS: 'linux' }] } });
    assert.equal(placeOne([node('x1'), node('a1', { arch: 'aarch64' })], spec), 'a1');
    assert.equal(placeOne([node('x1'), node('x2')], spec), 'no suitable node (unsupported platform on 2 nodes)');
  });

  it('places a task only where the image is, matching tags as Docker normalizes them, and says where it is missing', () => {
    const nodes = [node('n1', { images: [] }), node('n2', { images: [nodeImage(['busybox:latest'])] }), node('n3', { images: [nodeImage(['other:1'])] })];
    assert.equal(placeOne(nodes, taskSpec({}, 'docker.io/library/busybox')), 'n2');
    assert.equal(placeOne(nodes, taskSpec({}, 'busybox:1.36')), 'no suitable node (image not present on 3 nodes)');
    // A node that does not report its images (state written before it did) is assumed to have it.
    assert.equal(placeOne([node('n1', { images: [] }), node('n2')], taskSpec({}, 'busybox:1.36')), 'n2');
  });

  it('never sends a task with a memory limit or reservation to a node that cannot enforce it', () => {
    const nodes = [node('n1', { memoryLimit: false }), node('n2', { memoryLimit: false })];
    const limited = taskSpec({ Resources: { Limits: { MemoryBytes: 64 * MB } } });
    assert.equal(placeOne(nodes, limited), 'no suitable node (memory limits not enforceable on 2 nodes (memory cgroup disabled))');
    assert.equal(placeOne(nodes, taskSpec({ Resources: { Reservations: { MemoryBytes: 64 * MB } } })), placeOne(nodes, limited));
    assert.equal(placeOne(nodes), 'n1', 'a task without memory settings may go there');
    assert.equal(placeOne([...nodes, node('n3', { memoryLimit: true })], limited), 'n3');
  });

  it('reserves memory and CPU against what the node has left', () => {
    const nodes = [node('n1', { memory: 512 * MB, cpus: 1 }), node('n2', { memory: 512 * MB, cpus: 1 })];
    const heavy = taskSpec({ Resources: { Reservations: { MemoryBytes: 384 * MB } } });
    const busy = [runningTask('r1', 's0', heavy, 'n1')];
    assert.equal(scheduleOnce(nodes, [...busy, pendingTask('t1', 's1', heavy)]).get('t1'), 'n2');
    const cpu = taskSpec({ Resources: { Reservations: { NanoCPUs: 0.75e9 } } });
    const decided = scheduleOnce(nodes, [pendingTask('t1', 's1', cpu), pendingTask('t2', 's1', cpu), pendingTask('t3', 's1', cpu)]);
    assert.deepEqual([...decided.values()].sort(), ['n1', 'n2', 'no suitable node (insufficient resources on 2 nodes)']);
  });

  it('counts each filter\'s refusals in pipeline order', () => {
    const nodes = [
      node('n1', { labels: { tier: 'db' }, memory: 128 * MB }),
      node('n2', { labels: { tier: 'db' }, memory: 128 * MB }),
      node('n3', { labels: { tier: 'db' }, memory: 128 * MB }),
      node('n4'),
      node('n5'),
    ];
    const spec = taskSpec({ Placement: { Constraints: ['node.labels.tier==db'] }, Resources: { Reservations: { MemoryBytes: 256 * MB } } });
    assert.equal(placeOne(nodes, spec), 'no suitable node (scheduling constraints not satisfied on 2 nodes; insufficient resources on 3 nodes)');
  });

  it('keeps to --replicas-max-per-node, counting the live tasks already there', () => {
    const spec = taskSpec({ Placement: { MaxReplicas: 1 } });
    const nodes = [node('n1'), node('n2'), node('n3')];
    const stopping = { ...runningTask('old', 's1', spec, 'n3'), DesiredState: 'shutdown' as const };
    const tasks = [runningTask('r1', 's1', spec, 'n1'), stopping, pendingTask('t1', 's1', spec), pendingTask('t2', 's1', spec, { createdAt: 1 })];
    const decided = scheduleOnce(nodes, tasks);
    assert.deepEqual([decided.get('t1'), decided.get('t2')].sort(), ['n2', 'n3'], 'a task being stopped does not count');
    const more = scheduleOnce(nodes, [...tasks.slice(0, 1), pendingTask('t1', 's1', spec), pendingTask('t2', 's1', spec), pendingTask('t3', 's1', spec)]);
    assert.equal(more.get('t3'), 'no suitable node (max replicas per node limit reached on 3 nodes)');
  });

  it('never puts two tasks binding one host-mode port on a node, whichever services they belong to', () => {
    const endpoint = (published: number | undefined, protocol: 'tcp' | 'udp' = 'tcp') => ({
      Spec: {},
      Ports: [{ Protocol: protocol, TargetPort: 80, ...(published ? { PublishedPort: published } : {}), PublishMode: 'host' as const }],
    });
    const withPort = <T extends ReturnType<typeof pendingTask>>(task: T, published: number | undefined, protocol: 'tcp' | 'udp' = 'tcp'): T => ({ ...task, Endpoint: endpoint(published, protocol) });
    const nodes = [node('n1'), node('n2'), node('n3')];
    // Another service's task binds 8080 on n1; three new tasks binding 8080 fit on n2 and n3 only.
    const tasks = [
      withPort(runningTask('other', 's2', taskSpec(), 'n1'), 8080),
      ...['t1', 't2', 't3'].map((id) => withPort(pendingTask(id, 's1', taskSpec()), 8080)),
    ];
    const decided = scheduleOnce(nodes, tasks);
    assert.deepEqual([decided.get('t1'), decided.get('t2')].sort(), ['n2', 'n3']);
    assert.equal(decided.get('t3'), 'no suitable node (host-mode port already in use on 3 nodes)');
    // Another protocol, or a port the engine picks, clashes with nothing.
    const free = scheduleOnce(nodes, [
      withPort(runningTask('other', 's2', taskSpec(), 'n1'), 8080),
      ...['t1', 't2', 't3'].map((id) => withPort(pendingTask(id, 's1', taskSpec()), 8080, 'udp')),
      ...['t4', 't5', 't6', 't7'].map((id) => withPort(pendingTask(id, 's3', taskSpec()), undefined)),
    ]);
    assert.ok([...free.values()].every((placed) => /^n\d$/.test(placed)), JSON.stringify([...free]));
  });

  it('checks a global task on its own node only, and explains for that node', () => {
    const nodes = [node('n1', { memory: 64 * MB }), node('n2')];
    const spec = taskSpec({ Resources: { Reservations: { MemoryBytes: 128 * MB } } });
    const decided = scheduleOnce(nodes, [pendingTask('g1', 'g', spec, { nodeId: 'n1' }), pendingTask('g2', 'g', spec, { nodeId: 'n2' }), pendingTask('g3', 'g', spec, { nodeId: 'gone' })]);
    assert.equal(decided.get('g1'), 'no suitable node (insufficient resources on 1 node)');
    assert.equal(decided.get('g2'), 'n2');
    assert.equal(decided.get('g3'), 'no suitable node (no nodes in the cluster)');
  });

  it('keeps a task pending, saying why, when its stored spec cannot be read', () => {
    const spec = taskSpec({ Placement: { Preferences: [{ Spread: { SpreadDescriptor: 'zone' } }] } });
    assert.match(placeOne([node('n1')], spec)!, /^no suitable node \(invalid placement preference "spread=zone"/);
  });

  it('refuses a pipeline whose dynamic filters do not come last', () => {
    assert.throws(() => placeOne([node('n1')], taskSpec(), { filters: [new ResourceFilter(), new ReadyFilter()] }), /must come before the dynamic ones/);
  });
});
