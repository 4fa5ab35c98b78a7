/**
 * `swarmlet service create`'s flags and the ServiceSpec they make.
 *
 * The flags are Docker's, with Docker's meanings, and the spec is the one `docker service create` would send for
 * the same command line: the image's command goes to ContainerSpec.Args and `--entrypoint` to ContainerSpec.Command
 * (Docker's split, which the engine maps to Cmd and Entrypoint), sizes are 1024-based bytes, durations are
 * nanoseconds, capabilities are written as Docker normalises them. Only what the user gave is set, so the daemon's
 * defaults — the same ones Docker applies — stay in one place. Building the spec is pure (the client's working
 * directory and environment, which Docker reads for `--mount src=./dir` and `-e NAME`, are passed in); sending it
 * is the command's business.
 *
 * `--publish` makes the EndpointSpec Docker's would; the ports' published numbers the manager picks appear in the
 * service's Endpoint, not here. `--network` names a swarm network as the user typed it: the daemon resolves names to
 * IDs (the docker CLI asks the daemon first; the result is the same stored spec).
 *
 * `--update-*` and `--rollback-*` (update-policy-option.ts) make the rolling-update policies; as the docker CLI does,
 * a policy is sent whole, with Docker's defaults for the fields not given, and only when one of its flags is.
 *
 * `--device` and `--privileged` are swarmlet's: Swarm services cannot reach host devices (moby issue 24862, swarmkit
 * issue 1030), which is most of what a Raspberry Pi service needs — GPIO, I2C, a USB radio.
 */

import type {
  ContainerSpec,
  DeviceMapping,
  EndpointSpec,
  HealthConfig,
  Labels,
  NetworkAttachmentConfig,
  Placement,
  Resources,
  RestartPolicy,
  ServiceSpec,
  TaskSpec,
} from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import { splitShellWords } from '../util/shell-words.ts';
import { parseMemorySize, parseNanoCpus } from '../util/units.ts';
import { type OptionSpec, type ParsedArgs, booleanOption, listOption, stringOption } from './flags.ts';
import { parseMount, splitCsv } from './mount-option.ts';
import { parsePublish } from './port-option.ts';
import { UPDATE_POLICY_OPTIONS, createPolicy } from './update-policy-option.ts';

