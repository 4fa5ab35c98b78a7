/**
 * The agent: makes the node's engine match its assignments. Each pass reads the assignments and the engine's
 * containers, plans (plan.ts, pure), carries the plan out with a few engine calls at once, and reports the
 * observed task states to the managers in one batch. Passes run when the assignments change, when the engine
 * reports a container event, and on a slow timer as a safety net; they never overlap.
 */

import type { TaskState } from '../api/types.ts';
import { describeError, SwarmletError } from '../errors.ts';
import { DEFAULT_RESTART_DELAY_NS } from '../manager/orchestrator/restart.ts';
import { isTerminal } from '../manager/state/cluster-state.ts';
import type { TaskStatusUpdate } from '../manager/state/commands.ts';
import type { ContainerRuntime, Disposer, PortBinding } from '../runtime/runtime.ts';
import { failpoint } from '../util/failpoints.ts';
import { Limiter } from '../util/limiter.ts';
import { SerialRunner } from '../util/serial-runner.ts';
import type { Logger } from '../util/logger.ts';
import type { Assignment, AssignmentSource, StatusReporter } from './assignment.ts';
import { containerOptions } from './container-config.ts';
import { resolveLocalImage } from './image.ts';
import { LABEL, nodeFilter } from './labels.ts';
import { NodeNetworks } from './networks.ts';
import type { AgentAction } from './plan.ts';
import { planAgent } from './plan.ts';

/** The error a task ends with when the engine judged its container unhealthy. */
export const UNHEALTHY = 'task: container unhealthy';

/** What a task whose container runs but has not passed its healthcheck yet says in `service ps`. */
const HEALTH_WAIT = 'waiting for the healthcheck to pass';

/** A task's stop grace period in whole seconds, as the engine takes it (Swarm's default: 10 s). */
const stopTimeoutSeconds = (assignment: Assignment) => Math.ceil((assignment.task.Spec.ContainerSpec.StopGracePeriod ?? 10_000_000_000) / 1e9);

/** Stops in flight at once: each holds one idle connection to the engine for up to its grace period. */
const MAX_CONCURRENT_STOPS = 32;

/** How long a status report may go uncommitted before the agent sends it again. */
const REPORT_RETRY_MS = 5_000;

export interface AgentOptions {
  nodeId: string;
  runtime: ContainerRuntime;
  source: AssignmentSource;
  reporter: StatusReporter;
  log: Logger;
  now?: () => number;
  /** Milliseconds between safety-net passes. */
  resyncInterval?: number;
  /** Engine calls in flight at once; a small box's engine does not go faster with more. */
  concurrency?: number;
  /**
   * Takes a task out of the routing mesh's rotation and resolves when its forwarded connections have ended, or
   * after the grace (milliseconds). Called before a wanted stop, so clients are never cut mid-request by one.
   */
  drain?: (taskId: string, graceMs: number) => Promise<void>;
  /**
   * The engine says a task's container died: the node's routing mesh takes it out of rotation at once, before the
   * managers hear of it, so no client waits on a connection to an address that is gone.
   */
  onContainerDied?: (taskId: string) => void;
}

export class Agent {
  private readonly options: Required<AgentOptions>;
  private readonly disposers: Disposer[] = [];
  private readonly runner = new SerialRunner(() => this.guardedPass());
  private readonly inFlight = new Set<string>();
  private readonly outbox: TaskStatusUpdate[] = [];
  /** The last state reported per task, and when (see recentlyReported). */
  private readonly reported = new Map<string, { state: TaskState; at: number }>();
  /** When each task's container was last restarted offline, for its restart delay. */
  private readonly offlineRestarts = new Map<string, number>();
  /** Engine calls that work: creating, starting, inspecting. */
  private readonly engineCalls: Limiter;
  /**
   * Stops, apart: a stop mostly waits out its task's grace period while the engine does nothing, and a node
   * stopping twenty tasks must not take five grace periods, four at a time, nor hold up the starts meanwhile.
   */
  private readonly stops = new Limiter(MAX_CONCURRENT_STOPS);
  private stopped = false;
  private engineDown = false;
  /** The swarm networks' bridges on this node, made as tasks need them. */
  private readonly networks: NodeNetworks;

