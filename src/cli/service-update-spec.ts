/**
 * What `swarmlet service update`'s flags change in a service's spec, as pure functions: the flags are read and checked
 * first (`readServiceUpdate`), so a mistyped value is reported before anything is asked of the daemon, then applied
 * to the spec the daemon holds (`applyServiceUpdate`).
 *
 * The add/remove pairs follow Docker: removing what the service does not have is no error, and an add replaces what
 * has the same key (an environment variable's name, a label's key, a mount's target, a device's path in the
 * container). Removals are applied before additions, so naming one key in both replaces it. Lists keep their order
 * (new entries go last), so an update that changes nothing sends the spec it read and no task is replaced. Fields an
 * update empties are left out of the spec, as Docker's JSON leaves them out.
 */

import type {
  DeviceMapping,
  EndpointPortConfig,
  HealthConfig,
  Labels,
  Mount,
  NetworkAttachmentConfig,
  Placement,
  ResourceSet,
  RestartPolicy,
  ServiceSpec,
  UpdateConfig,
} from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import { splitShellWords } from '../util/shell-words.ts';
import { parseMemorySize, parseNanoCpus } from '../util/units.ts';
import { type ParsedArgs, booleanOption, listOption, stringOption } from './flags.ts';
import { parseMount } from './mount-option.ts';
import { parsePublish, updatePorts } from './port-option.ts';
import {
  type ClientContext,
  environmentEntry,
  normalizeCapability,
  parseCount,
  parseDevice,
  parseEndpointMode,
  parseLabels,
  parseNetworkOption,
  parsePlacementPref,
  parseRestartCondition,
} from './service-spec.ts';
import { parsePolicyFlags, updatePolicy } from './update-policy-option.ts';

/** Keys to drop and entries to add or put in place of the one with the same key. */
interface AddRemove<Added, Removed = string> {
  add: Added[];
  remove: Removed[];
}

/** Keys to drop, then labels to set. */
interface LabelChange {
  add: Labels;
  remove: string[];
}

/** `--health-*` and `--no-healthcheck` as given on `service update`. */
interface HealthcheckUpdate {
  /** `--no-healthcheck`: true turns every check off, false turns the image's back on. */
  disable?: boolean;
  /** `--health-cmd`: a shell command, or '' for none (the image's check). */
  command?: string;
  settings: Omit<HealthConfig, 'Test'>;
}

type PlacementPreference = NonNullable<Placement['Preferences']>[number];

/** What `service update`'s flags ask for, read and checked before the service is fetched. */
export interface ServiceUpdate {
  image?: string;
  /** `--args` and `--entrypoint`, split as a shell would; empty clears them. */
  args?: string[];
  entrypoint?: string[];
  hostname?: string;
  user?: string;
  workdir?: string;
  replicas?: number;
  maxReplicasPerNode?: number;
  force: boolean;
  env: AddRemove<string>;
  labels: LabelChange;
  containerLabels: LabelChange;
  mounts: AddRemove<Mount>;
  constraints: AddRemove<string>;
  placementPreferences: AddRemove<PlacementPreference, PlacementPreference>;
  devices: AddRemove<DeviceMapping>;
  /** As typed; RESET included when given. */
  capabilities: { add: string[]; drop: string[] };
  ports: AddRemove<EndpointPortConfig, EndpointPortConfig>;
  networks: AddRemove<NetworkAttachmentConfig>;
  endpointMode?: 'vip' | 'dnsrr';
  /** 0 removes a limit or reservation. */
  limits: ResourceSet;
  reservations: ResourceSet;
  restartPolicy: RestartPolicy;
  stopGracePeriod?: number;
  healthcheck?: HealthcheckUpdate;
  privileged?: boolean;
  updateConfig: UpdateConfig;
  rollbackConfig: UpdateConfig;
}

/**
 * Reads and checks `service update`'s flags. `client` is where `--mount-add source=./dir` and `--env-add NAME` are
 * resolved, as on create.
 */