/** The flags of `service create`, in the order help lists them. */
export const CREATE_OPTIONS: OptionSpec[] = [
  { name: 'name', value: 'NAME', description: 'Service name' },
  { name: 'mode', value: 'MODE', description: 'Service mode: replicated or global (default "replicated")' },
  { name: 'replicas', value: 'N', description: 'Number of tasks (default 1)' },
  { name: 'env', short: 'e', value: 'K=V', multiple: true, description: 'Set environment variables' },
  { name: 'label', value: 'K=V', multiple: true, description: 'Service labels' },
  { name: 'container-label', value: 'K=V', multiple: true, description: 'Container labels' },
  { name: 'reserve-memory', value: 'SIZE', description: 'Reserve memory (e.g. 64M, 1.5G)' },
  { name: 'limit-memory', value: 'SIZE', description: 'Limit memory (e.g. 64M, 1.5G)' },
  { name: 'reserve-cpu', value: 'CPUS', description: 'Reserve CPUs (e.g. 0.5)' },
  { name: 'limit-cpu', value: 'CPUS', description: 'Limit CPUs (e.g. 2)' },
  { name: 'restart-condition', value: 'COND', description: 'Restart when condition is met: none, on-failure or any (default "any")' },
  { name: 'restart-delay', value: 'DUR', description: 'Delay between restart attempts (ns|us|ms|s|m|h) (default 5s)' },
  { name: 'restart-max-attempts', value: 'N', description: 'Maximum number of restarts before giving up' },
  { name: 'restart-window', value: 'DUR', description: 'Window used to evaluate the restart policy (ns|us|ms|s|m|h)' },
  { name: 'stop-grace-period', value: 'DUR', description: 'Time to wait before force killing a container (ns|us|ms|s|m|h) (default 10s)' },
  { name: 'constraint', value: 'EXPR', multiple: true, description: 'Placement constraints (e.g. node.role==manager)' },
  { name: 'placement-pref', value: 'PREF', multiple: true, description: 'Add a placement preference (e.g. spread=node.labels.zone)' },
  { name: 'replicas-max-per-node', value: 'N', description: 'Maximum number of tasks per node (default 0 = unlimited)' },
  ...UPDATE_POLICY_OPTIONS,
  { name: 'hostname', value: 'NAME', description: 'Container hostname' },
  { name: 'user', short: 'u', value: 'USER', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'workdir', short: 'w', value: 'DIR', description: 'Working directory inside the container' },
  { name: 'entrypoint', value: 'CMD', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'mount', value: 'MOUNT', multiple: true, description: 'Attach a filesystem mount to the service (e.g. type=bind,source=/srv/data,target=/data)' },
  { name: 'health-cmd', value: 'CMD', description: 'Command to run to check health' },
  { name: 'health-interval', value: 'DUR', description: 'Time between running the check (ms|s|m|h)' },
  { name: 'health-timeout', value: 'DUR', description: 'Maximum time to allow one check to run (ms|s|m|h)' },
  { name: 'health-retries', value: 'N', description: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-period', value: 'DUR', description: 'Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)' },
  { name: 'no-healthcheck', description: 'Disable any container-specified HEALTHCHECK' },
  { name: 'cap-add', value: 'CAP', multiple: true, description: 'Add Linux capabilities' },
  { name: 'cap-drop', value: 'CAP', multiple: true, description: 'Drop Linux capabilities' },
  { name: 'publish', short: 'p', value: 'PORT', multiple: true, description: 'Publish a port as a node port (e.g. 8080:80, 53:53/udp, published=8080,target=80,mode=host)' },
  { name: 'endpoint-mode', value: 'MODE', description: 'Endpoint mode: vip or dnsrr (default "vip")' },
  { name: 'network', value: 'NETWORK', multiple: true, description: 'Network attachments (e.g. backend, or name=backend,alias=db)' },
  { name: 'device', value: 'DEVICE', multiple: true, description: 'Add a host device to the container: /dev/HOST[:/dev/CONTAINER[:rwm]] (a swarmlet addition)' },
  { name: 'privileged', description: 'Give extended privileges to this container (a swarmlet addition)' },
  { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', description: 'Suppress progress output' },
];

/** The client's side of a command line: what Docker reads from the machine the CLI runs on. */
export interface ClientContext {
  /** Where `--mount source=./dir` is resolved. */
  cwd: string;
  /** Where `-e NAME` (no `=`) takes NAME's value. */
  env: Readonly<Record<string, string | undefined>>;
}

/** `K=V` pairs into a map; a bare `K` means an empty value, as Docker reads labels. */
export function parseLabels(pairs: readonly string[]): Labels | undefined {
  if (pairs.length === 0) return undefined;
  const labels: Labels = {};
  for (const pair of pairs) {
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    if (key === '') throw invalidArgument(`invalid label "${pair}": use KEY=VALUE`);
    labels[key] = equals < 0 ? '' : pair.slice(equals + 1);
  }
  return labels;
}

/** A whole number ≥ 0, from a flag. */
export function parseCount(text: string, flag: string): number {
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw invalidArgument(`invalid value "${text}" for --${flag}: use a whole number of at least 0`);
  }
  return Number(text);
}

const RESTART_CONDITIONS = ['none', 'on-failure', 'any'] as const;

/** A ServiceSpec as a client sends it: without a name, the daemon picks one (as Docker's does). */
export type ServiceSpecRequest = Omit<ServiceSpec, 'Name'> & { Name?: string };

