/**
 * Driving and watching a rolling update through the Engine API, the same way for swarmlet and for Docker Swarm
 * mode: both answer GET /services/NAME with the service's UpdateStatus, take POST /services/ID/update?version=N with
 * the whole spec (what `docker service update` sends), and list tasks with GET /tasks. So one poller, pointed at a
 * swarmlet daemon's socket or at a Swarm manager's engine, times both sides alike.
 *
 * Times are taken when a poll's answer is in, so a figure is late by at most one poll interval (plus the request).
 */

import type { Service, ServiceSpec, Task, UpdateState } from '../../../src/api/types.ts';
import type { Reply } from '../../helpers/unix-http.ts';

/** A manager's API: a swarmlet daemon's `api`, or a host's `engineApi` for Docker Swarm mode. */
export type EngineApi = <T = any>(method: string, path: string, body?: unknown) => Promise<Reply<T>>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** States an update stays in only while it runs; any other is where it ended (or a pause a user must lift). */
const RUNNING_STATES = new Set<UpdateState | undefined>(['updating', 'rollback_started']);

export async function getService(api: EngineApi, name: string): Promise<Service> {
  const reply = await api<Service>('GET', `/services/${encodeURIComponent(name)}`);
  if (reply.status !== 200) throw new Error(`GET /services/${name}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

export async function tasksOf(api: EngineApi, name: string): Promise<Task[]> {
  const filters = encodeURIComponent(JSON.stringify({ service: [name] }));
  const reply = await api<Task[]>('GET', `/tasks?filters=${filters}`);
  if (reply.status !== 200) throw new Error(`GET /tasks: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Tasks that serve: meant to run and running. A task being replaced stops counting once it is told to stop. */
export const serving = (tasks: Task[]): Task[] => tasks.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');

export const hasEnv = (task: Task, entry: string): boolean => (task.Spec.ContainerSpec.Env ?? []).includes(entry);

/**
 * Sets `key=value` in the service's environment through the API: read the service, change its spec, write it back
 * at the version read. Resolves once the manager has accepted the update (200), with Date.now() taken just before
 * the POST was sent: when the update was requested, the read before it not counted.
 */
export async function setEnv(api: EngineApi, name: string, key: string, value: string): Promise<number> {
  const current = await getService(api, name);
  const spec: ServiceSpec = structuredClone(current.Spec);
  const env = spec.TaskTemplate.ContainerSpec.Env ?? [];
  spec.TaskTemplate.ContainerSpec.Env = [...env.filter((e) => !e.startsWith(`${key}=`)), `${key}=${value}`];
  const posted = Date.now();
  const reply = await api('POST', `/services/${current.ID}/update?version=${current.Version.Index}`, spec);
  if (reply.status !== 200) throw new Error(`POST /services/${current.ID}/update: ${reply.status} ${JSON.stringify(reply.body)}`);
  return posted;
}

/** How many tasks of `name` serve after `timeoutMs`, or when `count` first did. */
export interface Serving {
  /** Milliseconds from `start` until `count` tasks served; undefined: not within the limit. */
  ms: number | undefined;
  /** Serving tasks at the last poll. */
  last: number;
}

/** Polls GET /tasks every `everyMs` until `count` tasks of `name` serve or `timeoutMs` from `start` passed. */
export async function waitForServing(api: EngineApi, name: string, count: number, start: number, timeoutMs: number, everyMs = 200): Promise<Serving> {
  let last = 0;
  for (;;) {
    const tasks = await tasksOf(api, name).catch(() => undefined);
    const at = Date.now() - start;
    if (tasks) last = serving(tasks).length;
    if (last >= count) return { ms: at, last };
    if (at > timeoutMs) return { ms: undefined, last };
    await sleep(everyMs);
  }
}

/** Where an update ended, as the manager's GET /services/NAME said it. */
export interface UpdateEnd {
  /** Milliseconds from `start` to the first poll that saw the update no longer running; undefined on a timeout. */
  ms: number | undefined;
  /** The UpdateStatus state at that poll (or the last one seen, on a timeout). */
  state: UpdateState | undefined;
  message: string | undefined;
  /** CompletedAt − StartedAt of the UpdateStatus, in the manager's own clock, when it has both. */
  managerMs: number | undefined;
}

/**
 * Polls GET /services/NAME every `everyMs` until its UpdateStatus leaves `updating` (completed, or paused, or a
 * rollback's end), or `timeoutMs` from `start` passed. An UpdateStatus without StartedAt, or none yet, counts as
 * not started: the first update of a service has none before the request is applied.
 */
export async function waitForUpdateEnd(api: EngineApi, name: string, start: number, timeoutMs: number, everyMs = 100): Promise<UpdateEnd> {
  let seen: Service['UpdateStatus'];
  for (;;) {
    const service = await getService(api, name).catch(() => undefined);
    const at = Date.now() - start;
    const status = service?.UpdateStatus;
    if (status?.StartedAt) seen = status;
    if (status?.StartedAt && !RUNNING_STATES.has(status.State)) {
      const completed = status.CompletedAt ? Date.parse(status.CompletedAt) - Date.parse(status.StartedAt) : NaN;
      return { ms: at, state: status.State, message: status.Message, managerMs: Number.isFinite(completed) && completed >= 0 ? completed : undefined };
    }
    if (at > timeoutMs) return { ms: undefined, state: seen?.State, message: seen?.Message, managerMs: undefined };
    await sleep(everyMs);
  }
}

/**
 * Samples how many tasks of `name` serve every `everyMs` until stopped, and keeps the fewest seen. A poll that fails
 * or sees none is skipped: a manager busy for a moment must not read as an outage.
 */
export function watchServing(api: EngineApi, name: string, replicas: number, everyMs = 200): { stop(): Promise<{ fewest: number; samples: number }> } {
  let fewest = replicas;
  let samples = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const count = serving(await tasksOf(api, name).catch(() => [])).length;
      if (count > 0) {
        fewest = Math.min(fewest, count);
        samples++;
      }
      await sleep(everyMs);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await done;
      return { fewest, samples };
    },
  };
}

/**
 * For each serving task carrying `env`: milliseconds from the task's creation (when the orchestrator made it) to it
 * running. swarmlet's running time is its ReadyAt, when a manager first recorded the task running (its
 * Status.Timestamp is renewed when an agent reports the same state again); Swarm's, its Status.Timestamp, which its
 * agents set when the state changes. On Swarm this includes the agent's attempt to pull the image from a registry.
 */
export function createdToRunning(tasks: Task[], env: string): number[] {
  return serving(tasks)
    .filter((t) => hasEnv(t, env))
    .map((t) => Date.parse(t.ReadyAt ?? t.Status.Timestamp) - Date.parse(t.CreatedAt))
    .filter((ms) => Number.isFinite(ms) && ms >= 0)
    .sort((a, b) => a - b);
}
