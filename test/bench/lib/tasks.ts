/**
 * Watching a service converge, the same way for swarmlet and for Docker Swarm mode: both speak the Engine API's
 * GET /tasks (what `service ps` reads), so one poller on each socket measures both sides alike.
 */

import { request } from '../../helpers/unix-http.ts';
import { docker, inspect } from '../../helpers/docker.ts';

export const DOCKER_SOCKET = '/var/run/docker.sock';
const POLL_MS = 25;

export interface Convergence {
  /** Milliseconds from `start` until the first task, and then every task, was seen running. */
  firstRunning: number;
  allRunning: number;
}

/**
 * Polls GET /tasks on `socket` until `replicas` tasks of `service` that should run do run; times are relative to
 * `start` (a Date.now() taken just before the create command).
 */
export async function waitForRunning(socket: string, service: string, replicas: number, start: number, timeoutMs = 120_000): Promise<Convergence> {
  const filters = encodeURIComponent(JSON.stringify({ service: [service], 'desired-state': ['running'] }));
  let firstRunning: number | undefined;
  for (;;) {
    const reply = await request<{ Status: { State: string } }[]>(socket, 'GET', `/tasks?filters=${filters}`);
    const now = Date.now();
    if (reply.status !== 200) throw new Error(`GET /tasks on ${socket}: ${reply.status} ${JSON.stringify(reply.body)}`);
    const running = reply.body.filter((task) => task.Status.State === 'running').length;
    if (running > 0) firstRunning ??= now - start;
    if (running >= replicas) return { firstRunning: firstRunning!, allRunning: now - start };
    if (now - start > timeoutMs) throw new Error(`${service}: only ${running}/${replicas} tasks running after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

export interface EngineTimeline {
  /** From `start` to the first container's creation, and to the last container's start, by the engine's clock. */
  firstCreated: number;
  lastStarted: number;
  /** Median time one container took from created to started. */
  createToStart: number;
}

/** Where the time went on the engine, from `docker inspect` of the containers carrying `label`. */
export async function engineTimeline(label: string, start: number): Promise<EngineTimeline> {
  const list = await docker(['ps', '-aq', '--no-trunc', '--filter', `label=${label}`]);
  const containers = await inspect(list.stdout.split('\n').filter(Boolean));
  const created = containers.map((c) => Date.parse(c.Created));
  const started = containers.map((c) => Date.parse(c.State.StartedAt));
  const gaps = containers.map((_, i) => started[i]! - created[i]!).sort((a, b) => a - b);
  return {
    firstCreated: Math.min(...created) - start,
    lastStarted: Math.max(...started) - start,
    createToStart: gaps[Math.floor(gaps.length / 2)] ?? NaN,
  };
}
