/**
 * `swarmlet service create`'s flags and the ServiceSpec they make.
 *
 * The flags are Docker's, with Docker's meanings, and the spec is the one `docker service create` would send for
 * the same command line: the image's command goes to ContainerSpec.Args and `--entrypoint` to ContainerSpec.Command
 * (Docker's split, which the engine maps to Cmd and Entrypoint), sizes are 1024-based bytes, durations are
 * nanoseconds. Only what the user gave is set, so the daemon's defaults — the same ones Docker applies — stay in
 * one place. Building the spec is pure; sending it is the command's business.
 */

import type { ContainerSpec, Labels, Resources, RestartPolicy, ServiceSpec, TaskSpec } from '../api/types.ts';
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

  const constraints = listOption(options, 'constraint');
  const taskTemplate: TaskSpec = {
    ContainerSpec: containerSpec,
    ...defined('Resources', resources(get)),
    ...defined('RestartPolicy', restartPolicy(get)),
    ...defined('Placement', constraints.length > 0 ? { Constraints: constraints } : undefined),
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
