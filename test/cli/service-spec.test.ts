import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli/flags.ts';
import { CREATE_OPTIONS, buildServiceSpec, effectiveCapabilities, environmentEntry, normalizeCapability, parseDevice } from '../../src/cli/service-spec.ts';

const CLIENT = { cwd: '/home/pi/app', env: { TZ: 'Europe/Berlin' } };
const spec = (argv: string[]) => buildServiceSpec(parseArgs(argv, CREATE_OPTIONS, { interspersed: false }), CLIENT);
const container = (argv: string[]) => spec([...argv, 'img']).TaskTemplate.ContainerSpec;

describe('buildServiceSpec', () => {
  it('sends only the image and mode for a bare create (the daemon applies the defaults)', () => {
    assert.deepEqual(spec(['busybox']), {
      TaskTemplate: { ContainerSpec: { Image: 'busybox' } },
      Mode: { Replicated: { Replicas: 1 } },
    });
  });

  it('builds the issue example exactly as docker service create would', () => {
    assert.deepEqual(
      spec(['--name', 'back', '--replicas', '3', '--reserve-memory', '64M', '--limit-memory', '64M', '--env', 'K=V', 'img:1', 'sh', '-c', 'echo hi']),
      {
        Name: 'back',
        TaskTemplate: {
          // Docker's split: the command after the image is Args (the engine's Cmd); --entrypoint is Command.
          ContainerSpec: { Image: 'img:1', Args: ['sh', '-c', 'echo hi'], Env: ['K=V'] },
          Resources: { Limits: { MemoryBytes: 67108864 }, Reservations: { MemoryBytes: 67108864 } },
        },
        Mode: { Replicated: { Replicas: 3 } },
      },
    );
  });

  it('maps every flag to its ServiceSpec field (compared with docker service inspect for the same flags)', () => {
    const built = spec([
      '--name', 'full', '--replicas', '0', '--reserve-memory', '1.5G', '--limit-memory', '2g', '--reserve-cpu', '0.5', '--limit-cpu', '2',
      '-e', 'A=1', '-e', 'B=2', '--label', 'l1=v1', '--container-label', 'c1=v1', '--restart-condition', 'on-failure',
      '--restart-delay', '1m30s', '--restart-max-attempts', '4', '--restart-window', '10s', '--stop-grace-period', '500ms',
      '--hostname', 'hh', '-u', '1000', '-w', '/tmp', '--entrypoint', 'sh -c', '--constraint', 'node.role==manager',
      'swarmlet-cliref/busybox:1', 'echo hi',
    ]);
    assert.deepEqual(built, {
      Name: 'full',
      Labels: { l1: 'v1' },
      TaskTemplate: {
        ContainerSpec: {
          Image: 'swarmlet-cliref/busybox:1',
          Labels: { c1: 'v1' },
          Command: ['sh', '-c'],
          Args: ['echo hi'],
          Hostname: 'hh',
          Env: ['A=1', 'B=2'],
          Dir: '/tmp',
          User: '1000',
          StopGracePeriod: 500000000,
        },
        Resources: {
          Limits: { NanoCPUs: 2000000000, MemoryBytes: 2147483648 },
          Reservations: { NanoCPUs: 500000000, MemoryBytes: 1610612736 },
        },
        RestartPolicy: { Condition: 'on-failure', Delay: 90000000000, MaxAttempts: 4, Window: 10000000000 },
        Placement: { Constraints: ['node.role==manager'] },
      },
      Mode: { Replicated: { Replicas: 0 } },
    });
  });

  it('fills Placement from --placement-pref and --replicas-max-per-node as docker service create does', () => {
    const built = spec([
      '--constraint', 'node.role!=manager', '--placement-pref', 'spread=node.labels.zone', '--placement-pref', 'spread=node.labels.rack',
      '--replicas-max-per-node', '2', 'img',
    ]);
    assert.deepEqual(built.TaskTemplate.Placement, {
      Constraints: ['node.role!=manager'],
      Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'node.labels.rack' } }],
      MaxReplicas: 2,
    });
    // 0 is no limit: Docker leaves it out, and so no Placement at all.
    assert.equal(spec(['--replicas-max-per-node', '0', 'img']).TaskTemplate.Placement, undefined);
  });

  it('refuses placement flags it cannot express', () => {
    assert.throws(() => spec(['--placement-pref', 'node.labels.zone', 'img']), /invalid --placement-pref "node.labels.zone": use STRATEGY=ARG/);
    assert.throws(() => spec(['--placement-pref', 'pack=node.labels.zone', 'img']), /only spread is supported/);
    assert.throws(() => spec(['--replicas-max-per-node', '-1', 'img']), /invalid value "-1" for --replicas-max-per-node/);
    assert.throws(() => spec(['--mode', 'global', '--replicas-max-per-node', '1', 'img']), /--replicas-max-per-node can only be used with replicated mode/);
  });

  it('makes global services', () => {
    assert.deepEqual(spec(['--mode', 'global', 'img']).Mode, { Global: {} });
    assert.throws(() => spec(['--mode', 'global', '--replicas', '2', 'img']), /--replicas can only be used with replicated mode/);
    assert.throws(() => spec(['--mode', 'both', 'img']), /invalid --mode "both"/);
  });

  it('keeps names and env values as typed', () => {
    const built = spec(['--name', '123', '-e', 'ZIP=01234', 'img']);
    assert.equal(built.Name, '123');
    assert.deepEqual(built.TaskTemplate.ContainerSpec.Env, ['ZIP=01234']);
  });

  it('rejects bad values with a message naming the flag or value', () => {
    assert.throws(() => spec(['--replicas', 'three', 'img']), /invalid value "three" for --replicas/);
    assert.throws(() => spec(['--replicas', '-1', 'img']), /invalid value "-1" for --replicas/);
    assert.throws(() => spec(['--limit-memory', '64X', 'img']), /invalid memory size "64X"/);
    assert.throws(() => spec(['--restart-delay', '10', 'img']), /invalid duration "10"/);
    assert.throws(() => spec(['--restart-condition', 'always', 'img']), /invalid --restart-condition "always": use none, on-failure or any/);
    assert.throws(() => spec(['--label', '=v', 'img']), /invalid label "=v"/);
    assert.throws(() => spec([]), /service create needs an image/);
  });

  it('refuses replica counts Docker refuses: negative, fractional, not a number', () => {
    for (const bad of ['-1', '1.5', '1e3', '+3', '', 'three']) {
      assert.throws(() => spec(['--replicas', bad, 'img']), new RegExp(`invalid value "${bad.replace('+', '\\+')}" for --replicas`), bad);
    }
    assert.throws(() => spec(['--replicas', '99999999999999999999', 'img']), /invalid value "99999999999999999999" for --replicas/);
    assert.deepEqual(spec(['--mode', 'replicated', '--replicas', '0', 'img']).Mode, { Replicated: { Replicas: 0 } });
    assert.throws(() => spec(['--mode', 'Global', 'img']), /invalid --mode "Global": use replicated or global/);
  });
});

