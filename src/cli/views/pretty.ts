/**
 * `inspect --pretty`: the human-readable forms of a service and a node, laid out as the docker CLI lays them out
 * (its templates write literal tabs — the service's form between empty lines — sizes as `64MiB` and durations as
 * `1m30s`).
 *
 * Only what swarmlet's objects carry is shown; a section is left out when its fields are unset, as Docker does.
 * Additions to a service: its restart policy and its entrypoint (ContainerSpec.Command), which Docker's template
 * leaves out but which are what a user checks after `--restart-*` and `--entrypoint`, its virtual IPs (the address
 * its name answers on, per network), and swarmlet's own Privileged and Devices. Networks are named as the caller
 * resolved them (the docker CLI asks for each network's name), or shown by ID. Three to a node, shown
 * only when the node reports them: that its engine cannot enforce memory limits, with the fix, how many images
 * it holds (with no registry to pull from, a node runs only those), and the published ports its routing mesh could
 * not open, with why and what to do.
 */

import type { EndpointPortConfig, HealthConfig, MeshPortConflict, Node, Service, UpdateConfig, UpdateStatus } from '../../api/types.ts';
import { formatDuration } from '../../util/duration.ts';
import { formatBytes, formatNanoCpus } from '../../util/units.ts';
import { capitalize, humanDuration } from '../format.ts';

export function prettyService(service: Service, now = Date.now()): string {
  return prettyServiceWithNames(service, new Map(), now);
}

/**
 * `networkNames` maps network IDs to names, for the Networks line; an ID without a name is shown as it is. `now`
 * (ms) is when "Started: 5 seconds ago" is counted from.
 */
export function prettyServiceWithNames(service: Service, networkNames: ReadonlyMap<string, string>, now = Date.now()): string {
  const spec = service.Spec;
  const task = spec.TaskTemplate;
  const container = task.ContainerSpec;
  const lines: string[] = ['', `ID:\t\t${service.ID}`, `Name:\t\t${spec.Name}`];
  pushLabels(lines, 'Labels:', ' ', spec.Labels);
  if (spec.Mode?.Global) {
    lines.push('Service Mode:\tGlobal');
  } else {
    lines.push('Service Mode:\tReplicated', ` Replicas:\t${spec.Mode?.Replicated?.Replicas ?? 1}`);
  }
  pushUpdateStatus(lines, service.UpdateStatus, now);
  lines.push('Placement:');
  if (task.Placement?.Constraints?.length) lines.push(` Constraints:\t[${task.Placement.Constraints.join(' ')}]`);
  if (spec.UpdateConfig) pushUpdateConfig(lines, 'UpdateConfig:', ' Update order:      ', spec.UpdateConfig);
  if (spec.RollbackConfig) pushUpdateConfig(lines, 'RollbackConfig:', ' Rollback order:    ', spec.RollbackConfig);
  lines.push('ContainerSpec:', ` Image:\t\t${container.Image}`);
  if (container.Command?.length) lines.push(` Command:\t${container.Command.join(' ')}`);
  if (container.Args?.length) lines.push(` Args:\t\t${container.Args.map((arg) => `${arg} `).join('')}`);
  if (container.Env?.length) lines.push(` Env:\t\t${container.Env.map((env) => `${env} `).join('')}`);
  if (container.Dir) lines.push(` Dir:\t\t${container.Dir}`);
  if (container.Init !== undefined) lines.push(` Init:\t\t${container.Init}`);
  if (container.User) lines.push(` User: ${container.User}`);
  if (container.Privileged) lines.push(' Privileged:\ttrue');
  const added = container.CapabilityAdd ?? [];
  const dropped = container.CapabilityDrop ?? [];
  if (added.length > 0 || dropped.length > 0) lines.push('Capabilities:');
  if (added.length > 0) lines.push(` Add: ${added.join(', ')}`);
  if (dropped.length > 0) lines.push(` Drop: ${dropped.join(', ')}`);
  if (container.Mounts?.length) lines.push('Mounts:');
  for (const mount of container.Mounts ?? []) {
    lines.push(` Target:\t${mount.Target}`, `  Source:\t${mount.Source ?? ''}`, `  ReadOnly:\t${mount.ReadOnly ?? false}`, `  Type:\t\t${mount.Type}`);
  }
  if (container.Devices?.length) lines.push('Devices:');
  for (const device of container.Devices ?? []) lines.push(` ${device.PathOnHost}:${device.PathInContainer}:${device.CgroupPermissions}`);

  const { Reservations: reserved, Limits: limits } = task.Resources ?? {};
  if (reserved?.NanoCPUs || reserved?.MemoryBytes || limits?.NanoCPUs || limits?.MemoryBytes) {
    lines.push('Resources:');
    for (const [title, set] of [[' Reservations:', reserved], [' Limits:', limits]] as const) {
      if (!set?.NanoCPUs && !set?.MemoryBytes) continue;
      lines.push(title);
      if (set.NanoCPUs) lines.push(`  CPU:\t\t${formatNanoCpus(set.NanoCPUs)}`);
      if (set.MemoryBytes) lines.push(`  Memory:\t${formatBytes(set.MemoryBytes)}`);
    }
  }
  const restart = task.RestartPolicy;
  if (restart) {
    lines.push('RestartPolicy:', ` Condition:\t${restart.Condition ?? 'any'}`);
    if (restart.Delay !== undefined) lines.push(` Delay:\t\t${formatDuration(restart.Delay)}`);
    if (restart.MaxAttempts !== undefined) lines.push(` Max attempts:\t${restart.MaxAttempts}`);
    if (restart.Window !== undefined) lines.push(` Window:\t${formatDuration(restart.Window)}`);
  }
  const networks = task.Networks ?? spec.Networks ?? [];
  const nameOf = (id: string) => networkNames.get(id) ?? id;
  if (networks.length > 0) lines.push(`Networks:${networks.map((network) => ` ${nameOf(network.Target)}`).join('')} `);
  lines.push(`Endpoint Mode:\t${spec.EndpointSpec?.Mode ?? service.Endpoint?.Spec.Mode ?? 'vip'}`);
  const vips = service.Endpoint?.VirtualIPs ?? [];
  if (vips.length > 0) lines.push('Virtual IPs:', ...vips.map((vip) => ` ${nameOf(vip.NetworkID)}:\t${vip.Addr}`));
  pushPorts(lines, service.Endpoint?.Ports ?? []);
  if (container.Healthcheck) pushHealthcheck(lines, container.Healthcheck);
  lines.push('');
  return `${lines.join('\n')}\n`;
}

