/**
 * Waiting for a service to converge after `service create` or `service scale`, as the docker CLI does unless
 * `--detach`: the command returns when the tasks run, so a script's next line can rely on them.
 *
 * Docker draws a progress bar per slot; swarmlet prints a compact line whenever the count changes and each new
 * task error once (an image the engine lacks shows up at once instead of after the timeout). The wait is bounded:
 * a service that cannot converge (no image, no node with enough memory) ends the command with the reason and
 * a pointer to `service ps`, and the service stays as created.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Service, Task } from '../api/types.ts';
import { SwarmletError } from '../errors.ts';
import { formatDuration } from '../util/duration.ts';
import type { ApiClient } from './api-client.ts';

export interface ConvergeOptions {
  /** How the user named the service, for messages. */
  ref: string;
  out(text: string): void;
  timeoutMs?: number;
  pollMs?: number;
}

export interface Progress {
  running: number;
  desired: number;
  converged: boolean;
}

/**
 * Counts a service's progress from its tasks. Only tasks meant to run count: a replicated service converges when
 * every slot up to its replica count has a running task, a global one when each of its nodes' tasks runs.
 */
export function measureProgress(service: Service, tasks: readonly Task[]): Progress {
  const meant = tasks.filter((task) => task.ServiceID === service.ID && task.DesiredState === 'running');
  const running = meant.filter((task) => task.Status.State === 'running');
  if (service.Spec.Mode?.Global) {
    const nodes = new Set(meant.map((task) => task.NodeID ?? task.ID));
    const runningNodes = new Set(running.map((task) => task.NodeID ?? task.ID));
    return { running: runningNodes.size, desired: nodes.size, converged: nodes.size > 0 && runningNodes.size === nodes.size };
  }
  const replicas = service.Spec.Mode?.Replicated?.Replicas ?? 1;
  const slots = new Set(running.map((task) => task.Slot).filter((slot) => slot !== undefined && slot <= replicas));
  return { running: slots.size, desired: replicas, converged: slots.size === replicas };
}

/** Polls the service's tasks until they all run; throws when they do not within the timeout. */
export async function waitForConvergence(api: ApiClient, serviceId: string, options: ConvergeOptions): Promise<void> {
  const { ref, out, timeoutMs = 120_000, pollMs = 250 } = options;
  const deadline = Date.now() + timeoutMs;
  const filters = JSON.stringify({ service: [serviceId] });
  const reported = new Set<string>();
  let lastLine = '';
  let lastError = '';
  for (;;) {
    const service = await api.get<Service>(`/services/${encodeURIComponent(serviceId)}`);
    const tasks = await api.get<Task[]>('/tasks', { filters });
    const progress = measureProgress(service, tasks);
    const line = `overall progress: ${progress.running} out of ${progress.desired} tasks\n`;
    if (line !== lastLine) out(line);
    lastLine = line;
    for (const task of tasks) {
      const err = task.Status.Err;
      if (!err || task.DesiredState !== 'running' || reported.has(`${task.ID}:${err}`)) continue;
      reported.add(`${task.ID}:${err}`);
      lastError = err;
      out(`${service.Spec.Name}.${task.Slot ?? task.NodeID ?? ''}: ${task.Status.State}: ${err}\n`);
    }
    if (progress.converged) {
      out(`verify: Service ${ref} converged\n`);
      return;
    }
    if (Date.now() >= deadline) {
      throw new SwarmletError(
        'unavailable',
        `service ${ref} did not converge within ${formatDuration(timeoutMs * 1e6)} (${progress.running} of ${progress.desired} tasks running` +
          `${lastError ? `; last error: ${lastError}` : ''}): see \`swarmlet service ps ${ref}\`; the service stays as it is`,
      );
    }
    await sleep(pollMs);
  }
}