describe('healthcheck flags', () => {
  it('makes a CMD-SHELL test with the durations in nanoseconds, as docker service create does', () => {
    assert.deepEqual(
      container(['--health-cmd', 'wget -q -O- http://localhost/ || exit 1', '--health-interval', '30s', '--health-timeout', '3s', '--health-retries', '3', '--health-start-period', '1m']).Healthcheck,
      { Test: ['CMD-SHELL', 'wget -q -O- http://localhost/ || exit 1'], Interval: 30e9, Timeout: 3e9, Retries: 3, StartPeriod: 60e9 },
    );
  });

  it('sends a setting without a command (the image\'s test keeps running), and leaves out zeros as Docker does', () => {
    assert.deepEqual(container(['--health-interval', '5s']).Healthcheck, { Interval: 5e9 });
    // A zero duration still counts as given (Docker sends an empty HealthConfig); zero retries do not.
    assert.deepEqual(container(['--health-timeout', '0s']).Healthcheck, {});
    assert.equal(container(['--health-retries', '0']).Healthcheck, undefined);
    assert.equal(container([]).Healthcheck, undefined);
  });

  it('turns the image\'s healthcheck off with --no-healthcheck, which conflicts with any --health-* setting', () => {
    assert.deepEqual(container(['--no-healthcheck']).Healthcheck, { Test: ['NONE'] });
    assert.deepEqual(container(['--no-healthcheck', '--health-retries', '0']).Healthcheck, { Test: ['NONE'] });
    assert.equal(container(['--no-healthcheck=false']).Healthcheck, undefined);
    for (const setting of [['--health-cmd', 'true'], ['--health-interval', '1s'], ['--health-timeout', '0s'], ['--health-start-period', '2s'], ['--health-retries', '2']]) {
      assert.throws(() => container(['--no-healthcheck', ...setting]), /^SwarmletError: --no-healthcheck conflicts with --health-\* options$/, setting[0]);
    }
  });

  it('refuses bad values, naming the flag', () => {
    assert.throws(() => container(['--health-interval', '30']), /invalid duration "30"/);
    assert.throws(() => container(['--health-timeout', '-1s']), /invalid duration "-1s": a duration cannot be negative/);
    assert.throws(() => container(['--health-retries', '-1']), /invalid value "-1" for --health-retries/);
  });
});

