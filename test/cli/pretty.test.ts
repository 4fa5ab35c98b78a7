/** `inspect --pretty`, against the docker CLI 28 output captured for the same objects. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service } from '../../src/api/types.ts';
import { goTime, prettyNode, prettyService } from '../../src/cli/views/pretty.ts';
import { NODE_ID, node } from './docker-fixtures.ts';

const updateConfig = { Parallelism: 1, FailureAction: 'pause' as const, Monitor: 5_000_000_000, MaxFailureRatio: 0, Order: 'stop-first' as const };

describe('prettyService', () => {
  it('lists the Endpoint\'s ports after the endpoint mode, as Docker\'s template does (a space ends the last)', () => {
    const service: Service = {
      ID: 'v1abbs71d77e9wupts94kvt8f',
      Version: { Index: 12 },
      CreatedAt: '2026-11-27T02:49:00Z',
      UpdatedAt: '2026-11-27T02:49:00Z',
      Spec: {
        Name: 'web',
        TaskTemplate: { ContainerSpec: { Image: 'nginx:1', Healthcheck: { Test: ['NONE'] } } },
        Mode: { Replicated: { Replicas: 1 } },
        EndpointSpec: { Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress' }] },
      },
      Endpoint: {
        Spec: { Mode: 'vip' },
        Ports: [
          { Protocol: 'tcp', TargetPort: 80, PublishedPort: 30000, PublishMode: 'ingress' },
          { Protocol: 'udp', TargetPort: 53, PublishedPort: 5353, PublishMode: 'host' },
        ],
      },
    };
    const text = prettyService(service);
    assert.ok(
      text.includes(
        [
          'Endpoint Mode:\tvip',
          'Ports:',
          ' PublishedPort = 30000',
          '  Protocol = tcp',
          '  TargetPort = 80',
          '  PublishMode = ingress',
          ' PublishedPort = 5353',
          '  Protocol = udp',
          '  TargetPort = 53',
          '  PublishMode = host ',
          ' Healthcheck:',
        ].join('\n'),
      ),
      text,
    );
    assert.ok(!prettyService({ ...service, Endpoint: { Spec: { Mode: 'vip' } } }).includes('Ports:'));
  });

  it('matches docker service inspect --pretty for a service Docker Swarm created', () => {
    const service: Service = {
      ID: 'v1abbs71d77e9wupts94kvt8f',
      Version: { Index: 12 },
      CreatedAt: '2026-11-27T02:49:00Z',
      UpdatedAt: '2026-11-27T02:49:00Z',
      Spec: {
        Name: 'back',
        TaskTemplate: {
          ContainerSpec: { Image: 'swarmlet-cliref/busybox:1', Args: ['sleep', '1000'], Env: ['K=V'], Init: false },
          Resources: { Limits: { MemoryBytes: 67108864 }, Reservations: { MemoryBytes: 67108864 } },
        },
        Mode: { Replicated: { Replicas: 3 } },
        UpdateConfig: updateConfig,
        RollbackConfig: updateConfig,
        EndpointSpec: { Mode: 'vip' },
      },
    };
    assert.equal(
      prettyService(service),
      [
        '',
        'ID:\t\tv1abbs71d77e9wupts94kvt8f',
        'Name:\t\tback',
        'Service Mode:\tReplicated',
        ' Replicas:\t3',
        'Placement:',
        'UpdateConfig:',
        ' Parallelism:\t1',
        ' On failure:\tpause',
        ' Monitoring Period: 5s',
        ' Max failure ratio: 0',
        ' Update order:      stop-first',
        'RollbackConfig:',
        ' Parallelism:\t1',
        ' On failure:\tpause',
        ' Monitoring Period: 5s',
        ' Max failure ratio: 0',
        ' Rollback order:    stop-first',
        'ContainerSpec:',
        ' Image:\t\tswarmlet-cliref/busybox:1',
        ' Args:\t\tsleep 1000 ',
        ' Env:\t\tK=V ',
        ' Init:\t\tfalse',
        'Resources:',
        ' Reservations:',
        '  Memory:\t64MiB',
        ' Limits:',
        '  Memory:\t64MiB',
        'Endpoint Mode:\tvip',
        '',
        '',
      ].join('\n'),
    );
  });

  it('shows where the last update stands, its times as how long ago', () => {
    const base: Service = {
      ID: 'v1abbs71d77e9wupts94kvt8f',
      Version: { Index: 12 },
      CreatedAt: '2026-11-27T02:49:00Z',
      UpdatedAt: '2026-11-27T02:49:00Z',
      Spec: { Name: 'back', TaskTemplate: { ContainerSpec: { Image: 'img' } }, Mode: { Replicated: { Replicas: 3 } } },
    };
    const now = Date.parse('2026-11-27T03:00:00Z');
    const completed = prettyService({
      ...base,
      UpdateStatus: { State: 'completed', StartedAt: '2026-11-27T02:57:00Z', CompletedAt: '2026-11-27T02:59:30Z', Message: 'update completed' },
    }, now);
    assert.ok(completed.includes(' Replicas:\t3\nUpdateStatus:\n State:\t\tcompleted\n Started:\t3 minutes ago\n Completed:\t30 seconds ago\n Message:\tupdate completed\nPlacement:\n'), completed);
    const paused = prettyService({ ...base, UpdateStatus: { State: 'paused', StartedAt: '2026-11-27T02:59:59.500Z', Message: 'update paused: task x failed' } }, now);
    assert.ok(paused.includes('UpdateStatus:\n State:\t\tpaused\n Started:\tLess than a second ago\n Message:\tupdate paused: task x failed\n'), paused);
    assert.ok(!prettyService(base, now).includes('UpdateStatus'));
  });

  it('shows labels, constraints, CPUs and sizes as docker does, plus the entrypoint and restart policy', () => {
    const service: Service = {
      ID: '8b1kx3vuk60rue3mfh702ebm1',
      Version: { Index: 906 },
      CreatedAt: '2026-11-27T03:00:44.365261932Z',
      UpdatedAt: '2026-11-27T03:00:44.365261932Z',
      Spec: {
        Name: 'full',
        Labels: { l1: 'v1' },
        TaskTemplate: {
          ContainerSpec: { Image: 'swarmlet-cliref/busybox:1', Command: ['sh', '-c'], Args: ['echo hi'], Env: ['A=1', 'B=2'], Dir: '/tmp', User: '1000' },
          Resources: { Limits: { NanoCPUs: 2e9, MemoryBytes: 2147483648 }, Reservations: { NanoCPUs: 5e8, MemoryBytes: 1610612736 } },
          RestartPolicy: { Condition: 'on-failure', Delay: 90e9, MaxAttempts: 4, Window: 10e9 },
          Placement: { Constraints: ['node.role==manager'] },
        },
        Mode: { Replicated: { Replicas: 0 } },
      },
    };
    assert.equal(
      prettyService(service),
      [
        '',
        'ID:\t\t8b1kx3vuk60rue3mfh702ebm1',
        'Name:\t\tfull',
        'Labels:',
        ' l1=v1',
        'Service Mode:\tReplicated',
        ' Replicas:\t0',
        'Placement:',
        ' Constraints:\t[node.role==manager]',
        'ContainerSpec:',
        ' Image:\t\tswarmlet-cliref/busybox:1',
        ' Command:\tsh -c', // swarmlet's addition
        ' Args:\t\techo hi ',
        ' Env:\t\tA=1 B=2 ',
        ' Dir:\t\t/tmp',
        ' User: 1000',
        'Resources:',
        ' Reservations:',
        '  CPU:\t\t0.5',
        '  Memory:\t1.5GiB',
        ' Limits:',
        '  CPU:\t\t2',
        '  Memory:\t2GiB',
        'RestartPolicy:', // swarmlet's addition
        ' Condition:\ton-failure',
        ' Delay:\t\t1m30s',
        ' Max attempts:\t4',
        ' Window:\t10s',
        'Endpoint Mode:\tvip',
        '',
        '',
      ].join('\n'),
    );
  });

  it('shows capabilities, mounts and the healthcheck where Docker\'s template puts them, and swarmlet\'s devices', () => {
    const service: Service = {
      ID: '8b1kx3vuk60rue3mfh702ebm1',
      Version: { Index: 7 },
      CreatedAt: '2026-11-27T03:00:44Z',
      UpdatedAt: '2026-11-27T03:00:44Z',
      Spec: {
        Name: 'sensor',
        TaskTemplate: {
          ContainerSpec: {
            Image: 'sensor:1',
            CapabilityAdd: ['CAP_NET_ADMIN', 'CAP_SYS_RAWIO'],
            CapabilityDrop: ['CAP_CHOWN'],
            Mounts: [{ Type: 'bind', Source: '/srv/sensor', Target: '/data', ReadOnly: true }, { Type: 'tmpfs', Target: '/run' }],
            Devices: [{ PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rw' }],
            Privileged: true,
            Healthcheck: { Test: ['CMD-SHELL', 'pgrep sensor'], Interval: 10e9, Retries: 3 },
          },
        },
        Mode: { Replicated: { Replicas: 1 } },
      },
    };
    assert.equal(
      prettyService(service),
      [
        '',
        'ID:\t\t8b1kx3vuk60rue3mfh702ebm1',
        'Name:\t\tsensor',
        'Service Mode:\tReplicated',
        ' Replicas:\t1',
        'Placement:',
        'ContainerSpec:',
        ' Image:\t\tsensor:1',
        ' Privileged:\ttrue', // swarmlet's addition
        'Capabilities:',
        ' Add: CAP_NET_ADMIN, CAP_SYS_RAWIO',
        ' Drop: CAP_CHOWN',
        'Mounts:',
        ' Target:\t/data',
        '  Source:\t/srv/sensor',
        '  ReadOnly:\ttrue',
        '  Type:\t\tbind',
        ' Target:\t/run',
        '  Source:\t',
        '  ReadOnly:\tfalse',
        '  Type:\t\ttmpfs',
        'Devices:', // swarmlet's addition
        ' /dev/i2c-1:/dev/i2c-1:rw',
        'Endpoint Mode:\tvip',
        // Docker's template: indented, `=` with a tab for two fields, and a blank after the last test.
        ' Healthcheck:',
        '  Interval = 10s',
        '  Retries = 3',
        '  StartPeriod =\t0s',
        '  Timeout =\t0s',
        '  Tests:',
        '\t Test = CMD-SHELL',
        '\t Test = pgrep sensor ',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('prettyNode', () => {
  it('matches docker node inspect --pretty self (a swarmlet node: no TLS section)', () => {
    const self = node(NODE_ID, 'clihost', {
      CreatedAt: '2026-11-27T03:09:52.115Z',
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: '127.0.0.1:4377' },
    });
    assert.equal(
      prettyNode(self),
      [
        `ID:\t\t\t${NODE_ID}`,
        'Hostname:              \tclihost',
        'Joined at:             \t2026-11-27 03:09:52.115 +0000 utc',
        'Status:',
        ' State:\t\t\tReady',
        ' Availability:         \tActive',
        ' Address:\t\t127.0.0.1',
        'Manager Status:',
        ' Address:\t\t127.0.0.1:4377',
        ' Raft Status:\t\tReachable',
        ' Leader:\t\tYes',
        'Platform:',
        ' Operating System:\tlinux',
        ' Architecture:\t\tx86_64',
        'Resources:',
        ' CPUs:\t\t\t2',
        ' Memory:\t\t23.54GiB',
        'Engine Version:\t\t20.10.24+dfsg1',
        '',
      ].join('\n'),
    );
  });

  it('says when memory limits are not enforced and how to fix it on a Raspberry Pi, and counts the images', () => {
    const pi = node(NODE_ID, 'pi-1', { ManagerStatus: undefined });
    pi.Description.MemoryLimit = false;
    pi.Description.Images = [
      { ID: 'sha256:1', RepoTags: ['busybox:1'], RepoDigests: [], Platform: { OS: 'linux', Architecture: 'arm64' } },
      { ID: 'sha256:2', RepoTags: ['app:2'], RepoDigests: [], Platform: { OS: 'linux', Architecture: 'arm64' } },
    ];
    const text = prettyNode(pi);
    assert.ok(
      text.includes(
        [
          ' Memory:\t\t23.54GiB',
          ' Memory limits:\t\tnot enforced (memory cgroup disabled): tasks with a memory limit or reservation are not placed here',
          '  To enable on a Raspberry Pi: add "cgroup_enable=memory cgroup_memory=1" to /boot/cmdline.txt (or /boot/firmware/cmdline.txt) and reboot',
          'Engine Version:\t\t20.10.24+dfsg1',
          'Images:\t\t\t2',
          '',
        ].join('\n'),
      ),
      text,
    );
  });

  it('adds nothing for a node that enforces memory limits', () => {
    const pi = node(NODE_ID, 'pi-1');
    pi.Description.MemoryLimit = true;
    assert.equal(prettyNode(pi), prettyNode(node(NODE_ID, 'pi-1')));
    assert.doesNotMatch(prettyNode(pi), /Memory limits|Images/);
  });

  it('lists the published ports the node\'s routing mesh could not open, last, with why and what to do', () => {
    const busy = node(NODE_ID, 'h2', { ManagerStatus: undefined });
    busy.Description.MeshPortConflicts = [
      { Port: 80, Protocol: 'tcp', ServiceID: 'svc1', Error: 'permission denied' },
      { Port: 8080, Protocol: 'udp', ServiceID: 'svc2', Error: 'address already in use' },
    ];
    const text = prettyNode(busy);
    assert.ok(
      text.endsWith(
        [
          'Engine Version:\t\t20.10.24+dfsg1',
          'Published ports not open:',
          ' 80/tcp:\t\tservice svc1: permission denied',
          ' 8080/udp:\t\tservice svc2: address already in use',
          '  The routing mesh keeps trying them and answers once they are free: stop what holds them, or publish other ports',
          '',
        ].join('\n'),
      ),
      text,
    );
    busy.Description.MeshPortConflicts = [];
    assert.equal(prettyNode(busy), prettyNode(node(NODE_ID, 'h2', { ManagerStatus: undefined })), 'an empty list shows nothing');
  });

  it('writes times as Go does', () => {
    assert.equal(goTime('2026-11-27T02:48:18.739119331Z'), '2026-11-27 02:48:18.739119331 +0000 utc');
    assert.equal(goTime('2026-11-27T02:48:18.700Z'), '2026-11-27 02:48:18.7 +0000 utc');
    assert.equal(goTime('2026-11-27T02:48:18Z'), '2026-11-27 02:48:18 +0000 utc');
  });
});
