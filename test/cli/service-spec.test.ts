import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs } from '../../src/cli/flags.ts';
import { CREATE_OPTIONS, buildServiceSpec } from '../../src/cli/service-spec.ts';

const spec = (argv: string[]) => buildServiceSpec(parseArgs(argv, CREATE_OPTIONS, { interspersed: false }));

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
});
