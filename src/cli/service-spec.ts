/**
 * `swarmlet service create`'s flags and the ServiceSpec they make.
 *
 * The flags are Docker's, with Docker's meanings, and the spec is the one `docker service create` would send for
 * the same command line: the image's command goes to ContainerSpec.Args and `--entrypoint` to ContainerSpec.Command
 * (Docker's split, which the engine maps to Cmd and Entrypoint), sizes are 1024-based bytes, durations are
 * nanoseconds. Only what the user gave is set, so the daemon's defaults — the same ones Docker applies — stay in
 * one place. Building the spec is pure; sending it is the command's business.
 */

import type { ContainerSpec, Labels, Placement, Resources, RestartPolicy, ServiceSpec, TaskSpec } from '../api/types.ts';
import { invalidArgument } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';
import { splitShellWords } from '../util/shell-words.ts';
import { parseMemorySize, parseNanoCpus } from '../util/units.ts';
import { type OptionSpec, type ParsedArgs, listOption, stringOption } from './flags.ts';

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
  { name: 'hostname', value: 'NAME', description: 'Container hostname' },
  { name: 'user', short: 'u', value: 'USER', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'workdir', short: 'w', value: 'DIR', description: 'Working directory inside the container' },
  { name: 'entrypoint', value: 'CMD', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'detach', short: 'd', description: 'Exit immediately instead of waiting for the service to converge' },
  { name: 'quiet', short: 'q', description: 'Suppress progress output' },
];

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
export function buildServiceSpec({ options, positionals }: ParsedArgs): ServiceSpecRequest {
  const [image, ...args] = positionals;
  if (!image) throw invalidArgument('service create needs an image: swarmlet service create [OPTIONS] IMAGE [COMMAND] [ARG...]');

  const get = (name: string) => stringOption(options, name);
  const entrypoint = get('entrypoint');
  const env = listOption(options, 'env');
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
  };

  const taskTemplate: TaskSpec = {
    ContainerSpec: containerSpec,
    ...defined('Resources', resources(get)),
    ...defined('RestartPolicy', restartPolicy(get)),
    ...defined('Placement', placement(options, get('mode'))),
  };

  return {
    ...defined('Name', get('name')),
    ...defined('Labels', parseLabels(listOption(options, 'label'))),
    TaskTemplate: taskTemplate,
    Mode: serviceMode(get('mode'), get('replicas')),
  };
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

function restartPolicy(get: (name: string) => string | undefined): RestartPolicy | undefined {
  const condition = get('restart-condition');
  if (condition !== undefined && !(RESTART_CONDITIONS as readonly string[]).includes(condition)) {
    throw invalidArgument(`invalid --restart-condition "${condition}": use none, on-failure or any`);
  }
  const policy: RestartPolicy = {
    ...defined('Condition', condition as RestartPolicy['Condition']),
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
