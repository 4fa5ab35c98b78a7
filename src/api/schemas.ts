/**
 * Validation of request bodies at the API boundary, with valibot. The docker CLI sends many fields swarmlet does
 * not act on (Isolation, ForceUpdate, empty Placement...): objects are loose so those pass through untouched,
 * while every field swarmlet does act on is checked here, once — inside, the types are trusted.
 *
 * valibot rather than zod: measured on the Node 22 runtime that ships, loading zod 4 adds about 10 MB of RSS and
 * valibot about 1.5 MB, against an idle-memory goal of 60 MB for the whole daemon.
 */

import * as v from 'valibot';
import { invalidArgument } from '../errors.ts';
import { parseConstraint } from '../manager/scheduler/constraints.ts';
import { parsePreference } from '../manager/scheduler/preferences.ts';
import type { ServiceSpec } from './types.ts';

/** Docker refuses limits below 6 MB: the container could not even start. */
export const MIN_MEMORY_LIMIT = 6 * 1024 * 1024;
/** Far beyond anything a cluster of small boxes could run; catches typos like 1e9. */
export const MAX_REPLICAS = 100_000;

const count = () => v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(0, 'must not be negative'));
const nanoseconds = count;
const labels = () => v.nullish(v.record(v.string(), v.string()));

const resourceSet = v.looseObject({
  NanoCPUs: v.optional(count()),
  MemoryBytes: v.optional(count()),
});

const constraint = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      parseConstraint(dataset.value);
    } catch (err) {
      addIssue({ message: (err as Error).message });
    }
  }),
);

/** `{"Spread": {"SpreadDescriptor": "node.labels.zone"}}`: the only strategy Swarm has. */
const preference = v.pipe(
  v.looseObject({ Spread: v.optional(v.looseObject({ SpreadDescriptor: v.optional(v.string()) })) }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    try {
      parsePreference(dataset.value as Parameters<typeof parsePreference>[0]);
    } catch (err) {
      addIssue({ message: (err as Error).message });
    }
  }),
);

/** Docker's floor for a healthcheck's Interval, Timeout and StartPeriod: 0 (the image's or the default) or 1 ms. */
export const MIN_HEALTHCHECK_DURATION = 1_000_000;

const healthcheckDuration = () =>
  v.pipe(
    nanoseconds(),
    v.check((ns) => ns === 0 || ns >= MIN_HEALTHCHECK_DURATION, 'must be 0 (the default) or at least 1ms (1000000 nanoseconds)'),
  );

const HEALTHCHECK_TESTS = ['NONE', 'CMD', 'CMD-SHELL'];

/** Docker's HealthConfig: an empty Test keeps the image's check, `["NONE"]` turns it off. */
const healthcheck = v.looseObject({
  Test: v.nullish(
    v.pipe(
      v.array(v.string()),
      v.check(
        (test) => test.length === 0 || HEALTHCHECK_TESTS.includes(test[0]!),
        'must start with NONE, CMD or CMD-SHELL, e.g. ["CMD-SHELL", "wget -q -O- http://localhost/ || exit 1"]',
      ),
      v.check((test) => test[0] !== 'NONE' || test.length === 1, '["NONE"] takes nothing after it'),
      v.check((test) => test[0] === 'NONE' || test.length !== 1, 'CMD and CMD-SHELL need the command after them, e.g. ["CMD-SHELL", "pgrep app"]'),
    ),
  ),
  Interval: v.optional(healthcheckDuration()),
  Timeout: v.optional(healthcheckDuration()),
  Retries: v.optional(count()),
  StartPeriod: v.optional(healthcheckDuration()),
});

const isAbsolute = (path: string) => path.startsWith('/');

/**
 * Optional as an entry so that a missing path is reported by a check on the object, saying what to write, rather
 * than by valibot's generic "Invalid key".
 */
const absolutePath = (where: string, example: string) =>
  v.optional(v.pipe(v.string(), v.check(isAbsolute, `must be an absolute path ${where}, e.g. ${example}`)));