export function readServiceUpdate(options: ParsedArgs['options'], client: ClientContext = { cwd: process.cwd(), env: process.env }): ServiceUpdate {
  const get = (name: string) => stringOption(options, name);
  const list = (name: string) => listOption(options, name);
  const words = (name: string) => mapDefined(get(name), splitShellWords);
  const nanos = (name: string) => mapDefined(get(name), parseDuration);

  const mounts = list('mount-add').map((text) => parseMount(text, client));
  refuseRepeats(mounts.map((mount) => mount.Target), (target) => `--mount-add names the target ${target} twice: give each target once`);
  const devices = list('device-add').map(parseDevice);
  refuseRepeats(devices.map((device) => device.PathInContainer), (path) => `--device-add names ${path} in the container twice: give each device once`);

  return {
    image: get('image'),
    args: words('args'),
    entrypoint: words('entrypoint'),
    hostname: get('hostname'),
    user: get('user'),
    workdir: get('workdir'),
    replicas: mapDefined(get('replicas'), (text) => parseCount(text, 'replicas')),
    maxReplicasPerNode: mapDefined(get('replicas-max-per-node'), (text) => parseCount(text, 'replicas-max-per-node')),
    force: booleanOption(options, 'force'),
    env: {
      add: list('env-add').map((entry) => environmentEntry(entry, client.env)),
      remove: list('env-rm').map((name) => keyToRemove(name, '--env-rm', 'the variable\'s name')),
    },
    labels: { add: parseLabels(list('label-add')) ?? {}, remove: list('label-rm').map((key) => keyToRemove(key, '--label-rm', 'the label\'s key')) },
    containerLabels: {
      add: parseLabels(list('container-label-add')) ?? {},
      remove: list('container-label-rm').map((key) => keyToRemove(key, '--container-label-rm', 'the label\'s key')),
    },
    mounts: { add: mounts, remove: list('mount-rm') },
    constraints: { add: list('constraint-add'), remove: list('constraint-rm') },
    placementPreferences: { add: list('placement-pref-add').map(parsePlacementPref), remove: list('placement-pref-rm').map(parsePlacementPref) },
    devices: { add: devices, remove: list('device-rm').map(devicePathToRemove) },
    capabilities: { add: list('cap-add'), drop: list('cap-drop') },
    ports: { add: list('publish-add').flatMap((text) => parsePublish(text, '--publish-add')), remove: list('publish-rm').flatMap((text) => parsePublish(text, '--publish-rm')) },
    networks: { add: list('network-add').map((text) => parseNetworkOption(text, '--network-add')), remove: list('network-rm') },
    endpointMode: mapDefined(get('endpoint-mode'), parseEndpointMode),
    limits: definedFields({ NanoCPUs: mapDefined(get('limit-cpu'), parseNanoCpus), MemoryBytes: mapDefined(get('limit-memory'), parseMemorySize) }),
    reservations: definedFields({ NanoCPUs: mapDefined(get('reserve-cpu'), parseNanoCpus), MemoryBytes: mapDefined(get('reserve-memory'), parseMemorySize) }),
    restartPolicy: definedFields({
      Condition: mapDefined(get('restart-condition'), parseRestartCondition),
      Delay: nanos('restart-delay'),
      MaxAttempts: mapDefined(get('restart-max-attempts'), (text) => parseCount(text, 'restart-max-attempts')),
      Window: nanos('restart-window'),
    }),
    stopGracePeriod: nanos('stop-grace-period'),
    healthcheck: readHealthcheckUpdate(options),
    privileged: options.privileged === undefined ? undefined : booleanOption(options, 'privileged'),
    updateConfig: parsePolicyFlags(options, 'update'),
    rollbackConfig: parsePolicyFlags(options, 'rollback'),
  };
}

/** `--health-*` and `--no-healthcheck`, with Docker's rule that turning the check off takes no setting. */
function readHealthcheckUpdate(options: ParsedArgs['options']): HealthcheckUpdate | undefined {
  const get = (name: string) => stringOption(options, name);
  const settings = definedFields({
    Interval: mapDefined(get('health-interval'), parseDuration),
    Timeout: mapDefined(get('health-timeout'), parseDuration),
    Retries: mapDefined(get('health-retries'), (text) => parseCount(text, 'health-retries')),
    StartPeriod: mapDefined(get('health-start-period'), parseDuration),
  });
  const command = get('health-cmd');
  const disable = typeof options['no-healthcheck'] === 'boolean' ? options['no-healthcheck'] : undefined;
  const given = command !== undefined || Object.keys(settings).length > 0;
  if (disable && given) throw invalidArgument('--no-healthcheck conflicts with --health-* options');
  if (!given && disable === undefined) return undefined;
  return { ...(disable === undefined ? {} : { disable }), ...(command === undefined ? {} : { command }), settings };
}