/** Builds the ServiceSpec for `service create [flags] IMAGE [COMMAND] [ARG...]`. */
export function buildServiceSpec(
  { options, positionals }: ParsedArgs,
  client: ClientContext = { cwd: process.cwd(), env: process.env },
): ServiceSpecRequest {
  const [image, ...args] = positionals;
  if (!image) throw invalidArgument('service create needs an image: swarmlet service create [OPTIONS] IMAGE [COMMAND] [ARG...]');

  const get = (name: string) => stringOption(options, name);
  const entrypoint = get('entrypoint');
  const env = listOption(options, 'env').map((entry) => environmentEntry(entry, client.env));
  const mounts = listOption(options, 'mount').map((mount) => parseMount(mount, client));
  const devices = listOption(options, 'device').map(parseDevice);
  const capabilities = effectiveCapabilities(listOption(options, 'cap-add'), listOption(options, 'cap-drop'));
  const containerSpec: ContainerSpec = {
    Image: image,
    ...defined('Labels', parseLabels(listOption(options, 'container-label'))),
    ...defined('Command', entrypoint === undefined ? undefined : splitShellWords(entrypoint)),
    ...defined('Args', args.length > 0 ? args : undefined),
    ...defined('Hostname', get('hostname')),
    ...defined('Env', env.length > 0 ? env : undefined),
    ...defined('Dir', get('workdir')),
    ...defined('User', get('user')),
    ...defined('StopGracePeriod', mapDefined(get('stop-grace-period'), parseDuration)),
    ...defined('Healthcheck', healthcheck(options)),
    ...defined('Mounts', mounts.length > 0 ? mounts : undefined),
    ...defined('CapabilityAdd', capabilities.add),
    ...defined('CapabilityDrop', capabilities.drop),
    ...defined('Devices', devices.length > 0 ? devices : undefined),
    ...defined('Privileged', booleanOption(options, 'privileged') || undefined),
  };

  const networks = listOption(options, 'network').map((text) => parseNetworkOption(text));
  const taskTemplate: TaskSpec = {
    ContainerSpec: containerSpec,
    ...defined('Resources', resources(get)),
    ...defined('RestartPolicy', restartPolicy(get)),
    ...defined('Placement', placement(options, get('mode'))),
    ...defined('Networks', networks.length > 0 ? networks : undefined),
  };

  return {
    ...defined('Name', get('name')),
    ...defined('Labels', parseLabels(listOption(options, 'label'))),
    TaskTemplate: taskTemplate,
    Mode: serviceMode(get('mode'), get('replicas')),
    ...defined('UpdateConfig', createPolicy(options, 'update')),
    ...defined('RollbackConfig', createPolicy(options, 'rollback')),
    ...defined('EndpointSpec', endpointSpec(listOption(options, 'publish'), get('endpoint-mode'))),
  };
}

/** `--publish` and `--endpoint-mode` into an EndpointSpec; none when neither was given. */
function endpointSpec(publish: readonly string[], mode: string | undefined): EndpointSpec | undefined {
  if (publish.length === 0 && mode === undefined) return undefined;
  const ports = publish.flatMap((text) => parsePublish(text));
  return { Mode: parseEndpointMode(mode ?? 'vip'), ...defined('Ports', ports.length > 0 ? ports : undefined) };
}

/**
 * `--network NAME` or Docker's long form `name=NAME,alias=ALIAS,driver-opt=KEY=VALUE` (keys case-insensitive, alias
 * and driver-opt repeatable, fields quoted as CSV when they hold commas).
 */
export function parseNetworkOption(text: string, flag = '--network'): NetworkAttachmentConfig {
  const fail = (why: string) => invalidArgument(`invalid ${flag} "${text}": ${why}`);
  const value = text.trim();
  if (value === '') throw fail('give a network name or ID, e.g. backend, or name=backend,alias=db');
  // Network names hold no `=`: one means the long form.
  if (!value.includes('=')) return { Target: value };
  const attachment: NetworkAttachmentConfig = { Target: '' };
  for (const field of splitCsv(value, fail)) {
    const equals = field.indexOf('=');
    const key = field.slice(0, Math.max(equals, 0)).trim().toLowerCase();
    const val = field.slice(equals + 1).trim();
    if (equals <= 0 || val === '') throw fail(`"${field}" needs a value: use name=NETWORK, alias=ALIAS or driver-opt=KEY=VALUE`);
    if (key === 'name') attachment.Target = val;
    else if (key === 'alias') attachment.Aliases = [...(attachment.Aliases ?? []), val];
    else if (key === 'driver-opt') {
      const [optKey = '', ...rest] = val.split('=');
      if (optKey === '' || rest.length === 0) throw fail(`invalid driver-opt "${val}": use driver-opt=KEY=VALUE`);
      attachment.DriverOpts = { ...attachment.DriverOpts, [optKey]: rest.join('=') };
    } else throw fail(`unknown field "${key}": use name, alias or driver-opt`);
  }
  if (attachment.Target === '') throw fail('the network is not named: add name=NETWORK');
  return attachment;
}

/** `--endpoint-mode`, case-insensitive as Docker reads it. */
export function parseEndpointMode(text: string): NonNullable<EndpointSpec['Mode']> {
  const mode = text.toLowerCase();
  if (mode !== 'vip' && mode !== 'dnsrr') throw invalidArgument(`invalid --endpoint-mode "${text}": use vip or dnsrr`);
  return mode;
}

/**
 * An `--env` entry as Docker takes it: `K=V` as typed, and a bare `K` takes K's value from the client's environment
 * (left bare, which unsets K in the container, when the client has none).
 */
