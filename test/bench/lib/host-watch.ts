/**
 * Watching containers come up on the harness's hosts, the same way for the three sides of the orchestration
 * benchmark: plain `docker run` (engines only), swarmlet and Docker Swarm mode (a manager's GET /tasks and
 * GET /nodes, which both speak, and the engines). What a manager says and what the engines run are timed apart,
 * since a manager may call a task running before, or after, its engine does.
 */

import type { Host } from '../../cluster/harness.ts';
import type { Reply } from '../../helpers/unix-http.ts';

const POLL_MS = 100;

/** A manager's Engine API: a swarmlet daemon's socket, or a Swarm manager's engine. */
export type ManagerApi = <T = any>(method: string, path: string) => Promise<Reply<T>>;

interface TaskLike {
  NodeID?: string;
  DesiredState: string;
  Status: { State: string };
}

interface NodeLike {
  ID: string;
  Description: { Hostname: string };
  Status: { State: string };
}

async function get<T>(api: ManagerApi, path: string): Promise<T> {
  const reply = await api<T>('GET', path);
  if (reply.status !== 200) throw new Error(`GET ${path}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Node ID by hostname (h1, h2...), as the manager lists them. */
export async function nodeIdsByHost(api: ManagerApi): Promise<Map<string, string>> {
  return new Map((await get<NodeLike[]>(api, '/nodes')).map((n) => [n.Description.Hostname, n.ID]));
}

/** Running tasks of `service` that should run, by node ID. */
export async function runningTasksByNode(api: ManagerApi, service: string): Promise<Map<string, number>> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }));
  const counts = new Map<string, number>();
  for (const task of await get<TaskLike[]>(api, `/tasks?filters=${filters}`)) {
    if (task.DesiredState !== 'running' || task.Status.State !== 'running' || !task.NodeID) continue;
    counts.set(task.NodeID, (counts.get(task.NodeID) ?? 0) + 1);
  }
  return counts;
}

/** Running containers carrying `label` (`key=value`) on each host's engine, by host name. */
export async function runningContainersByHost(hosts: Host[], label: string): Promise<Map<string, number>> {
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  const counts = await Promise.all(hosts.map(async (host) => {
    const reply = await host.engineApi<unknown[]>('GET', `/containers/json?filters=${filters}`);
    if (reply.status !== 200) throw new Error(`GET /containers/json on ${host.name}'s engine: ${reply.status} ${JSON.stringify(reply.body)}`);
    return [host.name, reply.body.length] as const;
  }));
  return new Map(counts);
}

export const total = (counts: Map<string, number>): number => [...counts.values()].reduce((a, b) => a + b, 0);

export interface WatchOptions {
  /** Date.now() just before the action being timed. */
  start: number;
  /** How many must run. */
  target: number;
  timeoutMs: number;
  /** Engines whose running containers count, and the label that marks them. */
  engines: Host[];
  label: string;
  /** The manager to ask; none for plain containers. */
  manager?: ManagerWatch;
}

export interface ManagerWatch {
  api: ManagerApi;
  service: string;
  /** Only tasks on these node IDs count (default: all). */
  nodes?: Set<string>;
  /** A node ID whose being marked down is timed as well. */
  down?: string;
}

export interface Watch {
  /** Milliseconds from `start` until the manager counted `target` running tasks; undefined: not within the timeout. */
  tasks: number | undefined;
  /** The same for running containers on the engines. */
  containers: number | undefined;
  /** Until the manager marked `manager.down` down, if asked and seen. */
  down: number | undefined;
  /** What the last poll saw, for the report (and for a timeout). */
  lastTasks: number;
  lastContainers: number;
  /** Running containers per engine at the last poll. */
  perHost: Map<string, number>;
  timedOut: boolean;
}

/**
 * Polls every 100 ms (each poll's requests in parallel; a time is taken when the poll's answers are in) until the
 * manager counts `target` running tasks and the engines run `target` containers, or the timeout. A poll that fails
 * (a manager busy electing, an engine slow to answer) counts as not yet.
 */
export async function watchUntilRunning(options: WatchOptions): Promise<Watch> {
  const { start, target, timeoutMs, engines, label, manager } = options;
  const watch: Watch = { tasks: undefined, containers: undefined, down: undefined, lastTasks: 0, lastContainers: 0, perHost: new Map(), timedOut: false };
  for (;;) {
    const [tasks, containers, nodes] = await Promise.all([
      manager ? runningTasksByNode(manager.api, manager.service).catch(() => undefined) : undefined,
      runningContainersByHost(engines, label).catch(() => undefined),
      manager?.down !== undefined && watch.down === undefined ? get<NodeLike[]>(manager.api, '/nodes').catch(() => undefined) : undefined,
    ]);
    const at = Date.now() - start;
    if (tasks) {
      const counted = [...tasks].filter(([node]) => !manager!.nodes || manager!.nodes.has(node)).reduce((sum, [, n]) => sum + n, 0);
      watch.lastTasks = counted;
      if (counted >= target) watch.tasks ??= at;
    }
    if (containers) {
      watch.perHost = containers;
      watch.lastContainers = total(containers);
      if (watch.lastContainers >= target) watch.containers ??= at;
    }
    if (nodes?.find((n) => n.ID === manager!.down)?.Status.State === 'down') watch.down ??= at;
    const managerDone = !manager || watch.tasks !== undefined;
    if (managerDone && watch.containers !== undefined) return watch;
    if (at > timeoutMs) return { ...watch, timedOut: true };
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