/** The Endpoint's ports (published ports filled in), one block each; Docker's template ends the last with a space. */
function pushPorts(lines: string[], ports: readonly EndpointPortConfig[]): void {
  if (ports.length === 0) return;
  lines.push('Ports:');
  ports.forEach((port, i) => {
    lines.push(
      ` PublishedPort = ${port.PublishedPort ?? 0}`,
      `  Protocol = ${port.Protocol ?? ''}`,
      `  TargetPort = ${port.TargetPort}`,
      `  PublishMode = ${port.PublishMode ?? ''}${i === ports.length - 1 ? ' ' : ''}`,
    );
  });
}

/** Docker's template puts the healthcheck last, indented, with its own spacing (and a blank after the last test). */
function pushHealthcheck(lines: string[], health: HealthConfig): void {
  lines.push(
    ' Healthcheck:',
    `  Interval = ${formatDuration(health.Interval ?? 0)}`,
    `  Retries = ${health.Retries ?? 0}`,
    `  StartPeriod =\t${formatDuration(health.StartPeriod ?? 0)}`,
    `  Timeout =\t${formatDuration(health.Timeout ?? 0)}`,
  );
  const tests = health.Test ?? [];
  if (tests.length > 0) lines.push('  Tests:', ...tests.map((test, i) => `\t Test = ${test}${i === tests.length - 1 ? ' ' : ''}`));
}

/** Where the last update stands, as docker prints it: times as how long ago. */
function pushUpdateStatus(lines: string[], status: UpdateStatus | undefined, now: number): void {
  if (!status) return;
  const ago = (iso: string) => `${humanDuration(Math.max(0, now - Date.parse(iso)))} ago`;
  lines.push('UpdateStatus:', ` State:\t\t${status.State}`);
  if (status.StartedAt) lines.push(` Started:\t${ago(status.StartedAt)}`);
  if (status.CompletedAt && (status.State === 'completed' || status.State === 'rollback_completed')) lines.push(` Completed:\t${ago(status.CompletedAt)}`);
  lines.push(` Message:\t${status.Message ?? ''}`);
}

function pushUpdateConfig(lines: string[], title: string, orderLabel: string, config: UpdateConfig): void {
  lines.push(title, ` Parallelism:\t${config.Parallelism ?? 1}`);
  if (config.Delay) lines.push(` Delay:\t\t${formatDuration(config.Delay)}`);
  lines.push(
    ` On failure:\t${config.FailureAction ?? 'pause'}`,
    ` Monitoring Period: ${formatDuration(config.Monitor ?? 5_000_000_000)}`,
    ` Max failure ratio: ${config.MaxFailureRatio ?? 0}`,
    `${orderLabel}${config.Order ?? 'stop-first'}`,
  );
}

