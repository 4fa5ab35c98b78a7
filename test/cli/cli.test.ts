/**
 * The CLI as a user runs it: `node src/main.ts ...` as a child process, talking to a fake API on a temporary unix
 * socket. Checks what reaches the API (paths, queries, bodies) and what the user sees (stdout, one-line errors,
 * exit codes).
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service, Task } from '../../src/api/types.ts';
import { VERSION } from '../../src/version.ts';
import { NODE_ID, lines, node, service, task } from './docker-fixtures.ts';
import { type FakeApi, type FakeReply, type FakeRequest, runCli, startFakeApi } from './fake-api.ts';

const SERVICE_ID = 'v1abbs71d77e9wupts94kvt8f';

describe('swarmlet CLI without a daemon', () => {
  it('prints its version', async () => {
    for (const args of [['--version'], ['-v'], ['version']]) {
      const result = await runCli(args);
      assert.deepEqual(result, { code: 0, stdout: `swarmlet version ${VERSION}\n`, stderr: '' });
    }
  });

  it('prints help for the whole CLI, a group and a command', async () => {
    const root = await runCli(['--help']);
    assert.equal(root.code, 0);
    assert.match(root.stdout, /service <command>\s+Manage services/);
    assert.match(root.stdout, /node <command>/);
    const group = await runCli(['service', '--help']);
    assert.match(group.stdout, /\$ swarmlet service <command> \[options\]/);
    assert.match(group.stdout, /scale <\.\.\.service=replicas>/);
    const command = await runCli(['service', 'create', '--help']);
    assert.equal(command.code, 0);
    assert.match(command.stdout, /\$ swarmlet service create <image> \[\.\.\.command\]/);
    assert.match(command.stdout, /--reserve-memory <SIZE>/);
    assert.match(command.stdout, /-e, --env <K=V>/);
    assert.match(command.stdout, /--mount <MOUNT>\s+Attach a filesystem mount to the service/);
    assert.match(command.stdout, /--device <DEVICE>\s+Add a host device to the container: .*\(a swarmlet addition\)/);
    assert.match(command.stdout, /--privileged\s+Give extended privileges to this container \(a swarmlet addition\)/);
    const nodePs = await runCli(['node', 'ps', '--help']);
    assert.match(nodePs.stdout, /\$ swarmlet node ps \[\.\.\.node\]/);
    assert.match(nodePs.stdout, /--no-resolve\s+Do not map IDs to Names/);
    assert.doesNotMatch(command.stdout, / +$/m, 'no trailing blanks in help');
  });

  it('says in one line which socket it could not reach and how to choose another', async () => {
    const missing = '/tmp/swarmlet-no-such-dir/swarmlet.sock';
    for (const [args, env] of [
      [['service', 'ls'], { SWARMLET_HOST: `unix://${missing}` }],
      [['-H', `unix://${missing}`, 'node', 'ls'], { SWARMLET_HOST: 'unix:///elsewhere.sock' }],
      [['node', 'ls', '--host', missing], {}],
    ] as const) {
      const result = await runCli([...args], env);
      assert.deepEqual(result, {
        code: 1,
        stdout: '',
        stderr: `Error: cannot connect to the swarmlet daemon at unix://${missing}: is \`swarmlet daemon\` running? (set -H or SWARMLET_HOST to use another socket)\n`,
      });
    }
  });

  it('rejects bad command lines with one line and exit code 1', async () => {
    const cases: Array<[string[], string]> = [
      [['service', 'create', '--bogus', 'img'], 'Error: unknown flag: --bogus\n'],
      [['service', 'create', '--limit-memory', '64X', 'img'], 'Error: invalid memory size "64X": use a number with an optional unit b, k, m, g, t (e.g. 64M, 1.5G)\n'],
      [['service', 'ps'], `Error: "swarmlet service ps" requires at least 1 argument; see 'swarmlet service ps --help'\n`],
      [['service', 'frobnicate'], `Error: unknown command "frobnicate" for "swarmlet service"; see 'swarmlet service --help'\n`],
      [['frobnicate'], `Error: unknown command "frobnicate" for "swarmlet"; see 'swarmlet --help'\n`],
      [['service', 'scale', 'back'], 'Error: invalid scale specifier "back": use SERVICE=REPLICAS, e.g. back=5\n'],
      [['service', 'create', '--no-healthcheck', '--health-cmd', 'true', 'img'], 'Error: --no-healthcheck conflicts with --health-* options\n'],
      [['service', 'create', '--mount', 'type=bind,target=/data', 'img'], 'Error: invalid --mount "type=bind,target=/data": a bind mount needs a source: the path on the node, e.g. source=/srv/data\n'],
      [['service', 'create', '--device', 'ttyUSB0', 'img'], 'Error: invalid --device "ttyUSB0": the device on the node must be an absolute path, e.g. /dev/i2c-1\n'],
      [['service', 'ls', '--format', '{{.ID}}'], 'Error: unsupported --format "{{.ID}}": use "table" (the default) or "json"\n'],
      [['daemon', '--engine', 'tcp://1.2.3.4:2375'], 'Error: invalid --engine "tcp://1.2.3.4:2375": use unix:///path/to/engine.sock (e.g. unix:///var/run/docker.sock)\n'],
    ];
    for (const [args, stderr] of cases) {
      assert.deepEqual(await runCli(args), { code: 1, stdout: '', stderr }, args.join(' '));
    }
  });

  it('shows a stack trace only with SWARMLET_DEBUG=1', async () => {
    const result = await runCli(['service', 'create', '--bogus', 'img'], { SWARMLET_DEBUG: '1' });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^Error: unknown flag: --bogus\nSwarmletError: unknown flag: --bogus\n\s+at /);
  });
});

describe('swarmlet CLI against an API', () => {
  let api: FakeApi;
  let reply: (req: FakeRequest) => FakeReply = () => ({ status: 404, body: { message: 'not found' } });
  const env = () => ({ SWARMLET_HOST: `unix://${api.socket}` });
  const back = service(SERVICE_ID, 'back', 'busybox:1', 'replicated', 3, 3);

  before(async () => {
    api = await startFakeApi((req) => reply(req));
  });
  after(() => api.close());
  const lastRequests = (count: number) => api.requests.slice(-count);

  it('uses the versioned Docker API paths', async () => {
    reply = () => ({ body: [] });
    await runCli(['service', 'ls'], env());
    assert.equal(lastRequests(1)[0]!.versionPrefix, '/v1.41');
  });

  it('prints the API error message and exits 1', async () => {
    reply = () => ({ status: 400, body: { message: 'invalid service spec at Name: invalid name' } });
    const result = await runCli(['service', 'create', '-d', '--name', 'bad name', 'img'], env());
    assert.deepEqual(result, { code: 1, stdout: '', stderr: 'Error: invalid service spec at Name: invalid name\n' });
  });

  it('reports an error body that is not JSON as text', async () => {
    reply = () => ({ status: 500, text: 'engine exploded\n' });
    const result = await runCli(['service', 'ls'], env());
    assert.deepEqual(result, { code: 1, stdout: '', stderr: 'Error: engine exploded\n' });
  });

  it('service create -d posts the spec and prints the ID; warnings go to stderr', async () => {
    reply = (req) => (req.path === '/services/create' ? { status: 201, body: { ID: SERVICE_ID, Warnings: ['image img is not present'] } } : { status: 500 });
    const result = await runCli(['service', 'create', '-d', '--name', 'back', '--replicas', '3', '--reserve-memory', '64M', 'img', 'sh', '-c', 'echo hi'], env());
    assert.deepEqual(result, { code: 0, stdout: `${SERVICE_ID}\n`, stderr: 'image img is not present\n' });
    const [request] = lastRequests(1);
    assert.equal(request!.method, 'POST');
    assert.deepEqual(request!.body, {
      Name: 'back',
      TaskTemplate: { ContainerSpec: { Image: 'img', Args: ['sh', '-c', 'echo hi'] }, Resources: { Reservations: { MemoryBytes: 67108864 } } },
      Mode: { Replicated: { Replicas: 3 } },
    });
  });

  it('service create sends healthcheck, mounts, capabilities, devices and privileged as one spec', async () => {
    reply = (req) => (req.path === '/services/create' ? { status: 201, body: { ID: SERVICE_ID } } : { status: 500 });
    const result = await runCli([
      'service', 'create', '-d', '--name', 'sensor', '--health-cmd', 'pgrep sensor', '--health-interval', '10s', '--mount', 'type=bind,src=/srv/sensor,dst=/data',
      '--cap-add', 'sys_rawio', '--device', '/dev/i2c-1', '--privileged', 'img',
    ], env());
    assert.deepEqual(result, { code: 0, stdout: `${SERVICE_ID}\n`, stderr: '' });
    assert.deepEqual(lastRequests(1)[0]!.body, {
      Name: 'sensor',
      TaskTemplate: {
        ContainerSpec: {
          Image: 'img',
          Healthcheck: { Test: ['CMD-SHELL', 'pgrep sensor'], Interval: 10e9 },
          Mounts: [{ Type: 'bind', Source: '/srv/sensor', Target: '/data' }],
          CapabilityAdd: ['CAP_SYS_RAWIO'],
          Devices: [{ PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rwm' }],
          Privileged: true,
        },
      },
      Mode: { Replicated: { Replicas: 1 } },
    });
  });

  it('service create waits until the tasks run, printing progress', async () => {
    let polls = 0;
    reply = (req) => {
      if (req.path === '/services/create') return { status: 201, body: { ID: SERVICE_ID } };
      if (req.path === `/services/${SERVICE_ID}`) return { body: back };
      if (req.path === '/tasks') {
        assert.deepEqual(JSON.parse(req.query.get('filters')!), { service: [SERVICE_ID] });
        polls++;
        const state = polls < 2 ? 'pending' : 'running';
        return { body: [1, 2, 3].map((slot) => task(`task${slot}`.padEnd(25, '0'), SERVICE_ID, slot, 'busybox:1', 'running', state, 1)) };
      }
      return { status: 404, body: { message: 'unexpected' } };
    };
    const result = await runCli(['service', 'create', '--name', 'back', '--replicas', '3', 'busybox:1'], env());
    assert.equal(result.stderr, '');
    // Not a terminal: each slot's line without its bar, printed when it changes.
    assert.equal(result.stdout, lines(
      SERVICE_ID,
      'overall progress: 0 out of 3 tasks', '1/3: pending', '2/3: pending', '3/3: pending',
      'overall progress: 3 out of 3 tasks', '1/3: running', '2/3: running', '3/3: running',
      `verify: Service ${SERVICE_ID} converged`,
    ));
    assert.equal(result.code, 0);
  });

  it('service ls asks for status and prints the table, the IDs, or docker-shaped JSON rows', async () => {
    reply = (req) => {
      assert.equal(req.query.get('status'), 'true');
      return { body: [back] };
    };
    const table = await runCli(['service', 'ls'], env());
    assert.equal(table.stdout, lines(
      'ID             NAME      MODE         REPLICAS   IMAGE       PORTS',
      'v1abbs71d77e   back      replicated   3/3        busybox:1   ',
    ));
    assert.equal((await runCli(['service', 'ls', '-q'], env())).stdout, 'v1abbs71d77e\n');
    const json = await runCli(['service', 'ls', '--format', 'json'], env());
    // Byte for byte what docker CLI 28 prints for `service ls --format json`.
    assert.equal(json.stdout, '{"ID":"v1abbs71d77e","Image":"busybox:1","Mode":"replicated","Name":"back","Ports":"","Replicas":"3/3"}\n');
    await runCli(['service', 'ls', '--filter', 'name=back'], env());
    assert.equal(lastRequests(1)[0]!.query.get('filters'), '{"name":["back"]}');
  });

  it('service ps resolves the service, then lists its tasks with node hostnames', async () => {
    reply = (req) => {
      if (req.path === '/services/back') return { body: back };
      if (req.path === '/tasks') {
        const running = task('a7rejd97vlqkh2jg6jqm1s22c', SERVICE_ID, 1, 'busybox:1', 'running', 'running', 0);
        return { body: [{ ...running, Status: { ...running.Status, Timestamp: new Date(Date.now() - 5500).toISOString() } }] };
      }
      if (req.path === '/nodes') return { body: [node(NODE_ID, 'pi-1')] };
      return { status: 404, body: { message: 'unexpected' } };
    };
    const result = await runCli(['service', 'ps', 'back', '--filter', 'desired-state=running'], env());
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^a7rejd97vlqk   back\.1    busybox:1   pi-1      Running         Running [56] seconds ago   /m);
    const tasksRequest = api.requests.findLast((req) => req.path === '/tasks')!;
    assert.deepEqual(JSON.parse(tasksRequest.query.get('filters')!), { 'desired-state': ['running'], service: [SERVICE_ID] });
  });

  it('service inspect prints a JSON array like docker, and what it found when a reference fails', async () => {
    reply = (req) => (req.path === '/services/back' ? { body: back } : { status: 404, body: { message: 'service nosuch not found' } });
    const found = await runCli(['service', 'inspect', 'back'], env());
    assert.equal(found.code, 0);
    assert.equal(found.stdout, `${JSON.stringify([back], null, 4)}\n`);
    const missing = await runCli(['service', 'inspect', 'nosuch'], env());
    assert.deepEqual(missing, { code: 1, stdout: '[]\n', stderr: 'Error: service nosuch not found\n' });
  });

  it('service scale updates the spec at the version it read', async () => {
    reply = (req) => {
      if (req.method === 'GET' && req.path === '/services/back') return { body: back };
      if (req.method === 'POST' && req.path === `/services/${SERVICE_ID}/update`) return { body: { Warnings: null } };
      return { status: 404, body: { message: 'unexpected' } };
    };
    const result = await runCli(['service', 'scale', 'back=5', '-d'], env());
    assert.deepEqual(result, { code: 0, stdout: 'back scaled to 5\n', stderr: '' });
    const update = lastRequests(1)[0]!;
    assert.equal(update.query.get('version'), String(back.Version.Index));
    assert.deepEqual(update.body, { ...back.Spec, Mode: { Replicated: { Replicas: 5 } } });
  });

  it('service scale refuses global services', async () => {
    const global: Service = service('g'.repeat(25), 'g', 'img', 'global', 1, 1);
    reply = () => ({ body: global });
    const result = await runCli(['service', 'scale', 'g=2'], env());
    assert.deepEqual(result, { code: 1, stdout: '', stderr: 'Error: scale can only be used with replicated mode\n' });
  });

  it('service rm removes each service, reports each failure and exits 1 if any failed', async () => {
    reply = (req) => (req.path === '/services/nosuch' ? { status: 404, body: { message: 'service nosuch not found' } } : { status: 200 });
    const result = await runCli(['service', 'rm', 'back', 'nosuch', 'front'], env());
    assert.deepEqual(result, { code: 1, stdout: 'back\nfront\n', stderr: 'Error: nosuch: service nosuch not found\n' });
    assert.deepEqual(lastRequests(3).map((req) => `${req.method} ${req.path}`), ['DELETE /services/back', 'DELETE /services/nosuch', 'DELETE /services/front']);
  });

  it('node ls marks the node the daemon runs on; node inspect self resolves it through /info', async () => {
    reply = (req) => {
      if (req.path === '/info') return { body: { Swarm: { NodeID: NODE_ID, LocalNodeState: 'active' } } };
      if (req.path === '/nodes') return { body: [node(NODE_ID, 'vm')] };
      if (req.path === `/nodes/${NODE_ID}`) return { body: node(NODE_ID, 'vm') };
      return { status: 404, body: { message: 'unexpected' } };
    };
    const ls = await runCli(['node', 'ls'], env());
    assert.equal(ls.stdout, lines(
      'ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   vm         Ready     Active         Leader           20.10.24+dfsg1',
    ));
    const inspect = await runCli(['node', 'inspect', 'self'], env());
    assert.deepEqual(JSON.parse(inspect.stdout), [node(NODE_ID, 'vm')]);
  });

  describe('node ps', () => {
    const PI2 = 'pi2bbbbbbbbbbbbbbbbbbbbbb';
    const hoursAgo = (hours: number) => new Date(Date.now() - hours * 3_600_000).toISOString();
    const onNode = (id: string, nodeId: string, slot: number, state: Task['DesiredState']) => {
      const t = task(id, SERVICE_ID, slot, 'busybox:1', state, state, 0, { nodeId });
      return { ...t, CreatedAt: hoursAgo(slot), Status: { ...t.Status, Timestamp: hoursAgo(3) } };
    };
    const TASKS: Record<string, Task[]> = {
      [NODE_ID]: [onNode('a7rejd97vlqkh2jg6jqm1s22c', NODE_ID, 1, 'running')],
      [PI2]: [onNode('famzqbh3jg65g1ctl4ex4xskp', PI2, 2, 'running'), onNode('lmbl69r35ebcxumle5hhdm4iq', PI2, 3, 'shutdown')],
    };
    const nodes = [
      node(NODE_ID, 'pi-1'),
      node(PI2, 'pi-2', { Spec: { Role: 'worker', Availability: 'active', Name: 'radio' } }),
      node('pi3ccccccccccccccccccccccc', 'pi-3', { Spec: { Role: 'worker', Availability: 'active' } }),
    ];
    const daemon = (req: FakeRequest): FakeReply => {
      if (req.path === '/info') return { body: { Swarm: { NodeID: NODE_ID, LocalNodeState: 'active' } } };
      const found = nodes.find((n) => req.path === `/nodes/${n.ID}` || req.path === `/nodes/${n.Description.Hostname}`);
      if (found) return { body: found };
      if (req.path.startsWith('/nodes/')) return { status: 404, body: { message: `node ${req.path.slice(7)} not found` } };
      if (req.path === '/nodes') return { body: nodes };
      if (req.path === '/services') return { body: [back] };
      if (req.path === '/tasks') {
        const filters = JSON.parse(req.query.get('filters')!) as Record<string, string[]>;
        return { body: filters.node!.flatMap((id) => TASKS[id] ?? []) };
      }
      return { status: 404, body: { message: 'unexpected' } };
    };
    const tasksFilters = () => JSON.parse(api.requests.findLast((req) => req.path === '/tasks')!.query.get('filters')!);

    it('lists the tasks on the node the daemon runs on, with service and node names, as docker node ps does', async () => {
      reply = daemon;
      const result = await runCli(['node', 'ps'], env());
      assert.deepEqual(result, {
        code: 0,
        stdout: lines(
          'ID             NAME      IMAGE       NODE      DESIRED STATE   CURRENT STATE         ERROR     PORTS',
          'a7rejd97vlqk   back.1    busybox:1   pi-1      Running         Running 3 hours ago             ',
        ),
        stderr: '',
      });
      assert.deepEqual(tasksFilters(), { node: [NODE_ID] });
    });

    it('takes node references, adds the user\'s filters, and names a node by its given name', async () => {
      reply = daemon;
      const result = await runCli(['node', 'ps', 'pi-2', '--filter', 'desired-state=running'], env());
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^famzqbh3jg65   back\.2    busybox:1   radio     Running         Running 3 hours ago/m);
      assert.deepEqual(tasksFilters(), { 'desired-state': ['running'], node: [PI2] });
    });

    it('prints short task IDs with -q (full with --no-trunc), in the table\'s order', async () => {
      reply = daemon;
      assert.equal((await runCli(['node', 'ps', '-q', 'pi-2'], env())).stdout, lines('famzqbh3jg65', 'lmbl69r35ebc'));
      assert.equal((await runCli(['node', 'ps', '-q', '--no-trunc', 'pi-2', 'self'], env())).stdout, lines(
        'a7rejd97vlqkh2jg6jqm1s22c', 'famzqbh3jg65g1ctl4ex4xskp', 'lmbl69r35ebcxumle5hhdm4iq',
      ));
      assert.deepEqual(tasksFilters(), { node: [PI2, NODE_ID] });
    });

    it('shows IDs and asks for no names with --no-resolve', async () => {
      reply = daemon;
      const before = api.requests.length;
      const result = await runCli(['node', 'ps', '--no-resolve'], env());
      assert.match(result.stdout, new RegExp(`^a7rejd97vlqk   ${SERVICE_ID}\\.1   busybox:1   ${NODE_ID}   Running `, 'm'));
      assert.deepEqual(api.requests.slice(before).map((req) => req.path), ['/info', `/nodes/${NODE_ID}`, '/tasks']);
    });

    it('lists the tasks of the nodes found and then fails for the others, as docker does', async () => {
      reply = daemon;
      const partial = await runCli(['node', 'ps', 'pi-2', 'nosuch'], env());
      assert.equal(partial.code, 1);
      assert.equal(partial.stdout, lines(
        'ID             NAME      IMAGE       NODE      DESIRED STATE   CURRENT STATE          ERROR     PORTS',
        'famzqbh3jg65   back.2    busybox:1   radio     Running         Running 3 hours ago              ',
        'lmbl69r35ebc   back.3    busybox:1   radio     Shutdown        Shutdown 3 hours ago             ',
      ));
      assert.equal(partial.stderr, 'Error: nosuch: node nosuch not found\n');
      assert.deepEqual(await runCli(['node', 'ps', 'nosuch'], env()), { code: 1, stdout: '', stderr: 'Error: node nosuch not found\n' });
      // A node without tasks: the empty table alone, but nothing before another reference's error.
      assert.equal((await runCli(['node', 'ps', 'pi-3'], env())).stdout, lines('ID        NAME      IMAGE     NODE      DESIRED STATE   CURRENT STATE   ERROR     PORTS'));
      assert.deepEqual(await runCli(['node', 'ps', 'pi-3', 'nosuch'], env()), { code: 1, stdout: '', stderr: 'Error: nosuch: node nosuch not found\n' });
    });

    it('says so when the daemon is in no swarm', async () => {
      reply = (req) => (req.path === '/info' ? { body: { Swarm: { NodeID: '', LocalNodeState: 'inactive' } } } : { status: 404, body: { message: 'unexpected' } });
      assert.deepEqual(await runCli(['node', 'ps'], env()), { code: 1, stdout: '', stderr: 'Error: this node is not part of a swarm: run `swarmlet init` first\n' });
    });
  });

  it('node ls marks a node without memory limits in STATUS', async () => {
    const pi = node(NODE_ID, 'pi-1');
    pi.Description.MemoryLimit = false;
    reply = (req) => (req.path === '/info' ? { body: { Swarm: { NodeID: NODE_ID } } } : req.path === '/nodes' ? { body: [pi] } : { status: 404, body: { message: 'unexpected' } });
    assert.equal((await runCli(['node', 'ls'], env())).stdout, lines(
      'ID                            HOSTNAME   STATUS                     AVAILABILITY   MANAGER STATUS   ENGINE VERSION',
      'mwbff1fohwnkvuvj7yowzzvr0 *   pi-1       Ready (no memory limits)   Active         Leader           20.10.24+dfsg1',
    ));
  });

  it('init posts Docker\'s body and prints the node ID and the worker join command', async () => {
    const token = `SWLTKN-1-${'a'.repeat(50)}-${'b'.repeat(25)}`;
    reply = (req) =>
      req.path === '/swarm/init'
        ? { body: NODE_ID }
        : req.path === '/swarm'
          ? { body: { ID: 'swarm1', Version: { Index: 3 }, JoinTokens: { Worker: token, Manager: 'other' } } }
          : { status: 404, body: { message: 'unexpected' } };
    const result = await runCli(['init', '--advertise-addr', '10.0.0.5'], env());
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^Swarm initialized: current node \\(${NODE_ID}\\) is now a manager\\.\n`));
    assert.match(result.stdout, new RegExp(`swarmlet join --token ${token}\n`));
    assert.deepEqual(lastRequests(2)[0]!.body, { ListenAddr: '', AdvertiseAddr: '10.0.0.5', ForceNewCluster: false, Spec: {} });
  });
});

describe('convergence with failing tasks', () => {
  it('prints each task error once while waiting', async () => {
    let polls = 0;
    const failing: Task[] = [task('t1'.padEnd(25, '0'), SERVICE_ID, 1, 'nosuch:1', 'running', 'rejected', 0, { err: 'No such image: nosuch:1' })];
    const api = await startFakeApi((req) => {
      if (req.path === `/services/${SERVICE_ID}`) return { body: service(SERVICE_ID, 'bad', 'nosuch:1', 'replicated', 0, 1) };
      if (req.path === '/services/bad') return { body: service(SERVICE_ID, 'bad', 'nosuch:1', 'replicated', 0, 1) };
      if (req.path === `/services/${SERVICE_ID}/update`) return { body: {} };
      polls++;
      return { body: polls < 3 ? failing : [task('t2'.padEnd(25, '0'), SERVICE_ID, 1, 'nosuch:1', 'running', 'running', 0)] };
    });
    try {
      const result = await runCli(['service', 'scale', 'bad=1'], { SWARMLET_HOST: `unix://${api.socket}` });
      assert.equal(result.stdout, lines(
        'bad scaled to 1',
        // An error is written above the progress block, once.
        'bad.1: rejected: No such image: nosuch:1',
        'overall progress: 0 out of 1 tasks',
        '1/1: rejected',
        'overall progress: 1 out of 1 tasks',
        '1/1: running',
        'verify: Service bad converged',
      ));
    } finally {
      await api.close();
    }
  });
});