describe('--mount', () => {
  it('builds each mount type as docker service create does', () => {
    assert.deepEqual(
      container([
        '--mount', 'type=bind,source=/srv/data,target=/data,readonly,bind-propagation=rslave',
        '--mount', 'type=volume,src=cache,dst=/cache,volume-nocopy,volume-label=a=1,volume-label=b,volume-driver=local,volume-opt=type=tmpfs,volume-opt=device=tmpfs',
        '--mount', 'type=tmpfs,destination=/run/app,tmpfs-size=64m,tmpfs-mode=1770',
        '--mount', 'target=/anonymous',
      ]).Mounts,
      [
        { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true, BindOptions: { Propagation: 'rslave' } },
        {
          Type: 'volume',
          Source: 'cache',
          Target: '/cache',
          VolumeOptions: { NoCopy: true, Labels: { a: '1', b: '' }, DriverConfig: { Name: 'local', Options: { type: 'tmpfs', device: 'tmpfs' } } },
        },
        { Type: 'tmpfs', Target: '/run/app', TmpfsOptions: { SizeBytes: 67108864, Mode: 0o1770 } },
        // Docker's default type is volume; without a source the engine makes an anonymous one.
        { Type: 'volume', Target: '/anonymous' },
      ],
    );
  });

  it('reads Docker\'s spellings: any case for keys and type, ro=false, quoted fields, ./ sources from the working directory', () => {
    assert.deepEqual(container(['--mount', 'Type=BIND,Source=./data,Target=/data,ro=false']).Mounts, [
      { Type: 'bind', Source: '/home/pi/app/data', Target: '/data' },
    ]);
    assert.deepEqual(container(['--mount', '"volume-opt=o=addr=10.0.0.1,rw",target=/nfs,source=nfs']).Mounts, [
      { Type: 'volume', Source: 'nfs', Target: '/nfs', VolumeOptions: { DriverConfig: { Options: { o: 'addr=10.0.0.1,rw' } } } },
    ]);
  });

  it('refuses what Docker or its daemon would refuse, saying which --mount and what to write', () => {
    const refuses = (value: string, why: RegExp) =>
      assert.throws(() => container(['--mount', value]), (err: Error) => err.message.startsWith(`invalid --mount "${value}": `) && why.test(err.message), value);
    refuses('type=bind,source=/srv', /target is required: the path in the container, e\.g\. target=\/data/);
    refuses('type=bind,target=/data', /a bind mount needs a source: the path on the node, e\.g\. source=\/srv\/data/);
    refuses('type=bind,src=/a,target=/b,size=1', /unknown option "size": use type, source, src, target, .* or tmpfs-mode/);
    refuses('type=nfs,target=/b', /unsupported type "nfs": use bind, volume or tmpfs/);
    refuses('type=volume,target=/b,bind-propagation=rshared', /cannot mix bind-\* options with type=volume/);
    refuses('type=bind,src=/a,target=/b,volume-nocopy', /cannot mix volume-\* options with type=bind/);
    refuses('target=/b,tmpfs-size=1m', /cannot mix tmpfs-\* options with type=volume/);
    refuses('type=tmpfs,src=/a,target=/b', /a tmpfs mount takes no source/);
    refuses('type=bind,src=/a,target=/b,readonly=yes', /invalid readonly "yes": use readonly, readonly=true or readonly=false/);
    refuses('type=bind,src=/a,target=/b,bind-propagation=sideways', /invalid bind-propagation "sideways"/);
    refuses('type=tmpfs,target=/b,tmpfs-size=lots', /invalid tmpfs-size "lots"/);
    refuses('type=tmpfs,target=/b,tmpfs-mode=0999', /invalid tmpfs-mode "0999": use an octal file mode/);
    refuses('type=bind,source,target=/b', /"source" needs a value: source=VALUE/);
    refuses('type=bind,source=,target=/b', /source needs a value/);
    refuses('type=bind,source= /a,target=/b', /remove the spaces around the value of source/);
    refuses('type=volume,target=/b,volume-label==x', /invalid volume-label "=x"/);
    refuses('type=bind,"source=/a,target=/b', /a quoted field has no closing quote/);
    refuses('type=bind,so"urce=/a,target=/b', /a quote may only open a field/);
    assert.throws(() => container(['--mount', ' ']), /invalid --mount " ": the value is empty/);
  });
});

