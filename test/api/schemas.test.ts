import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseServiceSpec } from '../../src/api/schemas.ts';
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
});