export function environmentEntry(entry: string, env: ClientContext['env']): string {
  const equals = entry.indexOf('=');
  const name = equals < 0 ? entry : entry.slice(0, equals);
  if (name.trim() === '') throw invalidArgument(`invalid environment variable "${entry}": use NAME=VALUE`);
  if (equals >= 0) return entry;
  const value = env[name];
  return value === undefined ? entry : `${name}=${value}`;
}

/**
 * The `--health-*` flags into a HealthConfig, with Docker's rules: a command becomes `CMD-SHELL`; any setting (zero
 * durations and retries left out, as Docker leaves them out) makes a healthcheck, which the image's own fills in
 * where unset; `--no-healthcheck` is `NONE` and cannot be combined with a setting.
 */
export function healthcheck(options: ParsedArgs['options']): HealthConfig | undefined {
  const get = (name: string) => stringOption(options, name);
  const command = get('health-cmd') || undefined;
  const interval = mapDefined(get('health-interval'), parseDuration);
  const timeout = mapDefined(get('health-timeout'), parseDuration);
  const startPeriod = mapDefined(get('health-start-period'), parseDuration);
  const retries = mapDefined(get('health-retries'), (text) => parseCount(text, 'health-retries'));
  // Docker counts a given duration even when it is 0, but not retries of 0.
  const given = command !== undefined || interval !== undefined || timeout !== undefined || startPeriod !== undefined || Boolean(retries);
  if (booleanOption(options, 'no-healthcheck')) {
    if (given) throw invalidArgument('--no-healthcheck conflicts with --health-* options');
    return { Test: ['NONE'] };
  }
  if (!given) return undefined;
  return {
    ...defined('Test', command === undefined ? undefined : ['CMD-SHELL', command]),
    ...defined('Interval', interval || undefined),
    ...defined('Timeout', timeout || undefined),
    ...defined('Retries', retries || undefined),
    ...defined('StartPeriod', startPeriod || undefined),
  };
}

/** The one capability name that is not a capability: every one of them. */
const ALL_CAPABILITIES = 'ALL';
/** `service update`'s "forget the added/dropped list"; meaningless on create, and left out as Docker leaves it out. */
const RESET_CAPABILITIES = 'RESET';

/** `net_admin`, ` CAP_NET_ADMIN`, `net_admin ` → `CAP_NET_ADMIN`; `all` → `ALL`. */
export function normalizeCapability(name: string): string {
  const upper = name.trim().toUpperCase();
  if (upper === ALL_CAPABILITIES || upper === RESET_CAPABILITIES || upper.startsWith('CAP_')) return upper;
  return `CAP_${upper}`;
}

/**
 * `--cap-add` and `--cap-drop` as Docker sends them: normalised, without duplicates, sorted; `ALL` stands alone in
 * its list; and a capability both added and dropped is added (adding wins, so it is not dropped).
 */
export function effectiveCapabilities(add: readonly string[], drop: readonly string[]): { add?: string[]; drop?: string[] } {
  const normalize = (names: readonly string[]) => {
    const set = new Set(names.map(normalizeCapability));
    set.delete(RESET_CAPABILITIES);
    return set.has(ALL_CAPABILITIES) ? new Set([ALL_CAPABILITIES]) : set;
  };
  const added = normalize(add);
  const dropped = [...normalize(drop)].filter((name) => !added.has(name));
  const sorted = (names: Iterable<string>) => [...names].sort();
  return {
    ...defined('add', added.size > 0 ? sorted(added) : undefined),
    ...defined('drop', dropped.length > 0 ? sorted(dropped) : undefined),
  };
}

/** Letters of a device's cgroup permissions, each at most once: read, write, mknod. */
const DEVICE_PERMISSIONS = /^(?:([rwm])(?!.*\1)){1,3}$/;

/**
 * `--device /dev/HOST[:/dev/CONTAINER][:PERMISSIONS]`, as `docker run --device` reads it: the container path
 * defaults to the host's, permissions to `rwm`, and a second part made only of r, w and m is permissions.
 */
export function parseDevice(text: string): DeviceMapping {
  const fail = (why: string) => invalidArgument(`invalid --device "${text}": ${why}`);
  const parts = text.split(':');
  if (parts.length > 3) throw fail('use /dev/HOST[:/dev/CONTAINER[:PERMISSIONS]], e.g. /dev/i2c-1 or /dev/ttyUSB0:/dev/radio:rw');
  const [host = '', second, third] = parts;
  const secondIsPermissions = parts.length === 2 && DEVICE_PERMISSIONS.test(second!);
  const container = parts.length === 1 || secondIsPermissions ? host : second!;
  const permissions = parts.length === 3 ? third! : secondIsPermissions ? second! : 'rwm';
  if (!host.startsWith('/')) throw fail(`the device on the node must be an absolute path, e.g. /dev/i2c-1`);
  if (!container.startsWith('/')) throw fail(`the path in the container must be absolute, e.g. /dev/i2c-1`);
  if (!DEVICE_PERMISSIONS.test(permissions)) throw fail(`invalid permissions "${permissions}": use letters from r (read), w (write) and m (mknod), e.g. rw`);
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: permissions };
}