describe('capabilities', () => {
  it('normalises names as Docker does', () => {
    assert.equal(normalizeCapability('net_admin'), 'CAP_NET_ADMIN');
    assert.equal(normalizeCapability(' cap_sys_time '), 'CAP_SYS_TIME');
    assert.equal(normalizeCapability('all'), 'ALL');
  });

  it('sends sorted lists without duplicates; ALL stands alone; adding wins over dropping', () => {
    assert.deepEqual(
      container(['--cap-add', 'sys_rawio', '--cap-add', 'NET_ADMIN', '--cap-add', 'cap_net_admin', '--cap-drop', 'chown', '--cap-drop', 'net_admin']),
      { Image: 'img', CapabilityAdd: ['CAP_NET_ADMIN', 'CAP_SYS_RAWIO'], CapabilityDrop: ['CAP_CHOWN'] },
    );
    assert.deepEqual(effectiveCapabilities(['net_admin'], ['all', 'chown']), { add: ['CAP_NET_ADMIN'], drop: ['ALL'] });
    assert.deepEqual(effectiveCapabilities(['ALL', 'net_admin'], ['all']), { add: ['ALL'] });
    assert.deepEqual(effectiveCapabilities(['reset'], []), {}, 'RESET belongs to service update');
  });
});

describe('swarmlet\'s --device and --privileged', () => {
  it('reads --device as docker run does: the container path defaults to the host\'s, permissions to rwm', () => {
    assert.deepEqual(parseDevice('/dev/i2c-1'), { PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rwm' });
    assert.deepEqual(parseDevice('/dev/ttyUSB0:/dev/radio'), { PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/radio', CgroupPermissions: 'rwm' });
    assert.deepEqual(parseDevice('/dev/gpiomem:rw'), { PathOnHost: '/dev/gpiomem', PathInContainer: '/dev/gpiomem', CgroupPermissions: 'rw' });
    assert.deepEqual(parseDevice('/dev/video0:/dev/cam:r'), { PathOnHost: '/dev/video0', PathInContainer: '/dev/cam', CgroupPermissions: 'r' });
  });

  it('refuses devices the engine could not map, with the form to use', () => {
    assert.throws(() => parseDevice('/dev/a:/dev/b:rw:x'), /invalid --device "\/dev\/a:\/dev\/b:rw:x": use \/dev\/HOST\[:\/dev\/CONTAINER\[:PERMISSIONS\]\]/);
    assert.throws(() => parseDevice('ttyUSB0'), /the device on the node must be an absolute path, e\.g\. \/dev\/i2c-1/);
    assert.throws(() => parseDevice('/dev/ttyUSB0:radio'), /the path in the container must be absolute/);
    assert.throws(() => parseDevice('/dev/a:/dev/b:rwx'), /invalid permissions "rwx": use letters from r \(read\), w \(write\) and m \(mknod\)/);
    assert.throws(() => parseDevice('/dev/a:/dev/b:rr'), /invalid permissions "rr"/);
    assert.throws(() => parseDevice('/dev/a:/dev/b:'), /invalid permissions ""/);
  });

  it('puts devices and privileged in the container spec, and leaves both out unless asked', () => {
    assert.deepEqual(container(['--device', '/dev/i2c-1', '--device', '/dev/gpiomem:rw', '--privileged']), {
      Image: 'img',
      Devices: [
        { PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rwm' },
        { PathOnHost: '/dev/gpiomem', PathInContainer: '/dev/gpiomem', CgroupPermissions: 'rw' },
      ],
      Privileged: true,
    });
    assert.deepEqual(container(['--privileged=false']), { Image: 'img' });
  });
});

describe('--env', () => {
  it('takes a bare NAME\'s value from the client\'s environment, as Docker does, and refuses an empty name', () => {
    assert.deepEqual(container(['-e', 'TZ', '-e', 'UNSET', '-e', 'A=']).Env, ['TZ=Europe/Berlin', 'UNSET', 'A=']);
    assert.equal(environmentEntry('X=1=2', {}), 'X=1=2');
    assert.throws(() => container(['-e', '=x']), /invalid environment variable "=x": use NAME=VALUE/);
  });
});


describe('update and rollback policy flags', () => {
  const DEFAULTS = { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };

  it('sends no policy unless one of its flags is given (the daemon applies the defaults)', () => {
    const built = spec(['--name', 'web', '--replicas', '2', 'img']);
    assert.equal(built.UpdateConfig, undefined);
    assert.equal(built.RollbackConfig, undefined);
  });

  it('sends a whole policy, Docker\'s defaults filling the fields not given, as docker service create does', () => {
    const built = spec(['--update-parallelism', '2', '--update-delay', '10s', 'img']);
    assert.deepEqual(built.UpdateConfig, { ...DEFAULTS, Parallelism: 2, Delay: 10e9 });
    assert.equal(built.RollbackConfig, undefined, 'the rollback policy is only sent when a --rollback-* flag is given');
    const rollback = spec(['--rollback-failure-action', 'continue', '--rollback-parallelism', '0', 'img']);
    assert.deepEqual(rollback.RollbackConfig, { ...DEFAULTS, FailureAction: 'continue', Parallelism: 0 });
    assert.equal(rollback.UpdateConfig, undefined);
  });

  it('maps every policy flag to its field, durations in nanoseconds', () => {
    const built = spec([
      '--update-parallelism', '3', '--update-delay', '1m30s', '--update-monitor', '20s', '--update-failure-action', 'rollback',
      '--update-max-failure-ratio', '0.2', '--update-order', 'start-first',
      '--rollback-parallelism', '0', '--rollback-delay', '500ms', '--rollback-monitor', '0', '--rollback-failure-action', 'pause',
      '--rollback-max-failure-ratio', '1', '--rollback-order', 'stop-first', '--mode', 'global', 'img',
    ]);
    assert.deepEqual(built.UpdateConfig, { Parallelism: 3, Delay: 90e9, FailureAction: 'rollback', Monitor: 20e9, MaxFailureRatio: 0.2, Order: 'start-first' });
    assert.deepEqual(built.RollbackConfig, { Parallelism: 0, Delay: 5e8, FailureAction: 'pause', Monitor: 0, MaxFailureRatio: 1, Order: 'stop-first' });
  });

  it('refuses bad values before anything is sent, naming the flag', () => {
    assert.throws(() => spec(['--update-parallelism', '-1', 'img']), /^SwarmletError: invalid --update-parallelism "-1": use a whole number of tasks, at least 0 \(0 means all at once\)$/);
    assert.throws(() => spec(['--update-delay', '5', 'img']), /^SwarmletError: invalid --update-delay "5": use a number with a unit/);
    assert.throws(() => spec(['--rollback-max-failure-ratio', '1.1', 'img']), /^SwarmletError: invalid --rollback-max-failure-ratio "1.1": use a number from 0 to 1/);
    assert.throws(() => spec(['--update-failure-action', 'Pause', 'img']), /^SwarmletError: invalid --update-failure-action "Pause": use pause, continue or rollback$/);
    assert.throws(() => spec(['--rollback-failure-action', 'rollback', 'img']), /^SwarmletError: invalid --rollback-failure-action "rollback": use pause or continue$/);
    assert.throws(() => spec(['--rollback-order', 'last-first', 'img']), /^SwarmletError: invalid --rollback-order "last-first": use stop-first or start-first$/);
  });
});