const mount = v.pipe(
  v.looseObject({
    Type: v.picklist(['bind', 'volume', 'tmpfs'], 'must be bind, volume or tmpfs'),
    Source: v.optional(v.string()),
    Target: absolutePath('in the container', '/data'),
    ReadOnly: v.optional(v.boolean()),
    BindOptions: v.nullish(
      v.looseObject({
        Propagation: v.optional(
          v.picklist(['private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'], 'must be private, rprivate, shared, rshared, slave or rslave'),
        ),
      }),
    ),
    VolumeOptions: v.nullish(
      v.looseObject({
        NoCopy: v.optional(v.boolean()),
        Labels: labels(),
        DriverConfig: v.nullish(v.looseObject({ Name: v.optional(v.string()), Options: labels() })),
      }),
    ),
    TmpfsOptions: v.nullish(v.looseObject({ SizeBytes: v.optional(count()), Mode: v.optional(count()) })),
  }),
  v.forward(v.check((m) => m.Target !== undefined, 'is required: the path in the container, e.g. /data'), ['Target']),
  v.forward(
    v.check(
      (m) => m.Type !== 'bind' || (m.Source !== undefined && isAbsolute(m.Source)),
      'a bind mount needs Source, an absolute path on the node, e.g. /srv/data',
    ),
    ['Source'],
  ),
  v.forward(v.check((m) => m.Type !== 'tmpfs' || !m.Source, 'a tmpfs mount takes no Source'), ['Source']),
);

/** swarmlet's host devices: both paths absolute, permissions from `rwm` (which is also the default). */
const device = v.pipe(
  v.looseObject({
    PathOnHost: absolutePath('on the node', '/dev/i2c-1'),
    PathInContainer: absolutePath('in the container', '/dev/i2c-1'),
    CgroupPermissions: v.optional(
      v.pipe(v.string(), v.regex(/^(?:([rwm])(?!.*\1)){1,3}$/, 'must be letters from r, w and m, each at most once, e.g. rwm')),
      'rwm',
    ),
  }),
  v.forward(v.check((d) => d.PathOnHost !== undefined, 'is required: the device on the node, e.g. /dev/i2c-1'), ['PathOnHost']),
  v.forward(v.check((d) => d.PathInContainer !== undefined, 'is required: the path in the container, e.g. /dev/i2c-1'), ['PathInContainer']),
);

/** As Docker sends them: `CAP_NET_ADMIN`, or `ALL`. The engine knows which exist. */
const capabilities = () =>
  v.nullish(v.array(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_]+$/, 'capabilities are names such as CAP_NET_ADMIN, or ALL'))));

const containerSpec = v.looseObject({
  Image: v.pipe(v.string('an image is required'), v.trim(), v.minLength(1, 'an image is required')),
  Labels: labels(),
  Command: v.nullish(v.array(v.string())),
  Args: v.nullish(v.array(v.string())),
  Hostname: v.optional(v.string()),
  Env: v.nullish(v.array(v.pipe(v.string(), v.regex(/^[^=\s]+(=|$)/, 'environment entries look like KEY=VALUE')))),
  Dir: v.optional(v.string()),
  User: v.optional(v.string()),
  TTY: v.optional(v.boolean()),
  OpenStdin: v.optional(v.boolean()),
  StopGracePeriod: v.optional(nanoseconds()),
  StopSignal: v.optional(v.string()),
  Init: v.nullish(v.boolean()),
  Healthcheck: v.nullish(healthcheck),
  Mounts: v.nullish(v.array(mount)),
  CapabilityAdd: capabilities(),
  CapabilityDrop: capabilities(),
  Devices: v.nullish(v.array(device)),
  Privileged: v.optional(v.boolean('must be true or false')),
});

const resources = v.pipe(
  v.looseObject({ Limits: v.optional(resourceSet), Reservations: v.optional(resourceSet) }),
  v.check((r) => !r.Limits?.MemoryBytes || r.Limits.MemoryBytes >= MIN_MEMORY_LIMIT, 'memory limit is below the minimum of 6MB'),
  v.check(
    (r) => !r.Limits?.MemoryBytes || (r.Reservations?.MemoryBytes ?? 0) <= r.Limits.MemoryBytes,
    'memory reservation must not exceed the memory limit',
  ),
);

/** A network's name as the engine allows it: service aliases become DNS names on the network too. */
const NETWORK_ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Docker's NetworkAttachmentConfig: a network by name or ID, and more names for the service on it. */
const networkAttachment = v.pipe(
  v.looseObject({
    Target: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1, 'is required: a network name or ID'))),
    Aliases: v.nullish(
      v.array(v.pipe(v.string(), v.regex(NETWORK_ALIAS, 'an alias is a DNS name: letters, digits, "_", "." or "-", starting with a letter or digit'))),
    ),
    DriverOpts: labels(),
  }),
  v.forward(v.check((n) => n.Target !== undefined, 'is required: a network name or ID, e.g. {"Target": "backend"}'), ['Target']),
);

const networkAttachments = () => v.nullish(v.array(networkAttachment));