function serviceMode(mode = 'replicated', replicas: string | undefined): NonNullable<ServiceSpec['Mode']> {
  if (mode === 'global') {
    if (replicas !== undefined) throw invalidArgument('--replicas can only be used with replicated mode');
    return { Global: {} };
  }
  if (mode !== 'replicated') throw invalidArgument(`invalid --mode "${mode}": use replicated or global`);
  return { Replicated: { Replicas: replicas === undefined ? 1 : parseCount(replicas, 'replicas') } };
}

/** `--placement-pref STRATEGY=ARG`: Docker's form; the daemon checks the label it names. */
export function parsePlacementPref(text: string): NonNullable<Placement['Preferences']>[number] {
  const equals = text.indexOf('=');
  if (equals < 0) throw invalidArgument(`invalid --placement-pref "${text}": use STRATEGY=ARG, e.g. spread=node.labels.zone`);
  const strategy = text.slice(0, equals).trim().toLowerCase();
  if (strategy !== 'spread') throw invalidArgument(`invalid --placement-pref "${text}": only spread is supported, e.g. spread=node.labels.zone`);
  return { Spread: { SpreadDescriptor: text.slice(equals + 1) } };
}

function placement(options: ParsedArgs['options'], mode: string | undefined): Placement | undefined {
  const constraints = listOption(options, 'constraint');
  const preferences = listOption(options, 'placement-pref').map(parsePlacementPref);
  const maxReplicas = mapDefined(stringOption(options, 'replicas-max-per-node'), (text) => parseCount(text, 'replicas-max-per-node'));
  if (maxReplicas && mode === 'global') throw invalidArgument('--replicas-max-per-node can only be used with replicated mode');
  const result: Placement = {
    ...defined('Constraints', constraints.length > 0 ? constraints : undefined),
    ...defined('Preferences', preferences.length > 0 ? preferences : undefined),
    // 0 is no limit, which Docker leaves out of the spec.
    ...defined('MaxReplicas', maxReplicas || undefined),
  };
  return Object.keys(result).length > 0 ? result : undefined;
}

function resources(get: (name: string) => string | undefined): Resources | undefined {
  const limits = {
    ...defined('NanoCPUs', mapDefined(get('limit-cpu'), parseNanoCpus)),
    ...defined('MemoryBytes', mapDefined(get('limit-memory'), parseMemorySize)),
  };
  const reservations = {
    ...defined('NanoCPUs', mapDefined(get('reserve-cpu'), parseNanoCpus)),
    ...defined('MemoryBytes', mapDefined(get('reserve-memory'), parseMemorySize)),
  };
  const result: Resources = {
    ...defined('Limits', Object.keys(limits).length > 0 ? limits : undefined),
    ...defined('Reservations', Object.keys(reservations).length > 0 ? reservations : undefined),
  };
  return Object.keys(result).length > 0 ? result : undefined;
}

/** `--restart-condition`: none, on-failure or any, as Docker spells them. */
export function parseRestartCondition(text: string): NonNullable<RestartPolicy['Condition']> {
  if (!(RESTART_CONDITIONS as readonly string[]).includes(text)) {
    throw invalidArgument(`invalid --restart-condition "${text}": use none, on-failure or any`);
  }
  return text as NonNullable<RestartPolicy['Condition']>;
}

function restartPolicy(get: (name: string) => string | undefined): RestartPolicy | undefined {
  const policy: RestartPolicy = {
    ...defined('Condition', mapDefined(get('restart-condition'), parseRestartCondition)),
    ...defined('Delay', mapDefined(get('restart-delay'), parseDuration)),
    ...defined('MaxAttempts', mapDefined(get('restart-max-attempts'), (text) => parseCount(text, 'restart-max-attempts'))),
    ...defined('Window', mapDefined(get('restart-window'), parseDuration)),
  };
  return Object.keys(policy).length > 0 ? policy : undefined;
}

function mapDefined<T>(value: string | undefined, parse: (text: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

/** `{ key: value }` when value is defined, else `{}`: keeps unset fields out of the JSON sent. */
function defined<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
