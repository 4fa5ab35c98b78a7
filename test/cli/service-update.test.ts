/**
 * `service update`'s flags as Docker's `service update` applies them (cli/command/service/update.go), checked on the
 * whole spec so that a flag is seen to change what it names and nothing else; and `service update --rollback` and
 * `service rollback` as the requests they send to a fake daemon.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Service, ServiceSpec } from '../../src/api/types.ts';
import { parseArgs } from '../../src/cli/flags.ts';
import { UPDATE_OPTIONS } from '../../src/cli/service-update.ts';
import { readServiceUpdate, updateCapabilities, updateServiceSpec } from '../../src/cli/service-update-spec.ts';
import { service } from './docker-fixtures.ts';
import { type FakeApi, type FakeReply, type FakeRequest, runCli, startFakeApi } from './fake-api.ts';

const CLIENT = { cwd: '/home/pi/app', env: { TZ: 'Europe/Berlin' } };
const MiB = 1024 * 1024;

const BASE: ServiceSpec = {
  Name: 'web',
  Labels: { tier: 'front', owner: 'ops' },
  TaskTemplate: {
    ContainerSpec: {
      Image: 'web:1',
      Labels: { team: 'a' },
      Args: ['serve'],
      Env: ['A=1', 'B=2', 'C=3'],
      User: 'web',
      Mounts: [
        { Type: 'volume', Source: 'cache', Target: '/cache' },
        { Type: 'bind', Source: '/srv/data', Target: '/data', ReadOnly: true },
      ],
      Healthcheck: { Test: ['CMD-SHELL', 'wget -q localhost'], Interval: 30e9, Retries: 3 },
      CapabilityAdd: ['CAP_NET_ADMIN'],
      CapabilityDrop: ['CAP_CHOWN'],
      Devices: [{ PathOnHost: '/dev/i2c-1', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rwm' }],
    },
    Resources: { Limits: { MemoryBytes: 64 * MiB }, Reservations: { NanoCPUs: 5e8 } },
    RestartPolicy: { Condition: 'on-failure', MaxAttempts: 3 },
    Placement: { Constraints: ['node.role==worker'], Preferences: [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }], MaxReplicas: 2 },
  },
  Mode: { Replicated: { Replicas: 3 } },
  EndpointSpec: { Mode: 'vip' },
};

const update = (argv: string[], spec: ServiceSpec = BASE) => updateServiceSpec(spec, parseArgs(argv, UPDATE_OPTIONS, { interspersed: true }), new Map(), CLIENT);

/** The spec `argv` makes of BASE equals BASE with `edit` made to it, and nothing else. */
function expectUpdate(argv: string[], edit: (spec: ServiceSpec) => void, spec: ServiceSpec = BASE): void {
  const expected = structuredClone(spec);
  edit(expected);
  assert.deepEqual(update(argv, spec), expected, argv.join(' '));
}

const refuses = (argv: string[], message: string) =>
  assert.throws(() => update(argv), (err: Error) => err.message === message, `${argv.join(' ')} should fail with: ${message}`);