/** `--env-rm` and `--label-rm` take a name alone: one with `=` could never match, so it is a mistake. */
function keyToRemove(text: string, flag: string, what: string): string {
  const equals = text.indexOf('=');
  if (equals >= 0) throw invalidArgument(`invalid ${flag} "${text}": give ${what} alone, e.g. ${flag} ${text.slice(0, equals) || 'NAME'}`);
  return text;
}

function devicePathToRemove(text: string): string {
  if (!text.startsWith('/')) throw invalidArgument(`invalid --device-rm "${text}": give the device's path in the container, e.g. /dev/i2c-1`);
  return text;
}

function refuseRepeats(keys: readonly string[], message: (key: string) => string): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) throw invalidArgument(message(key));
    seen.add(key);
  }
}

/**
 * The spec `service update [flags]` writes back: `spec` with what the flags name changed, and nothing else.
 * `networkIds` maps the networks the flags name to their IDs (a name missing from it is taken as an ID).
 */
export function updateServiceSpec(
  spec: ServiceSpec,
  { options }: Pick<ParsedArgs, 'options'>,
  networkIds: ReadonlyMap<string, string> = new Map(),
  client?: ClientContext,
): ServiceSpec {
  return applyServiceUpdate(spec, readServiceUpdate(options, client), networkIds);
}

/** Applies what `readServiceUpdate` read to a copy of `spec`; throws for what this spec cannot take. */
export function applyServiceUpdate(spec: ServiceSpec, update: ServiceUpdate, networkIds: ReadonlyMap<string, string> = new Map()): ServiceSpec {
  const next = structuredClone(spec);
  const task = next.TaskTemplate;
  const container = task.ContainerSpec;

  if (update.image !== undefined) container.Image = update.image;
  if (update.args !== undefined) setOrDelete(container, 'Args', update.args);
  if (update.entrypoint !== undefined) setOrDelete(container, 'Command', update.entrypoint);
  if (update.hostname !== undefined) setOrDelete(container, 'Hostname', update.hostname);
  if (update.user !== undefined) setOrDelete(container, 'User', update.user);
  if (update.workdir !== undefined) setOrDelete(container, 'Dir', update.workdir);
  if (update.stopGracePeriod !== undefined) container.StopGracePeriod = update.stopGracePeriod;
  if (update.privileged !== undefined) setOrDelete(container, 'Privileged', update.privileged || undefined);

  if (touches(update.labels)) setOrDelete(next, 'Labels', updateMap(next.Labels, update.labels));
  if (touches(update.containerLabels)) setOrDelete(container, 'Labels', updateMap(container.Labels, update.containerLabels));
  if (touches(update.env)) setOrDelete(container, 'Env', updateKeyed(container.Env ?? [], update.env, environmentName));
  if (touches(update.mounts)) setOrDelete(container, 'Mounts', updateKeyed(container.Mounts ?? [], update.mounts, (mount) => mount.Target));
  if (touches(update.devices)) setOrDelete(container, 'Devices', updateKeyed(container.Devices ?? [], update.devices, (device) => device.PathInContainer));
  if (update.capabilities.add.length > 0 || update.capabilities.drop.length > 0) {
    const capabilities = updateCapabilities(container.CapabilityAdd ?? [], container.CapabilityDrop ?? [], update.capabilities);
    setOrDelete(container, 'CapabilityAdd', capabilities.add);
    setOrDelete(container, 'CapabilityDrop', capabilities.drop);
  }
  if (update.healthcheck) setOrDelete(container, 'Healthcheck', updateHealthcheck(container.Healthcheck, update.healthcheck));

  if (Object.keys(update.limits).length > 0 || Object.keys(update.reservations).length > 0) {
    const resources = { ...task.Resources };
    if (Object.keys(update.limits).length > 0) setOrDelete(resources, 'Limits', updateResourceSet(resources.Limits, update.limits));
    if (Object.keys(update.reservations).length > 0) setOrDelete(resources, 'Reservations', updateResourceSet(resources.Reservations, update.reservations));
    setOrDelete(task, 'Resources', resources);
  }
  if (Object.keys(update.restartPolicy).length > 0) task.RestartPolicy = { ...task.RestartPolicy, ...update.restartPolicy };
  if (touches(update.constraints) || touches(update.placementPreferences) || update.maxReplicasPerNode !== undefined) {
    setOrDelete(task, 'Placement', updatePlacement(task.Placement, update, Boolean(next.Mode?.Global)));
  }

  if (update.replicas !== undefined) {
    if (!next.Mode?.Replicated) throw invalidArgument('replicas can only be used with replicated mode');
    next.Mode.Replicated.Replicas = update.replicas;
  }
  // Docker counts up, so tasks are replaced even when nothing else changed.
  if (update.force) task.ForceUpdate = (task.ForceUpdate ?? 0) + 1;

  setOrDelete(next, 'UpdateConfig', updatePolicy(next.UpdateConfig, update.updateConfig));
  setOrDelete(next, 'RollbackConfig', updatePolicy(next.RollbackConfig, update.rollbackConfig));

  if (update.endpointMode !== undefined) next.EndpointSpec = { ...next.EndpointSpec, Mode: update.endpointMode };
  if (touches(update.ports)) {
    const ports = updatePorts(next.EndpointSpec?.Ports ?? [], update.ports.add, update.ports.remove);
    const { Ports: _, ...endpoint } = next.EndpointSpec ?? {};
    next.EndpointSpec = { ...endpoint, ...(ports.length > 0 ? { Ports: ports } : {}) };
  }

  if (touches(update.networks)) {
    const { Networks: legacy, ...rest } = next;
    setOrDelete(task, 'Networks', updateNetworks(task.Networks ?? legacy ?? [], update.networks.add, update.networks.remove, networkIds));
    return rest;
  }
  return next;
}

