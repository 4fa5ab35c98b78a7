/**
 * A manager gathering the logs of a service's tasks (or of one task) from every node into one stream, as Docker's
 * daemon answers `GET /services/{id}/logs`: each node's tasks come over one log stream per node (LogStreams), and
 * every message goes out as a frame of Docker's multiplexed format with its task's context in front when details
 * were asked for — what the docker CLI turns into `name.slot.id@node | message`. Messages keep their order within
 * a task; tasks interleave as their bytes arrive, as in Docker.
 *
 * Tasks are added as the caller finds them: those with a container when the request starts, then — when
 * following — each task that gets a container later (a replica started by a scale-up or a restart), read from its
 * start. Without follow the stream ends once every node's stream has; with follow, only when the caller closes it.
 *
 * A task whose logs cannot be read (its node is down, does not answer, refuses, or its stream breaks) gets one
 * line on stderr in its own context saying why, and the others go on: a dead node costs a line, never a hang.
 *
 * Backpressure: when the output will not take more, every node stream is paused until it drains.
 */

import type { Task } from '../api/types.ts';
import { describeError } from '../errors.ts';
import { detailsOf, encodeFrame, FrameParser, STREAM, type StreamType, type TaskContext, withDetails } from './log-frames.ts';
import type { ContainerLogOptions, TaskLogOpener, TaskLogStream, TaskLogTarget } from './log-streams.ts';

export interface GatherRequest {
  options: ContainerLogOptions;
  /** Each message carries its task's context (the docker CLI always asks for it, to name the task). */
  details: boolean;
  /** Docker's multiplexed frames; false for a raw stream (a TTY service, whose logs have no frames). */
  mux: boolean;
}

/** Where the gathered stream goes: an HTTP response, in the API. */
export interface GatherOutput {
  /** False: more than the output wants is waiting; call drained() when it has gone. */
  write(bytes: Uint8Array): boolean;
  end(): void;
}

/** Why a node's tasks cannot be asked for at all (it is down), or undefined to ask it. */
export type NodeCheck = (nodeId: string) => string | undefined;

interface Entry {
  context: TaskContext;
  tty: boolean;
  parser: FrameParser;
  /** No more output for this task: it failed, or sent bytes that are not frames. */
  done: boolean;
}

/** Docker's timestamp format (RFC 3339 with nine fraction digits), for the lines swarmlet writes itself. */
export function logTimestamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

/** The tasks worth asking for: placed on a node, with a container there. */
export function readableTasks(tasks: Iterable<Task>): Task[] {
  return [...tasks].filter((task) => task.NodeID && task.Status.ContainerStatus?.ContainerID);
}

export class LogGather {
  readonly #opener: TaskLogOpener;
  readonly #request: GatherRequest;
  readonly #output: GatherOutput;
  readonly #now: () => number;
  readonly #seen = new Set<string>();
  readonly #streams = new Set<TaskLogStream>();
  #sealed = false;
  /** Tasks added after the first call are joining a followed stream. */
  #joining = false;
  #paused = false;
  #closed = false;

  constructor(opener: TaskLogOpener, request: GatherRequest, output: GatherOutput, now: () => number = Date.now) {
    this.#opener = opener;
    this.#request = request;
    this.#output = output;
    this.#now = now;
  }

  /** Starts reading the tasks not added before; those of a node `check` finds down are reported instead. */
  add(tasks: Iterable<Task>, check: NodeCheck): void {
    if (this.#closed) return;
    const byNode = new Map<string, Task[]>();
    for (const task of readableTasks(tasks)) {
      if (this.#seen.has(task.ID)) continue;
      this.#seen.add(task.ID);
      byNode.set(task.NodeID!, [...(byNode.get(task.NodeID!) ?? []), task]);
    }
    for (const [nodeId, nodeTasks] of byNode) {
      const entries = nodeTasks.map((task) => this.#entry(task));
      const down = check(nodeId);
      if (down) {
        for (const entry of entries) this.#fail(entry, down);
        continue;
      }
      this.#openNode(nodeId, nodeTasks, entries, this.#joining);
    }
    this.#joining = true;
    this.#maybeEnd();
  }

  /** No more tasks will be added (no follow): the output ends once the streams open now have. */
  seal(): void {
    this.#sealed = true;
    this.#maybeEnd();
  }

  /** The output took what was waiting: node streams resume. */
  drained(): void {
    if (!this.#paused || this.#closed) return;
    this.#paused = false;
    for (const stream of this.#streams) stream.resume();
  }

  /** Closes every node stream (the client went away); the output hears nothing more. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const stream of this.#streams) stream.close();
    this.#streams.clear();
  }

  #entry(task: Task): Entry {
    return {
      context: { nodeId: task.NodeID!, serviceId: task.ServiceID, taskId: task.ID },
      tty: task.Spec.ContainerSpec?.TTY === true,
      parser: new FrameParser(),
      done: false,
    };
  }

  #openNode(nodeId: string, tasks: Task[], entries: Entry[], joining: boolean): void {
    const targets: TaskLogTarget[] = tasks.map((task) => ({ taskId: task.ID, containerId: task.Status.ContainerStatus!.ContainerID! }));
    // A task that joins a followed stream is read from its start; the first ones get the tail asked for.
    const options = joining ? { ...this.#request.options, tail: 'all' } : this.#request.options;
    let stream: TaskLogStream | null = null;
    let over = false;
    stream = this.#opener.open(nodeId, targets, options, {
      data: (index, bytes) => this.#data(entries[index]!, bytes),
      failed: (index, message) => this.#fail(entries[index]!, message),
      end: () => {
        over = true;
        if (stream) this.#streams.delete(stream);
        this.#maybeEnd();
      },
    });
    if (over || this.#closed) return;
    this.#streams.add(stream);
    if (this.#paused) stream.pause();
  }

  #data(entry: Entry, bytes: Uint8Array): void {
    if (entry.done || this.#closed) return;
    if (entry.tty) {
      this.#emit(STREAM.stdout, bytes);
      return;
    }
    let frames;
    try {
      frames = entry.parser.push(bytes);
    } catch (err) {
      this.#fail(entry, `the log stream of task ${entry.context.taskId} is corrupt: ${describeError(err)}`);
      return;
    }
    for (const { stream, payload } of frames) {
      if (stream === STREAM.stdin) continue;
      const out = stream === STREAM.systemerr ? STREAM.stderr : stream;
      this.#emit(out, this.#request.details ? withDetails(payload, detailsOf(entry.context), this.#request.options.timestamps) : payload);
    }
  }

  /** One line on stderr, in the task's context, saying why its logs stop here. */
  #fail(entry: Entry, message: string): void {
    if (entry.done || this.#closed) return;
    entry.done = true;
    const stamp = this.#request.options.timestamps ? `${logTimestamp(this.#now())} ` : '';
    const details = this.#request.details ? `${detailsOf(entry.context)} ` : '';
    this.#emit(STREAM.stderr, Buffer.from(`${stamp}${details}swarmlet: ${message}\n`, 'utf8'));
  }

  #emit(stream: StreamType, payload: Uint8Array): void {
    if (this.#closed) return;
    if (this.#request.mux ? this.#output.write(encodeFrame(stream, payload)) : this.#output.write(payload)) return;
    if (this.#paused) return;
    this.#paused = true;
    for (const open of this.#streams) open.pause();
  }

  #maybeEnd(): void {
    if (this.#closed || !this.#sealed || this.#streams.size > 0) return;
    this.#closed = true;
    this.#output.end();
  }
}