const taskSpec = v.looseObject({
  ContainerSpec: containerSpec,
  Resources: v.optional(resources),
  RestartPolicy: v.optional(
    v.looseObject({
      Condition: v.optional(v.picklist(['none', 'on-failure', 'any'], 'must be none, on-failure or any')),
      Delay: v.optional(nanoseconds()),
      MaxAttempts: v.optional(count()),
      Window: v.optional(nanoseconds()),
    }),
  ),
  Placement: v.optional(
    v.looseObject({
      Constraints: v.nullish(v.array(constraint)),
      Preferences: v.nullish(v.array(preference)),
      MaxReplicas: v.optional(
        v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(0, 'must be 0 (no limit) or a positive number of tasks per node')),
      ),
      Platforms: v.nullish(v.array(v.looseObject({ Architecture: v.optional(v.string()), OS: v.optional(v.string()) }))),
    }),
  ),
  ForceUpdate: v.optional(count()),
  Networks: networkAttachments(),
});

const mode = v.pipe(
  v.looseObject({
    Replicated: v.optional(
      v.looseObject({ Replicas: v.optional(v.pipe(count(), v.maxValue(MAX_REPLICAS, `at most ${MAX_REPLICAS} replicas`))) }),
    ),
    Global: v.optional(v.looseObject({})),
  }),
  v.check((m) => !(m.Replicated && m.Global), 'a service is either replicated or global, not both'),
);

const updateConfig = v.optional(
  v.looseObject({
    Parallelism: v.optional(count()),
    Delay: v.optional(nanoseconds()),
    FailureAction: v.optional(v.picklist(['continue', 'pause', 'rollback'], 'must be continue, pause or rollback')),
    Monitor: v.optional(nanoseconds()),
    MaxFailureRatio: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1, 'must be between 0 and 1'))),
    Order: v.optional(v.picklist(['stop-first', 'start-first'], 'must be stop-first or start-first')),
  }),
);

const PUBLISHED_PORT_RANGE = 'must be a port between 1 and 65535, or 0 to have one picked';
const port = () =>
  v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be a port between 1 and 65535'), v.maxValue(65535, 'must be a port between 1 and 65535'));

/**
 * A published port. SCTP is Docker's third protocol; swarmlet's routing mesh forwards only TCP and UDP, so it is
 * refused here rather than accepted and never forwarded.
 */
const endpointPort = v.pipe(
  v.looseObject({
    Name: v.optional(v.string()),
    Protocol: v.optional(
      v.pipe(
        v.string(),
        v.check((protocol) => protocol !== 'sctp', 'sctp is not supported by swarmlet: publish the port as tcp or udp'),
        v.check((protocol) => protocol === 'tcp' || protocol === 'udp', 'must be tcp or udp'),
      ),
    ),
    TargetPort: v.optional(port()),
    // 0, or left out: the manager picks one (ingress) or the engine does (host).
    PublishedPort: v.optional(
      v.pipe(
        v.number(),
        v.integer('must be a whole number'),
        v.minValue(0, PUBLISHED_PORT_RANGE),
        v.maxValue(65535, PUBLISHED_PORT_RANGE),
      ),
    ),
    PublishMode: v.optional(v.picklist(['ingress', 'host'], 'must be ingress or host')),
  }),
  v.forward(v.check((p) => p.TargetPort !== undefined, 'is required: the port inside the container, e.g. 80'), ['TargetPort']),
);

/** Swarm's rules for an endpoint (swarmkit's validateEndpointSpec): no port published twice, no mesh behind dnsrr. */
const endpointSpec = v.pipe(
  v.looseObject({
    Mode: v.optional(v.picklist(['', 'vip', 'dnsrr'], 'must be vip or dnsrr')),
    Ports: v.nullish(v.array(endpointPort)),
  }),
  v.check(
    (e) => e.Mode !== 'dnsrr' || (e.Ports ?? []).every((p) => p.PublishMode === 'host'),
    "port published with ingress mode can't be used with dnsrr mode: publish it with mode=host, or use --endpoint-mode vip",
  ),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Set<string>();
    for (const p of dataset.value.Ports ?? []) {
      if (!p.PublishedPort) continue;
      const key = `${p.PublishedPort}/${p.Protocol ?? 'tcp'}`;
      if (seen.has(key)) addIssue({ message: `duplicate published ports provided: ${key} is published twice` });
      seen.add(key);
    }
  }),
);