function touches(change: AddRemove<unknown, unknown> | LabelChange): boolean {
  return (Array.isArray(change.add) ? change.add.length : Object.keys(change.add).length) > 0 || change.remove.length > 0;
}

function environmentName(entry: string): string {
  const equals = entry.indexOf('=');
  return equals < 0 ? entry : entry.slice(0, equals);
}

/** A list after removing the keys named and adding entries, each in place of the one with its key or at the end. */
function updateKeyed<T>(current: readonly T[], { add, remove }: AddRemove<T>, keyOf: (item: T) => string): T[] {
  const removed = new Set(remove);
  const items = current.filter((item) => !removed.has(keyOf(item)));
  for (const item of add) {
    const at = items.findIndex((existing) => keyOf(existing) === keyOf(item));
    if (at >= 0) items[at] = item;
    else items.push(item);
  }
  return items;
}

function updateMap(current: Labels | undefined, { add, remove }: LabelChange): Labels {
  const labels = { ...current };
  for (const key of remove) delete labels[key];
  return { ...labels, ...add };
}

/** A constraint compared without the blanks around its operator: `node.role == manager` is `node.role==manager`. */
function constraintKey(constraint: string): string {
  return constraint
    .split(/(==|!=)/)
    .map((part) => part.trim())
    .join('');
}

function updatePlacement(current: Placement | undefined, update: ServiceUpdate, global: boolean): Placement {
  const placement: Placement = { ...current };
  if (touches(update.constraints)) {
    const removed = new Set(update.constraints.remove.map(constraintKey));
    const constraints = (placement.Constraints ?? []).filter((constraint) => !removed.has(constraintKey(constraint)));
    for (const constraint of update.constraints.add) {
      if (!constraints.some((existing) => constraintKey(existing) === constraintKey(constraint))) constraints.push(constraint);
    }
    setOrDelete(placement, 'Constraints', constraints);
  }
  if (touches(update.placementPreferences)) {
    const spreadOf = (preference: PlacementPreference) => preference.Spread?.SpreadDescriptor;
    const removed = new Set(update.placementPreferences.remove.map(spreadOf));
    const preferences = (placement.Preferences ?? []).filter((preference) => !removed.has(spreadOf(preference)));
    for (const preference of update.placementPreferences.add) {
      if (!preferences.some((existing) => spreadOf(existing) === spreadOf(preference))) preferences.push(preference);
    }
    setOrDelete(placement, 'Preferences', preferences);
  }
  if (update.maxReplicasPerNode !== undefined) {
    if (update.maxReplicasPerNode > 0 && global) throw invalidArgument('--replicas-max-per-node can only be used with replicated mode');
    // 0 is no limit, which Docker leaves out of the spec.
    setOrDelete(placement, 'MaxReplicas', update.maxReplicasPerNode || undefined);
  }
  return placement;
}

/** Limits or reservations with the given ones set; 0 removes one (no limit), as Docker leaves a zero out. */
function updateResourceSet(current: ResourceSet | undefined, given: ResourceSet): ResourceSet {
  const set: ResourceSet = { ...current };
  for (const key of ['NanoCPUs', 'MemoryBytes'] as const) {
    const value = given[key];
    if (value !== undefined) setOrDelete(set, key, value || undefined);
  }
  return set;
}