function pushLabels(lines: string[], title: string, indent: string, labels: Record<string, string> | undefined): void {
  const keys = Object.keys(labels ?? {}).sort();
  if (keys.length === 0) return;
  lines.push(title, ...keys.map((key) => `${indent}${key}${labels![key] ? `=${labels![key]}` : ''}`));
}

/** `2026-11-27T02:48:18.739119331Z` → `2026-11-27 02:48:18.739119331 +0000 utc`, Go's time format as Docker shows it. */
export function goTime(rfc3339: string): string {
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(rfc3339);
  if (!match) return rfc3339;
  const [, date, time, fraction = '', zone] = match;
  const trimmed = fraction.replace(/0+$/, '');
  const offset = zone === 'Z' ? '+0000 utc' : `${zone!.replace(':', '')} ${zone!.replace(':', '')}`;
  return `${date} ${time}${trimmed ? `.${trimmed}` : ''} ${offset}`;
}

/**
 * Under a node's Resources when its memory cgroup is off: what that means for scheduling, and the fix on Raspberry
 * Pi OS, which boots with it off (the file is /boot/firmware/cmdline.txt since Bookworm, /boot/cmdline.txt before).
 */
export const MEMORY_LIMITS_OFF = [
  ' Memory limits:\t\tnot enforced (memory cgroup disabled): tasks with a memory limit or reservation are not placed here',
  '  To enable on a Raspberry Pi: add "cgroup_enable=memory cgroup_memory=1" to /boot/cmdline.txt (or /boot/firmware/cmdline.txt) and reboot',
];

export function prettyNode(node: Node): string {
  const description = node.Description;
  const lines: string[] = [`ID:\t\t\t${node.ID}`];
  if (node.Spec.Name) lines.push(`Name:\t\t\t${node.Spec.Name}`);
  pushLabels(lines, 'Labels:', ' - ', node.Spec.Labels);
  lines.push(
    `Hostname:              \t${description.Hostname}`,
    `Joined at:             \t${goTime(node.CreatedAt)}`,
    'Status:',
    ` State:\t\t\t${capitalize(node.Status.State)}`,
  );
  if (node.Status.Message) lines.push(` Message:              \t${node.Status.Message}`);
  lines.push(` Availability:         \t${capitalize(node.Spec.Availability)}`);
  if (node.Status.Addr) lines.push(` Address:\t\t${node.Status.Addr}`);
  if (node.ManagerStatus) {
    lines.push(
      'Manager Status:',
      ` Address:\t\t${node.ManagerStatus.Addr}`,
      ` Raft Status:\t\t${capitalize(node.ManagerStatus.Reachability)}`,
      ` Leader:\t\t${node.ManagerStatus.Leader ? 'Yes' : 'No'}`,
    );
  }
  lines.push(
    'Platform:',
    ` Operating System:\t${description.Platform.OS}`,
    ` Architecture:\t\t${description.Platform.Architecture}`,
    'Resources:',
    ` CPUs:\t\t\t${formatNanoCpus(description.Resources.NanoCPUs)}`,
    ` Memory:\t\t${formatBytes(description.Resources.MemoryBytes)}`,
  );
  if (description.MemoryLimit === false) lines.push(...MEMORY_LIMITS_OFF);
  const plugins = description.Engine.Plugins ?? [];
  if (plugins.length > 0) {
    lines.push('Plugins:');
    for (const type of [...new Set(plugins.map((plugin) => plugin.Type))].sort()) {
      const names = plugins.filter((plugin) => plugin.Type === type).map((plugin) => plugin.Name).sort();
      lines.push(` ${type}:\t\t${names.join(', ')}`);
    }
  }
  lines.push(`Engine Version:\t\t${description.Engine.EngineVersion}`);
  pushLabels(lines, 'Engine Labels:', ' - ', description.Engine.Labels);
  if (description.Images) lines.push(`Images:\t\t\t${description.Images.length}`);
  pushMeshPortConflicts(lines, description.MeshPortConflicts ?? []);
  return `${lines.join('\n')}\n`;
}

/** The published ports the node's routing mesh could not open: each with its service and why, then what to do. */
function pushMeshPortConflicts(lines: string[], conflicts: readonly MeshPortConflict[]): void {
  if (conflicts.length === 0) return;
  lines.push('Published ports not open:');
  for (const conflict of conflicts) lines.push(` ${conflict.Port}/${conflict.Protocol}:\t\tservice ${conflict.ServiceID}: ${conflict.Error}`);
  lines.push('  The routing mesh keeps trying them and answers once they are free: stop what holds them, or publish other ports');
}