describe('updateServiceSpec', () => {
  it('changes nothing without flags, and never the spec it was given', () => {
    const before = structuredClone(BASE);
    assert.deepEqual(update([]), BASE);
    update(['--env-rm', 'A', '--label-add', 'x=1', '--mount-rm', '/data', '--cap-add', 'sys_time', '--update-delay', '1s', '--limit-cpu', '1']);
    assert.deepEqual(BASE, before);
  });

  describe('update and rollback policy', () => {
    it('starts from Docker\'s defaults when the service has no policy, and sets only the fields named', () => {
      expectUpdate(['--update-parallelism', '2', '--update-delay', '10s'], (spec) => {
        spec.UpdateConfig = { Parallelism: 2, Delay: 10e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' };
      });
      expectUpdate(['--rollback-order', 'start-first'], (spec) => {
        spec.RollbackConfig = { Parallelism: 1, Delay: 0, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'start-first' };
      });
    });

    it('changes only the fields named in the service\'s own policy', () => {
      const withPolicy: ServiceSpec = {
        ...BASE,
        UpdateConfig: { Parallelism: 4, Delay: 1e9, FailureAction: 'continue', Monitor: 1e9, MaxFailureRatio: 0.5, Order: 'start-first' },
        RollbackConfig: { Parallelism: 0, Monitor: 2e9 },
      };
      expectUpdate(['--update-failure-action', 'rollback', '--update-max-failure-ratio', '0.25'], (spec) => {
        spec.UpdateConfig = { ...spec.UpdateConfig!, FailureAction: 'rollback', MaxFailureRatio: 0.25 };
      }, withPolicy);
      // A partial policy stays partial: what the daemon reads as its default is not written in.
      expectUpdate(['--rollback-delay', '500ms', '--rollback-parallelism', '3'], (spec) => {
        spec.RollbackConfig = { Parallelism: 3, Monitor: 2e9, Delay: 5e8 };
      }, withPolicy);
      expectUpdate(['--update-monitor', '1m', '--update-order', 'stop-first', '--update-parallelism', '0', '--rollback-failure-action', 'continue', '--rollback-max-failure-ratio', '1', '--rollback-monitor', '0'], (spec) => {
        spec.UpdateConfig = { ...spec.UpdateConfig!, Monitor: 60e9, Order: 'stop-first', Parallelism: 0 };
        spec.RollbackConfig = { Parallelism: 0, Monitor: 0, FailureAction: 'continue', MaxFailureRatio: 1 };
      }, withPolicy);
    });

    it('refuses bad values, naming the flag and what to write', () => {
      refuses(['--update-parallelism', '-1'], 'invalid --update-parallelism "-1": use a whole number of tasks, at least 0 (0 means all at once)');
      refuses(['--rollback-parallelism', '1.5'], 'invalid --rollback-parallelism "1.5": use a whole number of tasks, at least 0 (0 means all at once)');
      refuses(['--update-parallelism', 'two'], 'invalid --update-parallelism "two": use a whole number of tasks, at least 0 (0 means all at once)');
      refuses(['--update-delay', '10'], 'invalid --update-delay "10": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)');
      refuses(['--update-monitor', '-5s'], 'invalid --update-monitor "-5s": a duration cannot be negative');
      refuses(['--rollback-delay', 'soon'], 'invalid --rollback-delay "soon": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)');
      refuses(['--rollback-monitor', ''], 'invalid --rollback-monitor "": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)');
      for (const ratio of ['1.5', '-0.1', 'half', '', 'NaN', 'Inf', '0x1']) {
        refuses(['--update-max-failure-ratio', ratio], `invalid --update-max-failure-ratio "${ratio}": use a number from 0 to 1, the share of tasks that may fail (e.g. 0.2 for one in five)`);
      }
      refuses(['--rollback-max-failure-ratio', '2'], 'invalid --rollback-max-failure-ratio "2": use a number from 0 to 1, the share of tasks that may fail (e.g. 0.2 for one in five)');
      refuses(['--update-order', 'random'], 'invalid --update-order "random": use stop-first or start-first');
      refuses(['--rollback-order', 'Start-First'], 'invalid --rollback-order "Start-First": use stop-first or start-first');
      refuses(['--update-failure-action', 'stop'], 'invalid --update-failure-action "stop": use pause, continue or rollback');
      // Docker's rollback cannot itself roll back.
      refuses(['--rollback-failure-action', 'rollback'], 'invalid --rollback-failure-action "rollback": use pause or continue');
    });

    it('reads failure ratios as Go\'s ParseFloat reads plain decimals', () => {
      for (const [text, ratio] of [['0', 0], ['1', 1], ['.5', 0.5], ['0.25', 0.25], ['1.0', 1], ['2e-1', 0.2], [' 0.3 ', 0.3]] as const) {
        assert.equal(update(['--update-max-failure-ratio', text]).UpdateConfig?.MaxFailureRatio, ratio, text);
      }
    });
  });

  describe('--env-add and --env-rm', () => {
    it('replaces a variable in place, appends a new one, and removes by name', () => {
      expectUpdate(['--env-add', 'B=20', '--env-add', 'D=4', '--env-rm', 'A'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Env = ['B=20', 'C=3', 'D=4'];
      });
    });

    it('takes a bare NAME\'s value from the client, lets the last of two adds win, and removes before adding', () => {
      expectUpdate(['--env-add', 'TZ', '--env-add', 'UNSET', '--env-add', 'D=1', '--env-add', 'D=2', '--env-rm', 'C', '--env-add', 'C=30'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Env = ['A=1', 'B=2', 'TZ=Europe/Berlin', 'UNSET', 'D=2', 'C=30'];
      });
    });

    it('removing a variable the service lacks is no error; removing all leaves Env out', () => {
      expectUpdate(['--env-rm', 'NOPE'], () => {});
      expectUpdate(['--env-rm', 'A', '--env-rm', 'B', '--env-rm', 'C'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Env;
      });
    });

    it('refuses a name with a value to remove, and an empty name to add', () => {
      refuses(['--env-rm', 'A=1'], 'invalid --env-rm "A=1": give the variable\'s name alone, e.g. --env-rm A');
      refuses(['--env-add', '=x'], 'invalid environment variable "=x": use NAME=VALUE');
    });
  });

  describe('labels', () => {
    it('adds, replaces and removes service and container labels by key', () => {
      expectUpdate(['--label-add', 'tier=back', '--label-add', 'new', '--label-rm', 'owner', '--container-label-add', 'team=b', '--container-label-rm', 'gone'], (spec) => {
        spec.Labels = { tier: 'back', new: '' };
        spec.TaskTemplate.ContainerSpec.Labels = { team: 'b' };
      });
    });

    it('leaves out a map emptied by removals, and makes one for a service without labels', () => {
      expectUpdate(['--label-rm', 'tier', '--label-rm', 'owner', '--container-label-rm', 'team'], (spec) => {
        delete spec.Labels;
        delete spec.TaskTemplate.ContainerSpec.Labels;
      });
      const bare: ServiceSpec = { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'x' } } };
      expectUpdate(['--label-add', 'a=1', '--container-label-add', 'b=2'], (spec) => {
        spec.Labels = { a: '1' };
        spec.TaskTemplate.ContainerSpec.Labels = { b: '2' };
      }, bare);
      expectUpdate(['--label-rm', 'a'], () => {}, bare);
    });

    it('refuses keys it could never match or store', () => {
      refuses(['--label-rm', 'tier=front'], 'invalid --label-rm "tier=front": give the label\'s key alone, e.g. --label-rm tier');
      refuses(['--container-label-rm', '=x'], 'invalid --container-label-rm "=x": give the label\'s key alone, e.g. --container-label-rm NAME');
      refuses(['--label-add', '=v'], 'invalid label "=v": use KEY=VALUE');
    });
  });

  describe('--mount-add and --mount-rm', () => {
    it('replaces the mount at the same target in place, appends new ones, and removes by target', () => {
      expectUpdate(['--mount-add', 'type=tmpfs,target=/cache,tmpfs-size=64m', '--mount-add', 'type=bind,src=./conf,dst=/etc/web', '--mount-rm', '/data'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Mounts = [
          { Type: 'tmpfs', Target: '/cache', TmpfsOptions: { SizeBytes: 64 * MiB } },
          { Type: 'bind', Source: '/home/pi/app/conf', Target: '/etc/web' },
        ];
      });
    });

    it('removing a target the service lacks is no error; removing all leaves Mounts out', () => {
      expectUpdate(['--mount-rm', '/nowhere'], () => {});
      expectUpdate(['--mount-rm', '/data', '--mount-rm', '/cache'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Mounts;
      });
    });

    it('refuses two mounts at one target, and a bad mount, before anything else', () => {
      refuses(['--mount-add', 'target=/x', '--mount-add', 'type=tmpfs,target=/x'], '--mount-add names the target /x twice: give each target once');
      refuses(['--mount-add', 'type=bind,target=/x'], 'invalid --mount "type=bind,target=/x": a bind mount needs a source: the path on the node, e.g. source=/srv/data');
    });
  });

  describe('placement', () => {
    it('adds constraints once, removes them whatever the blanks around the operator, and leaves out an empty list', () => {
      expectUpdate(['--constraint-add', 'node.labels.disk==ssd', '--constraint-add', 'node.role == worker'], (spec) => {
        spec.TaskTemplate.Placement!.Constraints = ['node.role==worker', 'node.labels.disk==ssd'];
      });
      expectUpdate(['--constraint-rm', 'node.role == worker', '--constraint-rm', 'node.id!=x'], (spec) => {
        delete spec.TaskTemplate.Placement!.Constraints;
      });
    });

    it('adds and removes spread preferences by their label', () => {
      expectUpdate(['--placement-pref-add', 'spread=node.labels.rack', '--placement-pref-add', 'spread=node.labels.zone'], (spec) => {
        spec.TaskTemplate.Placement!.Preferences = [{ Spread: { SpreadDescriptor: 'node.labels.zone' } }, { Spread: { SpreadDescriptor: 'node.labels.rack' } }];
      });
      expectUpdate(['--placement-pref-rm', 'spread=node.labels.zone', '--placement-pref-rm', 'spread=node.labels.none'], (spec) => {
        delete spec.TaskTemplate.Placement!.Preferences;
      });
      refuses(['--placement-pref-add', 'pack=node.labels.zone'], 'invalid --placement-pref "pack=node.labels.zone": only spread is supported, e.g. spread=node.labels.zone');
    });

    it('sets --replicas-max-per-node, removes it with 0, and drops an emptied Placement', () => {
      expectUpdate(['--replicas-max-per-node', '5'], (spec) => {
        spec.TaskTemplate.Placement!.MaxReplicas = 5;
      });
      expectUpdate(['--replicas-max-per-node', '0', '--constraint-rm', 'node.role==worker', '--placement-pref-rm', 'spread=node.labels.zone'], (spec) => {
        delete spec.TaskTemplate.Placement;
      });
      const global: ServiceSpec = { ...BASE, Mode: { Global: {} } };
      assert.throws(() => update(['--replicas-max-per-node', '1'], global), /^SwarmletError: --replicas-max-per-node can only be used with replicated mode$/);
      refuses(['--replicas-max-per-node', '-1'], 'invalid value "-1" for --replicas-max-per-node: use a whole number of at least 0');
    });
  });

  describe('resources', () => {
    it('sets limits and reservations, keeps the ones not named, and removes one set to 0', () => {
      expectUpdate(['--limit-cpu', '1.5', '--reserve-memory', '32M'], (spec) => {
        spec.TaskTemplate.Resources = { Limits: { MemoryBytes: 64 * MiB, NanoCPUs: 1.5e9 }, Reservations: { NanoCPUs: 5e8, MemoryBytes: 32 * MiB } };
      });
      expectUpdate(['--limit-memory', '0'], (spec) => {
        spec.TaskTemplate.Resources = { Reservations: { NanoCPUs: 5e8 } };
      });
      expectUpdate(['--limit-memory', '0', '--reserve-cpu', '0'], (spec) => {
        delete spec.TaskTemplate.Resources;
      });
      refuses(['--limit-memory', '64X'], 'invalid memory size "64X": use a number with an optional unit b, k, m, g, t (e.g. 64M, 1.5G)');
      refuses(['--reserve-cpu', 'half'], 'invalid CPU value "half": use a number of CPUs, e.g. 0.5 or 2');
    });
  });

  describe('healthcheck', () => {
    it('changes the command and the settings named, keeping the others', () => {
      expectUpdate(['--health-cmd', 'curl -f localhost', '--health-timeout', '2s'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Healthcheck = { Test: ['CMD-SHELL', 'curl -f localhost'], Interval: 30e9, Retries: 3, Timeout: 2e9 };
      });
      // Zeros are left out (the image's value applies), as Docker's JSON leaves them out; an empty command drops the test.
      expectUpdate(['--health-interval', '0s', '--health-retries', '0', '--health-cmd', '', '--health-start-period', '1m'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Healthcheck = { StartPeriod: 60e9 };
      });
    });

    it('turns the check off with --no-healthcheck, and back on with a setting or --no-healthcheck=false', () => {
      expectUpdate(['--no-healthcheck'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Healthcheck = { Test: ['NONE'] };
      });
      const off: ServiceSpec = structuredClone(BASE);
      off.TaskTemplate.ContainerSpec.Healthcheck = { Test: ['NONE'] };
      expectUpdate(['--health-retries', '5'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Healthcheck = { Retries: 5 };
      }, off);
      expectUpdate(['--no-healthcheck=false'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Healthcheck;
      }, off);
    });

    it('refuses --no-healthcheck with any --health-* flag, and bad values', () => {
      for (const setting of [['--health-cmd', 'true'], ['--health-retries', '0'], ['--health-interval', '0s']]) {
        refuses(['--no-healthcheck', ...setting], '--no-healthcheck conflicts with --health-* options');
      }
      refuses(['--health-interval', '30'], 'invalid duration "30": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)');
      refuses(['--health-retries', 'x'], 'invalid value "x" for --health-retries: use a whole number of at least 0');
    });
  });

  describe('restart policy', () => {
    it('changes the fields named and keeps the others; makes a policy for a service without one', () => {
      expectUpdate(['--restart-condition', 'any', '--restart-delay', '10s'], (spec) => {
        spec.TaskTemplate.RestartPolicy = { Condition: 'any', MaxAttempts: 3, Delay: 10e9 };
      });
      const bare: ServiceSpec = { Name: 'x', TaskTemplate: { ContainerSpec: { Image: 'x' } } };
      expectUpdate(['--restart-max-attempts', '0', '--restart-window', '1m'], (spec) => {
        spec.TaskTemplate.RestartPolicy = { MaxAttempts: 0, Window: 60e9 };
      }, bare);
      refuses(['--restart-condition', 'always'], 'invalid --restart-condition "always": use none, on-failure or any');
      refuses(['--restart-max-attempts', '-2'], 'invalid value "-2" for --restart-max-attempts: use a whole number of at least 0');
    });
  });

  describe('the container\'s command and settings', () => {
    it('replaces args and entrypoint (split as a shell would), user, workdir, hostname and stop grace period', () => {
      expectUpdate(['--args', 'serve --port "80 81"', '--entrypoint', '/bin/sh -c', '--user', '1000:1000', '-w', '/srv', '--hostname', 'h1', '--stop-grace-period', '1m'], (spec) => {
        Object.assign(spec.TaskTemplate.ContainerSpec, {
          Args: ['serve', '--port', '80 81'],
          Command: ['/bin/sh', '-c'],
          User: '1000:1000',
          Dir: '/srv',
          Hostname: 'h1',
          StopGracePeriod: 60e9,
        });
      });
    });

    it('clears args, entrypoint and user given as empty', () => {
      expectUpdate(['--args', '', '--entrypoint', '', '--user', ''], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Args;
        delete spec.TaskTemplate.ContainerSpec.User;
      });
      refuses(['--stop-grace-period', '10'], 'invalid duration "10": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)');
    });
  });

  describe('capabilities', () => {
    it('adds and drops by Docker\'s three-state rule: undoing the opposite list first', () => {
      // CAP_CHOWN was dropped: adding it only stops dropping it. CAP_NET_ADMIN was added: dropping it only stops adding it.
      expectUpdate(['--cap-add', 'chown', '--cap-drop', 'net_admin'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.CapabilityAdd;
        delete spec.TaskTemplate.ContainerSpec.CapabilityDrop;
      });
      expectUpdate(['--cap-add', 'sys_time', '--cap-add', 'CAP_NET_ADMIN', '--cap-drop', 'mknod'], (spec) => {
        spec.TaskTemplate.ContainerSpec.CapabilityAdd = ['CAP_NET_ADMIN', 'CAP_SYS_TIME'];
        spec.TaskTemplate.ContainerSpec.CapabilityDrop = ['CAP_CHOWN', 'CAP_MKNOD'];
      });
    });

    it('forgets a list with RESET, lets adding win over dropping, and keeps ALL alone', () => {
      assert.deepEqual(updateCapabilities(['CAP_NET_ADMIN'], ['CAP_CHOWN'], { add: ['reset', 'sys_time'], drop: [] }), { add: ['CAP_SYS_TIME'], drop: ['CAP_CHOWN'] });
      assert.deepEqual(updateCapabilities(['CAP_NET_ADMIN'], ['CAP_CHOWN'], { add: [], drop: ['RESET'] }), { add: ['CAP_NET_ADMIN'] });
      assert.deepEqual(updateCapabilities([], [], { add: ['kill'], drop: ['kill', 'all'] }), { add: ['CAP_KILL'], drop: ['ALL'] });
      assert.deepEqual(updateCapabilities(['CAP_KILL'], [], { add: ['all'], drop: [] }), { add: ['ALL'] });
    });
  });

  describe('swarmlet\'s --device-add, --device-rm and --privileged', () => {
    it('adds devices, replaces one at the same container path, removes by container path', () => {
      expectUpdate(['--device-add', '/dev/i2c-2:/dev/i2c-1:rw', '--device-add', '/dev/ttyUSB0'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Devices = [
          { PathOnHost: '/dev/i2c-2', PathInContainer: '/dev/i2c-1', CgroupPermissions: 'rw' },
          { PathOnHost: '/dev/ttyUSB0', PathInContainer: '/dev/ttyUSB0', CgroupPermissions: 'rwm' },
        ];
      });
      expectUpdate(['--device-rm', '/dev/i2c-1', '--device-rm', '/dev/none'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Devices;
      });
      refuses(['--device-rm', 'i2c-1'], 'invalid --device-rm "i2c-1": give the device\'s path in the container, e.g. /dev/i2c-1');
      refuses(['--device-add', '/dev/a:/dev/x', '--device-add', '/dev/b:/dev/x'], '--device-add names /dev/x in the container twice: give each device once');
    });

    it('gives and takes privileges', () => {
      expectUpdate(['--privileged'], (spec) => {
        spec.TaskTemplate.ContainerSpec.Privileged = true;
      });
      const privileged: ServiceSpec = structuredClone(BASE);
      privileged.TaskTemplate.ContainerSpec.Privileged = true;
      expectUpdate(['--privileged=false'], (spec) => {
        delete spec.TaskTemplate.ContainerSpec.Privileged;
      }, privileged);
    });
  });

  it('reads every flag before the service is fetched: a bad value anywhere is reported first', () => {
    assert.throws(() => readServiceUpdate(parseArgs(['--image', 'web:2', '--update-order', 'sideways'], UPDATE_OPTIONS, { interspersed: true }).options, CLIENT), /invalid --update-order "sideways"/);
    assert.equal(readServiceUpdate(parseArgs(['--image', 'web:2'], UPDATE_OPTIONS, { interspersed: true }).options, CLIENT).image, 'web:2');
  });
});