/**
 * The healthcheck after `--health-*` and `--no-healthcheck`, as Docker's update makes it: off is `NONE` alone; a
 * setting on a check that was off turns it back on (the image's test, or `--health-cmd`'s); zeros are left out.
 */
function updateHealthcheck(current: HealthConfig | undefined, { disable, command, settings }: HealthcheckUpdate): HealthConfig {
  if (disable) return { Test: ['NONE'] };
  const health: HealthConfig = { ...current };
  if (health.Test?.[0] === 'NONE') delete health.Test;
  for (const key of ['Interval', 'Timeout', 'Retries', 'StartPeriod'] as const) {
    const value = settings[key];
    if (value !== undefined) setOrDelete(health, key, value || undefined);
  }
  if (command !== undefined) setOrDelete(health, 'Test', command === '' ? undefined : ['CMD-SHELL', command]);
  return health;
}

/** The one capability name that is not a capability, and update's "forget the list". */
const ALL_CAPABILITIES = 'ALL';
const RESET_CAPABILITIES = 'RESET';

/**
 * `--cap-add` and `--cap-drop` on update, by Docker's three-state rule: adding a capability the service drops only
 * stops dropping it (and dropping one it adds only stops adding it); otherwise it is added to (dropped from) the
 * list. `RESET` empties a list first; adding wins over dropping the same capability. The lists are sorted, without
 * duplicates, and `ALL` stands alone.
 */
export function updateCapabilities(
  currentAdd: readonly string[],
  currentDrop: readonly string[],
  given: { add: readonly string[]; drop: readonly string[] },
): { add?: string[]; drop?: string[] } {
  const toAdd = new Set(given.add.map(normalizeCapability));
  const toDrop = new Set(given.drop.map(normalizeCapability));
  const added = new Set(toAdd.has(RESET_CAPABILITIES) ? [] : currentAdd.map(normalizeCapability));
  const dropped = new Set(toDrop.has(RESET_CAPABILITIES) ? [] : currentDrop.map(normalizeCapability));
  toAdd.delete(RESET_CAPABILITIES);
  toDrop.delete(RESET_CAPABILITIES);
  for (const name of toDrop) {
    if (toAdd.has(name)) continue;
    if (added.has(name)) added.delete(name);
    else dropped.add(name);
  }
  for (const name of toAdd) {
    if (dropped.has(name)) dropped.delete(name);
    else added.add(name);
  }
  const list = (names: Set<string>) => (names.size === 0 ? undefined : names.has(ALL_CAPABILITIES) ? [ALL_CAPABILITIES] : [...names].sort());
  return definedFields({ add: list(added), drop: list(dropped) });
}

/**
 * A service's networks after `--network-rm` and `--network-add`, by Docker's rules: removing a network the service
 * is not on is no error, adding one it is on is.
 */
function updateNetworks(
  current: readonly NetworkAttachmentConfig[],
  add: readonly NetworkAttachmentConfig[],
  remove: readonly string[],
  networkIds: ReadonlyMap<string, string>,
): NetworkAttachmentConfig[] {
  const idOf = (ref: string) => networkIds.get(ref) ?? ref;
  const removed = new Set(remove.map(idOf));
  const networks = current.filter((attachment) => !removed.has(idOf(attachment.Target)));
  for (const attachment of add) {
    const target = idOf(attachment.Target);
    if (networks.some((existing) => idOf(existing.Target) === target)) {
      throw invalidArgument(`service is already attached to network ${attachment.Target}: use --network-rm first to change its aliases`);
    }
    networks.push({ ...attachment, Target: target });
  }
  return networks;
}

function mapDefined<T>(value: string | undefined, parse: (text: string) => T): T | undefined {
  return value === undefined ? undefined : parse(value);
}

/** The object without its undefined fields, so that `Object.keys` counts what was given. */
function definedFields<T extends object>(object: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * Sets `object[key]`, or deletes it when the value is empty (undefined, '', [] or {}): what Docker's JSON leaves
 * out is left out here too, so an emptied field does not linger as `[]`.
 */
function setOrDelete<T extends object, K extends keyof T>(object: T, key: K, value: T[K] | undefined): void {
  const empty =
    value === undefined ||
    value === '' ||
    (Array.isArray(value) && value.length === 0) ||
    (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);
  if (empty) delete object[key];
  else object[key] = value;
}