  constructor(options: AgentOptions) {
    this.options = { now: Date.now, resyncInterval: 5_000, concurrency: 4, drain: async () => {}, onContainerDied: () => {}, ...options };
    this.engineCalls = new Limiter(this.options.concurrency);
    this.networks = new NodeNetworks(this.options.runtime);
  }

  start(): void {
    const { source, resyncInterval } = this.options;
    this.disposers.push(source.watch(() => this.kick()));
    this.subscribeEngineEvents();
    const timer = setInterval(() => this.kick(), resyncInterval);
    timer.unref();
    this.disposers.push(() => clearInterval(timer));
    this.kick();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const dispose of this.disposers.splice(0)) dispose();
    await this.runner.stop();
  }

  /** Resolves when no pass is running or wanted; tests and shutdown use it. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** Asks for a pass; one that arrives during a pass causes exactly one more. */
  kick(): void {
    this.runner.kick();
  }

  private async guardedPass(): Promise<void> {
    try {
      await this.pass();
      if (this.engineDown) this.options.log.info('container engine is reachable again');
      this.engineDown = false;
    } catch (err) {
      // The agent never exits because the engine went away for a while: it retries on the next pass, and says
      // so once rather than on every pass.
      const unreachable = err instanceof SwarmletError && err.code === 'engine_unreachable';
      if (!this.engineDown || !unreachable) this.options.log.warn(`agent pass failed: ${describeError(err)}`);
      this.engineDown = unreachable;
    }
  }

  private subscribeEngineEvents(): void {
    if (this.stopped) return;
    const { runtime, nodeId } = this.options;
    const dispose = runtime.subscribeEvents(
      nodeFilter(nodeId),
      (event) => {
        const health = event.action.startsWith('health_status');
        if (!health && !['die', 'start', 'destroy', 'oom', 'stop'].includes(event.action)) return;
        this.kick();
        // The engine may announce a death before its container list says so: look again a moment later.
        if (event.action === 'die' || event.action === 'oom') {
          const taskId = event.labels[LABEL.taskId];
          if (taskId) this.options.onContainerDied(taskId);
          setTimeout(() => this.kick(), 250).unref();
        }
      },
      () => {
        // The stream broke (engine restart): resubscribe shortly and resync, since events were missed.
        const retry = setTimeout(() => {
          this.subscribeEngineEvents();
          this.kick();
        }, 1_000);
        retry.unref();
        this.disposers.push(() => clearTimeout(retry));
      },
    );
    this.disposers.push(dispose);
  }

  /**
   * Plans and launches the actions; it does not wait for them. A stop can take a whole grace period, and a node
   * must not wait for one task's container to stop before starting another's: each action runs on its own
   * (a few at a time), is left out of planning while it runs, and reports when it is done.
   */
  private async pass(): Promise<void> {
    const { runtime, nodeId, source } = this.options;
    if (source.ready && !source.ready()) return;
    const assignments = source.assignments();
    const containers = await runtime.listContainers(nodeFilter(nodeId));
    for (const action of planAgent(assignments, containers, { offline: source.offline?.() ?? false })) {
      const key = action.kind === 'remove' ? action.containerId : action.assignment.task.ID;
      if (this.inFlight.has(key)) continue;
      if (this.alreadyReported(action)) continue;
      this.inFlight.add(key);
      const limiter = action.kind === 'stop' || action.kind === 'unhealthy' ? this.stops : this.engineCalls;
      void limiter.run(() => this.execute(action))
        .then((update) => update && this.queueReport(update))
        .catch((err: unknown) => {
          if (!this.stopped) this.options.log.warn(`${action.kind} ${key}: ${describeError(err)}`);
        })
        .finally(() => {
          this.inFlight.delete(key);
          this.kick();
        });
    }
  }

  /**
   * Whether the action would only tell the managers again what they were told moments ago: the container runs
   * (or exited) and that was reported, but the assignment does not show it yet. Acting again would cost engine
   * calls for nothing and, on a fast engine, keep the agent busy in a loop until the report is committed.
   */
  private alreadyReported(action: AgentAction): boolean {
    switch (action.kind) {
      case 'report':
      case 'running':
        return this.recentlyReported(action.assignment.task.ID, action.state);
      case 'exited':
        return this.recentlyReported(action.assignment.task.ID, 'failed') || this.recentlyReported(action.assignment.task.ID, 'complete');
      default:
        return false;
    }
  }

  /**
   * Whether this state was reported for the task moments ago. Until the report is committed the assignment still
   * shows the old state, and every pass would report it again: with a manager that takes a while to commit (a new
   * leader, a slow follower) that becomes a storm of identical proposals. A report not committed after
   * REPORT_RETRY_MS is sent again.
   */
  private recentlyReported(taskId: string, state: TaskState): boolean {
    const last = this.reported.get(taskId);
    if (!last) return false;
    if (last.state === state && this.options.now() - last.at < REPORT_RETRY_MS) return true;
    if (this.options.now() - last.at >= REPORT_RETRY_MS) this.reported.delete(taskId);
    return false;
  }

  /**
   * Reports go out in batches: everything that completed in the same turn of the event loop is one report (one
   * committed command). A report that fails is not retried here: the next pass observes the same facts again.
   */
  private queueReport(update: TaskStatusUpdate): void {
    if (this.recentlyReported(update.taskId, update.status.State)) return;
    this.reported.set(update.taskId, { state: update.status.State, at: this.options.now() });
    this.outbox.push(update);
    if (this.outbox.length > 1) return;
    setImmediate(() => {
      const updates = this.outbox.splice(0);
      this.options.reporter.report(updates).catch((err: unknown) => {
        if (!this.stopped) this.options.log.warn(`status report failed: ${describeError(err)}`);
      });
    });
  }

  private status(
    assignment: Assignment,
    state: TaskState,
    message: string,
    extra: { err?: string; containerId?: string; exitCode?: number; pid?: number; ports?: PortBinding[] } = {},
  ): TaskStatusUpdate {
    return {
      taskId: assignment.task.ID,
      status: {
        Timestamp: new Date(this.options.now()).toISOString(),
        State: state,
        Message: message,
        ...(extra.err ? { Err: extra.err } : {}),
        ...(extra.containerId
          ? { ContainerStatus: { ContainerID: extra.containerId, PID: extra.pid ?? 0, ExitCode: extra.exitCode ?? 0 } }
          : {}),
        ...(extra.ports?.length
          ? { PortStatus: { Ports: extra.ports.map((port) => ({ Protocol: port.protocol, TargetPort: port.target, PublishedPort: port.published!, PublishMode: 'host' as const })) } }
          : {}),
      },
    };
  }

  private async execute(action: AgentAction): Promise<TaskStatusUpdate | undefined> {
    const { runtime } = this.options;
    switch (action.kind) {
      case 'create':
        return this.createAndStart(action.assignment);
      case 'start':
        return this.startExisting(action.assignment, action.containerId);
      case 'running': {
        const details = await runtime.inspectContainer(action.containerId);
        const message = action.state === 'starting' ? HEALTH_WAIT : 'started';
        return this.status(action.assignment, action.state, message, { containerId: action.containerId, pid: details?.pid, ports: details?.ports });
      }
      case 'unhealthy': {
        await this.drainBeforeStop(action.assignment);
        await runtime.stopContainer(action.containerId, stopTimeoutSeconds(action.assignment));
        const details = await runtime.inspectContainer(action.containerId);
        return this.status(action.assignment, 'failed', 'unhealthy', { err: UNHEALTHY, containerId: action.containerId, exitCode: details?.exitCode });
      }
      case 'exited':
        return this.observeExit(action.assignment, action.containerId);
      case 'restart':
        return this.restartOffline(action.assignment, action.containerId);
      case 'stop': {
        await this.drainBeforeStop(action.assignment);
        await runtime.stopContainer(action.containerId, stopTimeoutSeconds(action.assignment));
        const details = await runtime.inspectContainer(action.containerId);
        if (isTerminal(action.assignment.task.Status.State)) return undefined;
        return this.status(action.assignment, 'shutdown', 'shutdown', { containerId: action.containerId, exitCode: details?.exitCode });
      }
      case 'report':
        return this.status(action.assignment, action.state, action.message, { err: action.err });
      case 'remove':
        await runtime.removeContainer(action.containerId, { force: true });
        return undefined;
    }
  }

  /**
   * The task's connections through the routing mesh get its stop grace period to finish before the container is
   * told to stop (which then has its own grace period between SIGTERM and SIGKILL, as in `docker stop`). A task
   * with no connection open costs nothing here. A failure to drain never keeps a task running.
   */
  private async drainBeforeStop(assignment: Assignment): Promise<void> {
    try {
      await this.options.drain(assignment.task.ID, stopTimeoutSeconds(assignment) * 1000);
    } catch (err) {
      this.options.log.warn(`task ${assignment.task.ID}: draining its connections failed: ${describeError(err)}`);
    }
  }

  private async createAndStart(assignment: Assignment): Promise<TaskStatusUpdate> {
    const { runtime, log } = this.options;
    const ref = assignment.task.Spec.ContainerSpec.Image;
    const image = await resolveLocalImage(runtime, ref);
    if (!image) {
      // Never pull: the cluster may have no registry. The task is rejected and the restart policy retries.
      return this.status(assignment, 'rejected', 'preparing', { err: `No such image: ${ref}` });
    }
    let containerId: string;
    try {
      await this.networks.ensure(assignment.task.NetworksAttachments ?? []);
      containerId = await runtime.createContainer(containerOptions(assignment, image));
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'engine_unreachable') throw err;
      log.warn(`task ${assignment.task.ID}: create failed: ${describeError(err)}`);
      return this.status(assignment, 'rejected', 'preparing', { err: describeError(err) });
    }
    failpoint('agent-after-create');
    return this.startExisting(assignment, containerId);
  }

  private async startExisting(assignment: Assignment, containerId: string): Promise<TaskStatusUpdate> {
    const { runtime } = this.options;
    try {
      await runtime.startContainer(containerId);
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'engine_unreachable') throw err;
      return this.status(assignment, 'failed', 'starting', { err: describeError(err), containerId });
    }
    const details = await runtime.inspectContainer(containerId);
    if (details?.health === 'starting') return this.status(assignment, 'starting', HEALTH_WAIT, { containerId, pid: details.pid, ports: details.ports });
    return this.status(assignment, 'running', 'started', { containerId, pid: details?.pid, ports: details?.ports });
  }

  /**
   * Offline, no manager can give the slot a new task: the node starts the same container again, waiting the
   * restart policy's delay between attempts, and reports it when a manager answers again.
   */
  private async restartOffline(assignment: Assignment, containerId: string): Promise<TaskStatusUpdate | undefined> {
    const taskId = assignment.task.ID;
    const delayMs = Math.floor((assignment.task.Spec.RestartPolicy?.Delay ?? DEFAULT_RESTART_DELAY_NS) / 1e6);
    const last = this.offlineRestarts.get(taskId);
    const wait = last === undefined ? 0 : last + delayMs - this.options.now();
    if (wait > 0) {
      setTimeout(() => this.kick(), wait).unref();
      return undefined;
    }
    this.offlineRestarts.set(taskId, this.options.now());
    this.options.log.info(`task ${taskId}: container exited while no manager answers; starting it again`);
    return this.startExisting(assignment, containerId);
  }

  private async observeExit(assignment: Assignment, containerId: string): Promise<TaskStatusUpdate> {
    const details = await this.options.runtime.inspectContainer(containerId);
    const exitCode = details?.exitCode ?? -1;
    if (exitCode === 0) return this.status(assignment, 'complete', 'finished', { containerId, exitCode });
    const err = details?.error ? details.error : `task: non-zero exit (${exitCode})`;
    return this.status(assignment, 'failed', 'started', { err, containerId, exitCode });
  }
}