/** Docker's rule for service names: they become DNS names and container name prefixes. */
const NAME = /^[a-zA-Z0-9](?:[a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$/;

export const serviceSpecSchema = v.looseObject(
  {
    Name: v.optional(
      v.pipe(
        v.string(),
        v.check((name) => !name || NAME.test(name), 'invalid name: use 1-63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit'),
      ),
    ),
    Labels: labels(),
    TaskTemplate: v.looseObject({ ...taskSpec.entries }, 'a task template is required'),
    Mode: v.optional(mode),
    UpdateConfig: updateConfig,
    RollbackConfig: updateConfig,
    EndpointSpec: v.nullish(endpointSpec),
    // Deprecated by Docker in favour of TaskTemplate.Networks, where the API moves it.
    Networks: networkAttachments(),
  },
  'expected a JSON object',
);

export const swarmInitSchema = v.looseObject(
  {
    ListenAddr: v.optional(v.string()),
    AdvertiseAddr: v.optional(v.string()),
    ForceNewCluster: v.optional(v.boolean()),
    Spec: v.optional(v.looseObject({})),
  },
  'expected a JSON object',
);

export const swarmJoinSchema = v.looseObject(
  {
    JoinToken: v.pipe(v.string(), v.minLength(1, 'JoinToken is required: swarmlet join --token TOKEN')),
    RemoteAddrs: v.optional(v.nullable(v.array(v.string())), []),
    ListenAddr: v.optional(v.string()),
    AdvertiseAddr: v.optional(v.string()),
  },
  'expected a JSON object',
);

export const nodeSpecSchema = v.looseObject(
  {
    Name: v.optional(v.string()),
    Labels: v.optional(v.nullable(v.record(v.string(), v.string()))),
    Role: v.picklist(['worker', 'manager'], 'Role must be worker or manager'),
    Availability: v.picklist(['active', 'pause', 'drain'], 'Availability must be active, pause or drain'),
  },
  'expected a JSON object',
);

/** Published ports a node reports it could not open, at most: each is a listener it keeps trying. */
export const MAX_MESH_PORT_CONFLICTS = 64;
/** Characters of a conflict's error kept, at most: strerror's words, or a short message. */
export const MAX_MESH_PORT_ERROR = 200;

/**
 * NodeDescription.MeshPortConflicts, as a node sends it (src/cluster/node-report.ts checks the whole description): a
 * bounded list, so that one node cannot make the cluster store much, of ports with their protocol, service and error.
 */
export const meshPortConflictsSchema = v.pipe(
  v.array(
    v.object({
      Port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_535)),
      Protocol: v.picklist(['tcp', 'udp']),
      ServiceID: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
      Error: v.pipe(v.string(), v.maxLength(MAX_MESH_PORT_ERROR)),
    }),
  ),
  v.maxLength(MAX_MESH_PORT_CONFLICTS),
);

/** Docker's NetworkCreateRequest. What an overlay network may not have is refused by the network routes. */
export const networkCreateSchema = v.looseObject(
  {
    Name: v.pipe(v.string('Name is required: the network\'s name'), v.trim(), v.minLength(1, 'Name is required: the network\'s name')),
    Driver: v.optional(v.string()),
    Scope: v.optional(v.string()),
    Internal: v.optional(v.boolean()),
    Attachable: v.optional(v.boolean()),
    Ingress: v.optional(v.boolean()),
    ConfigOnly: v.optional(v.boolean()),
    ConfigFrom: v.nullish(v.looseObject({ Network: v.optional(v.string()) })),
    EnableIPv4: v.nullish(v.boolean()),
    EnableIPv6: v.nullish(v.boolean()),
    IPAM: v.nullish(
      v.looseObject({
        Driver: v.optional(v.string()),
        Config: v.nullish(
          v.array(
            v.looseObject({
              Subnet: v.optional(v.string()),
              IPRange: v.optional(v.string()),
              Gateway: v.optional(v.string()),
              AuxiliaryAddresses: v.nullish(v.record(v.string(), v.string())),
            }),
          ),
        ),
        Options: labels(),
      }),
    ),
    Options: labels(),
    Labels: labels(),
  },
  'expected a JSON object',
);

export type NetworkCreateBody = v.InferOutput<typeof networkCreateSchema>;

/** Parses a body or throws an `invalid_argument` error whose message names the field, as Docker's do. */
export function parseBody<S extends v.GenericSchema>(schema: S, body: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, body);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const dotPath = v.getDotPath(issue);
  throw invalidArgument(`invalid ${what}${dotPath ? ` at ${dotPath}` : ''}: ${issue.message}`);
}

export function parseServiceSpec(body: unknown): ServiceSpec {
  return parseBody(serviceSpecSchema, body, 'service spec') as ServiceSpec;
}

export function parseNetworkCreate(body: unknown): NetworkCreateBody {
  return parseBody(networkCreateSchema, body, 'network create request');
}
