/**
 * A node reading its own tasks' logs from its engine, for a log stream (served to a manager over a bulk channel,
 * or read by the manager for its own tasks). Only containers that swarmlet runs as tasks on this very node are
 * read: each is checked for swarmlet's labels naming this node and the task asked for, so a peer can never use
 * a log stream to read some other container on the machine.
 *
 * The engine's bytes are passed on as they come, cut into pieces no larger than a bulk frame wants; the sink
 * says when to stop (its buffer is full, or the consumer is slow), and reading pauses until it is resumed. An
 * engine stream that ends or fails ends that target only; when all have, the sink hears `end`.
 */

import type { Readable } from 'node:stream';
import { describeError, SwarmletError } from '../errors.ts';
import { LABEL } from '../agent/labels.ts';
import type { EngineClient } from '../runtime/docker/engine-client.ts';

/** What the engine is asked for (GET /containers/{id}/logs), as Docker's API names it. */
export interface ContainerLogOptions {
  stdout: boolean;
  stderr: boolean;
  follow: boolean;
  timestamps: boolean;
  /** Unix seconds, with an optional fraction (the docker CLI sends `1700000000.000000000`). */
  since?: string;
  /** Lines from the end of each container's log: a number, or `all`. */
  tail?: string;
}

/** One task whose logs are wanted: the container is checked to be that task's before it is read. */
export interface TaskLogTarget {
  taskId: string;
  containerId: string;
}

/** What reading logs needs of the engine: its Docker implementation is engineLogSource; tests use a fake. */
export interface ContainerLogEngine {
  /** The container's labels, or undefined when the engine has no such container. */
  labels(containerId: string): Promise<Record<string, string> | undefined>;
  /** The container's log output as the engine sends it (frames; raw bytes for a TTY), until it ends or `signal` aborts. */
  logs(containerId: string, options: ContainerLogOptions, signal: AbortSignal): Promise<Readable>;
}

export function engineLogSource(client: EngineClient): ContainerLogEngine {
  return {
    async labels(containerId) {
      try {
        const details = await client.getJson<{ Config?: { Labels?: Record<string, string> | null } }>(`/containers/${encodeURIComponent(containerId)}/json`);
        return details.Config?.Labels ?? {};
      } catch (err) {
        if (err instanceof SwarmletError && err.code === 'not_found') return undefined;
        throw err;
      }
    },
    logs(containerId, options, signal) {
      const { stdout, stderr, follow, timestamps, since, tail } = options;
      return client.stream('GET', `/containers/${encodeURIComponent(containerId)}/logs`, { query: { stdout, stderr, follow, timestamps, since, tail }, signal });
    },
  };
}

/** Where a reader's output goes. */
export interface TaskLogSink {
  /** Bytes of target `index`'s stream. False: stop reading until the reader is resumed. */
  data(index: number, bytes: Uint8Array): boolean;
  /** Target `index` could not be read, or its stream broke; nothing more comes for it. */
  failed(index: number, message: string): void;
  /** Every target is over. */
  end(): void;
}

/** Largest piece of an engine stream passed on at once (well under the transport's frame limit). */
export const MAX_LOG_CHUNK_BYTES = 64 * 1024;

/**
 * Whether a target may be read: 'yes'; 'gone' when the engine has no such container (an old task whose container
 * was removed: it has no logs left, which is not an error); or why not, for a container that is not that task of
 * this node.
 */
export async function checkTarget(engine: ContainerLogEngine, selfId: string, target: TaskLogTarget): Promise<'yes' | 'gone' | { refused: string }> {
  const labels = await engine.labels(target.containerId);
  if (!labels) return 'gone';
  if (labels[LABEL.managed] === '1' && labels[LABEL.nodeId] === selfId && labels[LABEL.taskId] === target.taskId) return 'yes';
  return { refused: `container ${target.containerId.slice(0, 12)} is not task ${target.taskId} on node ${selfId}: its logs are not served` };
}

export class TaskLogReader {
  readonly #engine: ContainerLogEngine;
  readonly #selfId: string;
  readonly #targets: readonly TaskLogTarget[];
  readonly #options: ContainerLogOptions;
  readonly #sink: TaskLogSink;
  readonly #abort = new AbortController();
  readonly #streams = new Set<Readable>();
  /** Why reading is paused (the sink, the consumer); it runs while this is empty. */
  readonly #holds = new Set<string>();
  #open = 0;
  #ended = false;

  constructor(engine: ContainerLogEngine, selfId: string, targets: readonly TaskLogTarget[], options: ContainerLogOptions, sink: TaskLogSink) {
    this.#engine = engine;
    this.#selfId = selfId;
    this.#targets = targets;
    this.#options = options;
    this.#sink = sink;
  }

  /**
   * Checks every target, then starts reading those that passed. Resolves with the refused ones (they are not
   * told to the sink: the caller says why to whoever asked), once reading has begun. A target whose container is
   * gone is simply over.
   */
  async start(): Promise<Array<{ index: number; message: string }>> {
    const checks = await Promise.all(
      this.#targets.map((target) => checkTarget(this.#engine, this.#selfId, target).catch((err: unknown) => ({ refused: `checking task ${target.taskId}: ${describeError(err)}` }))),
    );
    const refused = checks.flatMap((check, index) => (typeof check === 'object' ? [{ index, message: check.refused }] : []));
    const accepted = checks.flatMap((check, index) => (check === 'yes' ? [index] : []));
    this.#open = accepted.length;
    // On a later turn, so that whoever awaits this answers the request (the refusals) before the end is sent.
    if (accepted.length === 0) setImmediate(() => this.#finish());
    for (const index of accepted) void this.#read(index);
    return refused;
  }

  /** Stops reading for `reason` until resume(reason); holds of different reasons add up. */
  pause(reason: string): void {
    this.#holds.add(reason);
    for (const stream of this.#streams) stream.pause();
  }

  resume(reason: string): void {
    this.#holds.delete(reason);
    if (this.#holds.size > 0 || this.#abort.signal.aborted) return;
    for (const stream of this.#streams) stream.resume();
  }

  /** Stops every engine stream; the sink hears nothing more. Idempotent. */
  close(): void {
    this.#ended = true;
    this.#abort.abort();
    for (const stream of this.#streams) stream.destroy();
    this.#streams.clear();
  }

  async #read(index: number): Promise<void> {
    const target = this.#targets[index]!;
    try {
      const stream = await this.#engine.logs(target.containerId, this.#options, this.#abort.signal);
      if (this.#ended) {
        stream.destroy();
        return;
      }
      this.#streams.add(stream);
      if (this.#holds.size > 0) stream.pause();
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer) => {
          for (let at = 0; at < chunk.length && !this.#ended; at += MAX_LOG_CHUNK_BYTES) {
            if (!this.#sink.data(index, chunk.subarray(at, at + MAX_LOG_CHUNK_BYTES))) this.pause('sink');
          }
        });
        stream.once('end', resolve);
        stream.once('error', reject);
        stream.once('close', resolve);
      });
      this.#streams.delete(stream);
    } catch (err) {
      if (!this.#ended) this.#sink.failed(index, `reading the logs of task ${target.taskId}: ${describeError(err)}`);
    }
    this.#open -= 1;
    if (this.#open === 0) this.#finish();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#sink.end();
  }
}
