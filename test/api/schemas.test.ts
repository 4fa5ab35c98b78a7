import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_MESH_PORT_CONFLICTS, parseServiceSpec } from '../../src/api/schemas.ts';
import { parseNodeDescription } from '../../src/cluster/node-report.ts';
import { SwarmletError } from '../../src/errors.ts';

const valid = () => ({
  Name: 'back',
  TaskTemplate: {
    ContainerSpec: { Image: 'swarmlet-test/busybox:1', Args: ['sleep', '1000'], Isolation: 'default' },
    Resources: { Limits: { MemoryBytes: 64 * 1024 * 1024 }, Reservations: { MemoryBytes: 64 * 1024 * 1024 } },
    ForceUpdate: 0,
    Runtime: 'container',
  },
  Mode: { Replicated: { Replicas: 3 } },
  EndpointSpec: { Mode: 'vip' },
});

function rejects(body: unknown, message: RegExp) {
  assert.throws(
    () => parseServiceSpec(body),
    (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && message.test(err.message),
  );
}

describe('service spec validation', () => {
  it('accepts what the docker CLI sends, keeping fields it does not act on', () => {
    const spec = parseServiceSpec(valid()) as unknown as ReturnType<typeof valid>;
    assert.equal(spec.TaskTemplate.ContainerSpec.Isolation, 'default');
    assert.equal(spec.Mode.Replicated.Replicas, 3);
  });

  it('refuses bad specs with a message naming the field', () => {
    const v = valid();
    rejects({ ...v, TaskTemplate: { ContainerSpec: { Image: '' } } }, /TaskTemplate\.ContainerSpec\.Image: an image is required/);
    rejects({ ...v, Mode: { Replicated: { Replicas: -1 } } }, /Mode\.Replicated\.Replicas/);
    rejects({ ...v, Mode: { Replicated: { Replicas: 1e9 } } }, /at most 100000 replicas/);
    rejects({ ...v, Mode: { Replicated: {}, Global: {} } }, /either replicated or global/);
    rejects({ ...v, Name: 'bad name!' }, /invalid name/);
    rejects({ ...v, TaskTemplate: { ...v.TaskTemplate, Resources: { Limits: { MemoryBytes: 1024 } } } }, /below the minimum of 6MB/);
    rejects({ ...v, TaskTemplate: { ...v.TaskTemplate, Resources: { Limits: { MemoryBytes: 64 << 20 }, Reservations: { MemoryBytes: 128 << 20 } } } }, /reservation must not exceed/);
    rejects({ ...v, TaskTemplate: { ...v.TaskTemplate, RestartPolicy: { Condition: 'sometimes' } } }, /RestartPolicy\.Condition/);
    rejects({ ...v, TaskTemplate: { ...v.TaskTemplate, Placement: { Constraints: ['node.labels.ssd=true'] } } }, /invalid constraint/);
    rejects('not an object', /invalid service spec/);
  });

  it('checks placement preferences and the per-node limit, saying what to write instead', () => {
    const v = valid();
    const placement = (Placement: unknown) => ({ ...v, TaskTemplate: { ...v.TaskTemplate, Placement } });
    const accepted = parseServiceSpec(
      placement({ Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'engine.labels.rack' } }], MaxReplicas: 2, Platforms: [{ Architecture: 'arm64', OS: 'linux' }] }),
    );
    assert.equal(accepted.TaskTemplate.Placement?.MaxReplicas, 2);
    rejects(placement({ Preferences: [{ Spread: { SpreadDescriptor: '' } }] }), /Placement\.Preferences\.0: invalid placement preference "spread=": spread over a label, node\.labels\.KEY/);
    rejects(placement({ Preferences: [{ Spread: { SpreadDescriptor: 'zone' } }] }), /e\.g\. .*spread=node\.labels\.zone/);
    rejects(placement({ Preferences: [{ Pack: { PackDescriptor: 'node.labels.zone' } }] }), /unsupported placement preference .*only spread is supported/);
    rejects(placement({ MaxReplicas: -1 }), /Placement\.MaxReplicas: must be 0 \(no limit\) or a positive number/);
    rejects(placement({ MaxReplicas: 1.5 }), /Placement\.MaxReplicas: must be a whole number/);
  });

  const withContainer = (fields: Record<string, unknown>) => {
    const v = valid();
    return { ...v, TaskTemplate: { ...v.TaskTemplate, ContainerSpec: { ...v.TaskTemplate.ContainerSpec, ...fields } } };
  };
  const AT = 'TaskTemplate\\.ContainerSpec';

  it('accepts what docker service create sends for --health-*, --mount and --cap-*, and swarmlet\'s devices', () => {
    const fields = {
      Healthcheck: { Test: ['CMD-SHELL', 'pgrep app'], Interval: 30e9, Timeout: 1e6, Retries: 3, StartPeriod: 0 },
      Mounts: [
        { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true, BindOptions: { Propagation: 'rslave' } },
        { Type: 'volume', Source: 'cache', Target: '/cache', VolumeOptions: { NoCopy: true, Labels: { a: '1' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs' } } } },
        { Type: 'volume', Target: '/anonymous' },
        { Type: 'tmpfs', Target: '/run/app', TmpfsOptions: { SizeBytes: 67108864, Mode: 0o1770 } },
      ],
      CapabilityAdd: ['CAP_NET_ADMIN'],
      CapabilityDrop: ['ALL'],
      Devices: [{ PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/radio', CgroupPermissions: 'rw' }],
      Privileged: true,
    };
    const container = parseServiceSpec(withContainer(fields)).TaskTemplate.ContainerSpec;
    assert.deepEqual({ ...container, Image: undefined, Args: undefined, Isolation: undefined }, { Image: undefined, Args: undefined, Isolation: undefined, ...fields });
    assert.deepEqual(parseServiceSpec(withContainer({ Healthcheck: { Test: ['NONE'] } })).TaskTemplate.ContainerSpec.Healthcheck, { Test: ['NONE'] });
    assert.deepEqual(parseServiceSpec(withContainer({ Healthcheck: { Test: [] } })).TaskTemplate.ContainerSpec.Healthcheck, { Test: [] });
    // The docker CLI sends nil lists as null.
    parseServiceSpec(withContainer({ Mounts: null, CapabilityAdd: null, CapabilityDrop: null, Devices: null, Healthcheck: null }));
  });

  it('gives a device rwm permissions when none are given, as docker run --device does', () => {
    const [device] = parseServiceSpec(withContainer({ Devices: [{ PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1' }] })).TaskTemplate.ContainerSpec.Devices!;
    assert.deepEqual(device, { PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rwm' });
  });

  it('refuses bad healthchecks, naming the field and what to write', () => {
    const health = (Healthcheck: unknown) => withContainer({ Healthcheck });
    rejects(health({ Test: ['curl', 'x'] }), new RegExp(`at ${AT}\\.Healthcheck\\.Test: must start with NONE, CMD or CMD-SHELL, e\\.g\\. \\["CMD-SHELL"`));
    rejects(health({ Test: 'pgrep app' }), new RegExp(`at ${AT}\\.Healthcheck\\.Test`));
    rejects(health({ Test: ['CMD-SHELL'] }), /CMD and CMD-SHELL need the command after them/);
    rejects(health({ Test: ['NONE', 'x'] }), /\["NONE"\] takes nothing after it/);
    for (const field of ['Interval', 'Timeout', 'StartPeriod']) {
      rejects(health({ [field]: 999_999 }), new RegExp(`Healthcheck\\.${field}: must be 0 \\(the default\\) or at least 1ms`));
      rejects(health({ [field]: -1 }), new RegExp(`Healthcheck\\.${field}: must not be negative`));
      rejects(health({ [field]: 1_500_000.5 }), new RegExp(`Healthcheck\\.${field}: must be a whole number`));
    }
    rejects(health({ Retries: -1 }), /Healthcheck\.Retries: must not be negative/);
    rejects(health({ Retries: 0.5 }), /Healthcheck\.Retries: must be a whole number/);
  });

  it('refuses bad mounts, naming the mount and the field', () => {
    const mount = (m: unknown) => withContainer({ Mounts: [{ Type: 'volume', Target: '/ok' }, m] });
    rejects(mount({ Type: 'nfs', Target: '/x' }), new RegExp(`at ${AT}\\.Mounts\\.1\\.Type: must be bind, volume or tmpfs`));
    rejects(mount({ Type: 'volume' }), /Mounts\.1\.Target: is required: the path in the container, e\.g\. \/data/);
    rejects(mount({ Type: 'volume', Target: 'data' }), /Mounts\.1\.Target: must be an absolute path in the container, e\.g\. \/data/);
    rejects(mount({ Type: 'bind', Target: '/data' }), /Mounts\.1\.Source: a bind mount needs Source, an absolute path on the node, e\.g\. \/srv\/data/);
    rejects(mount({ Type: 'bind', Source: 'srv/data', Target: '/data' }), /Mounts\.1\.Source: a bind mount needs Source, an absolute path/);
    rejects(mount({ Type: 'tmpfs', Source: '/x', Target: '/data' }), /Mounts\.1\.Source: a tmpfs mount takes no Source/);
    rejects(mount({ Type: 'bind', Source: '/a', Target: '/b', BindOptions: { Propagation: 'sideways' } }), /BindOptions\.Propagation: must be private, rprivate/);
    rejects(mount({ Type: 'tmpfs', Target: '/b', TmpfsOptions: { SizeBytes: -1 } }), /TmpfsOptions\.SizeBytes: must not be negative/);
    rejects(mount({ Type: 'volume', Target: '/b', ReadOnly: 'yes' }), /Mounts\.1\.ReadOnly/);
  });

  it('refuses bad devices, capabilities and privileged, naming the field', () => {
    const device = (d: unknown) => withContainer({ Devices: [d] });
    rejects(device({ PathOnHost: 'ttyUSB0', PathInContainer: '/dev/radio' }), new RegExp(`at ${AT}\\.Devices\\.0\\.PathOnHost: must be an absolute path on the node, e\\.g\\. /dev/i2c-1`));
    rejects(device({ PathOnHost: '/dev/ttyUSB0', PathInContainer: 'radio' }), /Devices\.0\.PathInContainer: must be an absolute path in the container/);
    rejects(device({ PathInContainer: '/dev/radio' }), /Devices\.0\.PathOnHost: is required: the device on the node/);
    rejects(device({ PathOnHost: '/dev/ttyUSB0' }), /Devices\.0\.PathInContainer: is required: the path in the container/);
    for (const permissions of ['rwx', 'rr', '', 'RW']) {
      rejects(device({ PathOnHost: '/dev/a', PathInContainer: '/dev/a', CgroupPermissions: permissions }), /Devices\.0\.CgroupPermissions: must be letters from r, w and m, each at most once/);
    }
    rejects(withContainer({ CapabilityAdd: ['NET ADMIN'] }), /CapabilityAdd\.0: capabilities are names such as CAP_NET_ADMIN, or ALL/);
    rejects(withContainer({ CapabilityDrop: 'ALL' }), /CapabilityDrop/);
    rejects(withContainer({ Privileged: 'yes' }), new RegExp(`at ${AT}\\.Privileged: must be true or false`));
  });

  it('checks published ports with Swarm\'s rules: ports in range, tcp or udp, no mesh behind dnsrr, none published twice', () => {
    const withEndpoint = (EndpointSpec: unknown) => ({ ...valid(), EndpointSpec });
    const port = (fields: Record<string, unknown>) => withEndpoint({ Mode: 'vip', Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', ...fields }] });
    const spec = parseServiceSpec(port({ PublishedPort: 8080, Name: 'http' }));
    assert.deepEqual(spec.EndpointSpec?.Ports, [{ Protocol: 'tcp', TargetPort: 80, PublishMode: 'ingress', PublishedPort: 8080, Name: 'http' }]);
    parseServiceSpec(port({ PublishedPort: 0 }));
    parseServiceSpec(withEndpoint({ Mode: 'dnsrr', Ports: [{ TargetPort: 80, PublishedPort: 8080, PublishMode: 'host' }] }));
    parseServiceSpec(withEndpoint({ Ports: [{ TargetPort: 53, PublishedPort: 53 }, { TargetPort: 53, PublishedPort: 53, Protocol: 'udp' }] }));

    rejects(port({ TargetPort: 0 }), /at EndpointSpec\.Ports\.0\.TargetPort: must be a port between 1 and 65535/);
    rejects(port({ TargetPort: 70000 }), /TargetPort: must be a port between 1 and 65535/);
    rejects(port({ TargetPort: undefined }), /TargetPort: is required: the port inside the container/);
    rejects(port({ PublishedPort: 65536 }), /PublishedPort: must be a port between 1 and 65535, or 0/);
    rejects(port({ PublishedPort: 80.5 }), /PublishedPort/);
    rejects(port({ Protocol: 'sctp' }), /Protocol: sctp is not supported by swarmlet: publish the port as tcp or udp/);
    rejects(port({ Protocol: 'icmp' }), /Protocol: must be tcp or udp/);
    rejects(port({ PublishMode: 'mesh' }), /PublishMode: must be ingress or host/);
    rejects(withEndpoint({ Mode: 'round-robin' }), /EndpointSpec\.Mode: must be vip or dnsrr/);
    rejects(withEndpoint({ Mode: 'dnsrr', Ports: [{ TargetPort: 80, PublishedPort: 8080 }] }), /at EndpointSpec: port published with ingress mode can't be used with dnsrr mode/);
    rejects(
      withEndpoint({ Ports: [{ TargetPort: 80, PublishedPort: 8080 }, { TargetPort: 81, PublishedPort: 8080, PublishMode: 'host' }] }),
      /at EndpointSpec: duplicate published ports provided: 8080\/tcp is published twice/,
    );
  });
});

describe('node description: the published ports a node could not open', () => {
  const description = (MeshPortConflicts: unknown) => ({
    Hostname: 'h2',
    Platform: { Architecture: 'x86_64', OS: 'linux' },
    Resources: { NanoCPUs: 1e9, MemoryBytes: 1e9 },
    Engine: { EngineVersion: '27.0.0' },
    MeshPortConflicts,
  });
  const conflict = { Port: 8080, Protocol: 'tcp', ServiceID: 'svc1', Error: 'address already in use' };
  const refused = (value: unknown, where: RegExp) =>
    assert.throws(
      () => parseNodeDescription(description(value)),
      (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && where.test(err.message),
      JSON.stringify(value),
    );

  it('keeps a well-formed list, and a description without one', () => {
    const list = [conflict, { ...conflict, Port: 53, Protocol: 'udp', Error: 'permission denied' }];
    assert.deepEqual(parseNodeDescription(description(list)).MeshPortConflicts, list);
    assert.equal(parseNodeDescription(description(undefined)).MeshPortConflicts, undefined);
    assert.equal(parseNodeDescription(description(Array(MAX_MESH_PORT_CONFLICTS).fill(conflict))).MeshPortConflicts!.length, MAX_MESH_PORT_CONFLICTS);
  });

  it('refuses bad shapes and over-long lists, naming where', () => {
    refused({ Port: 8080 }, /at MeshPortConflicts:/);
    refused([{ ...conflict, Port: 0 }], /at MeshPortConflicts\.0\.Port/);
    refused([{ ...conflict, Port: 65_536 }], /at MeshPortConflicts\.0\.Port/);
    refused([{ ...conflict, Port: 80.5 }], /at MeshPortConflicts\.0\.Port/);
    refused([{ ...conflict, Port: '8080' }], /at MeshPortConflicts\.0\.Port/);
    refused([{ ...conflict, Protocol: 'sctp' }], /at MeshPortConflicts\.0\.Protocol/);
    refused([{ ...conflict, ServiceID: '' }], /at MeshPortConflicts\.0\.ServiceID/);
    refused([{ ...conflict, ServiceID: 's'.repeat(129) }], /at MeshPortConflicts\.0\.ServiceID/);
    refused([{ ...conflict, Error: 'e'.repeat(201) }], /at MeshPortConflicts\.0\.Error/);
    refused([{ Port: 8080, Protocol: 'tcp', ServiceID: 'svc1' }], /at MeshPortConflicts\.0\.Error/);
    refused(Array(MAX_MESH_PORT_CONFLICTS + 1).fill(conflict), /at MeshPortConflicts:/);
  });
});