describe('service update and rollback against an API', () => {
  const SERVICE_ID = 'v1abbs71d77e9wupts94kvt8f';
  const web: Service = {
    ...service(SERVICE_ID, 'web', 'web:1', 'replicated', 3, 3),
    PreviousSpec: { Name: 'web', TaskTemplate: { ContainerSpec: { Image: 'web:0' } }, Mode: { Replicated: { Replicas: 3 } } },
  };
  let api: FakeApi;
  let reply: (req: FakeRequest) => FakeReply = () => ({ status: 404, body: { message: 'not found' } });
  const env = () => ({ SWARMLET_HOST: `unix://${api.socket}` });
  const daemon = (req: FakeRequest): FakeReply => {
    if (req.method === 'GET' && (req.path === '/services/web' || req.path === `/services/${SERVICE_ID}`)) return { body: web };
    if (req.method === 'POST' && req.path === `/services/${SERVICE_ID}/update`) return { body: { Warnings: ['image web:2 is not present'] } };
    return { status: 404, body: { message: 'unexpected' } };
  };

  before(async () => {
    api = await startFakeApi((req) => reply(req));
  });
  after(() => api.close());

  /** Runs the CLI and returns what it printed and the requests it sent. */
  async function run(args: string[]) {
    const from = api.requests.length;
    const result = await runCli(args, env());
    return { result, requests: api.requests.slice(from) };
  }

  it('service update sends the changed spec at the version read, with the rolling-update policy', async () => {
    reply = daemon;
    const { result, requests } = await run(['service', 'update', '-d', '--image', 'web:2', '--update-parallelism', '2', '--update-delay', '10s', 'web']);
    assert.deepEqual(result, { code: 0, stdout: 'web\n', stderr: 'image web:2 is not present\n' });
    assert.deepEqual(requests.map((req) => `${req.method} ${req.path}`), ['GET /services/web', `POST /services/${SERVICE_ID}/update`]);
    const post = requests[1]!;
    assert.deepEqual(Object.fromEntries(post.query), { version: '10' });
    assert.deepEqual(post.body, {
      ...web.Spec,
      TaskTemplate: { ContainerSpec: { Image: 'web:2' } },
      UpdateConfig: { Parallelism: 2, Delay: 10e9, FailureAction: 'pause', Monitor: 5e9, MaxFailureRatio: 0, Order: 'stop-first' },
    });
  });

  for (const args of [['service', 'update', '--rollback', '-d', 'web'], ['service', 'rollback', '-d', 'web'], ['service', 'rollback', 'web', '--detach', '-q']]) {
    it(`${args.join(' ')} posts the current spec with rollback=previous`, async () => {
      reply = daemon;
      const { result, requests } = await run(args);
      assert.deepEqual(result, { code: 0, stdout: 'web\n', stderr: 'image web:2 is not present\n' });
      assert.deepEqual(requests.map((req) => `${req.method} ${req.path}`), ['GET /services/web', `POST /services/${SERVICE_ID}/update`]);
      assert.deepEqual(Object.fromEntries(requests[1]!.query), { version: '10', rollback: 'previous' });
      assert.deepEqual(requests[1]!.body, web.Spec);
    });
  }

  it('passes on the daemon\'s refusal of a rollback', async () => {
    reply = (req) => (req.method === 'POST' ? { status: 400, body: { message: 'service web does not have a previous spec to roll back to' } } : daemon(req));
    const { result } = await run(['service', 'rollback', '-d', 'web']);
    assert.deepEqual(result, { code: 1, stdout: '', stderr: 'Error: service web does not have a previous spec to roll back to\n' });
  });

  it('refuses bad input with one line and sends nothing', async () => {
    reply = daemon;
    const cases: Array<[string[], string]> = [
      [['--rollback', '--image', 'web:2'], '--rollback cannot be combined with --image: roll back alone (with --detach or --quiet if you like), then update the service again'],
      [['--rollback', '-d', '--rollback-parallelism', '2', '--force'], '--rollback cannot be combined with --rollback-parallelism, --force: roll back alone (with --detach or --quiet if you like), then update the service again'],
      [['--update-max-failure-ratio', '1.5'], 'invalid --update-max-failure-ratio "1.5": use a number from 0 to 1, the share of tasks that may fail (e.g. 0.2 for one in five)'],
      [['--update-parallelism', '-1'], 'invalid --update-parallelism "-1": use a whole number of tasks, at least 0 (0 means all at once)'],
      [['--update-delay', '10'], 'invalid --update-delay "10": use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)'],
      [['--update-order', 'first'], 'invalid --update-order "first": use stop-first or start-first'],
      [['--rollback-failure-action', 'rollback'], 'invalid --rollback-failure-action "rollback": use pause or continue'],
      [['--mount-rm', '/data', '--env-rm', 'A=1'], 'invalid --env-rm "A=1": give the variable\'s name alone, e.g. --env-rm A'],
    ];
    for (const [flags, message] of cases) {
      const { result, requests } = await run(['service', 'update', '-d', ...flags, 'web']);
      assert.deepEqual(result, { code: 1, stdout: '', stderr: `Error: ${message}\n` }, flags.join(' '));
      assert.deepEqual(requests, [], `${flags.join(' ')} sends nothing`);
    }
    const { result, requests } = await run(['service', 'rollback', '--image', 'x', 'web']);
    assert.deepEqual(result, { code: 1, stdout: '', stderr: 'Error: unknown flag: --image\n' });
    assert.deepEqual(requests, []);
  });

  it('shows a rolling update and the rollback in help', async () => {
    const help = await runCli(['service', 'update', '--help']);
    assert.match(help.stdout, /\$ swarmlet service update --image web:2 --update-parallelism 2 --update-delay 10s web/);
    assert.match(help.stdout, /--update-failure-action <ACTION>\s+Action on update failure: pause, continue or rollback \(default "pause"\)/);
    assert.match(help.stdout, /--rollback\s+Roll back to the previous specification/);
    const group = await runCli(['service', '--help']);
    assert.match(group.stdout, /rollback <service>\s+Revert changes to a service's configuration/);
    const create = await runCli(['service', 'create', '--help']);
    assert.match(create.stdout, /--rollback-max-failure-ratio <RATIO>\s+Failure rate to tolerate during a rollback, from 0 to 1 \(default 0\)/);
  });
});
