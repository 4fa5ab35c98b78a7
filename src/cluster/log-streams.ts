/**
 * Task log streams between nodes: every node serves its own tasks' logs to managers, and a manager opens a
 * stream per node whose tasks it wants — over a bulk channel for a peer (never the control channel: a chatty
 * service must not delay a heartbeat), or straight from its own engine for its own tasks. Both look the same to
 * the caller: bytes of each target's engine stream, a failure per target that could not be read, then the end.
 *
 * On the bulk channel (PeerNetwork.openStream, type `logs`):
 *   opener → node   request {targets, options}; the reply lists the targets refused and why
 *   node → opener   bytes: a target's index (uint16, big-endian), then a piece of its engine stream
 *                   messages: {type: 'failed', index, message}, and {type: 'end'} before the node closes
 *   opener → node   messages {type: 'pause'} and {type: 'resume'}: the consumer (an HTTP client) is slow
 *
 * Flow control has two halves. The node stops reading its engine while its channel's buffer is over the
 * high-water mark (sendBytes answered false) and resumes on drain; the opener pauses the node while whoever reads
 * the gathered stream is slow. In-flight bytes are bounded by the buffer the node may fill before it pauses.
 * A channel that closes before `end` fails the targets that had not finished, so a node that dies mid-stream is
 * reported, never waited for.
 */

import * as v from 'valibot';
import { describeError, invalidArgument, unavailable } from '../errors.ts';
import type { SecureChannel } from '../transport/endpoint.ts';
import type { Logger } from '../util/logger.ts';
import type { PeerMessage, PeerNetwork } from './peers.ts';
import { type ContainerLogEngine, type ContainerLogOptions, type TaskLogTarget, TaskLogReader } from './task-log-reader.ts';

export type { ContainerLogOptions, TaskLogTarget } from './task-log-reader.ts';

/** What a log stream reports to whoever opened it. */
export interface TaskLogEvents {
  /** Bytes of target `index`'s engine stream (frames, or raw bytes for a TTY), cut anywhere. */
  data(index: number, bytes: Uint8Array): void;
  /** Target `index` could not be read, or its stream broke; nothing more comes for it. */
  failed(index: number, message: string): void;
  /** Every target is over: called once, last. */
  end(): void;
}

/** An open log stream, from the opener's side. */
export interface TaskLogStream {
  /** Asks the source to stop reading until resume(): the consumer is slow. Bytes in flight still arrive. */
  pause(): void;
  resume(): void;
  /** Ends the stream at both ends; no event follows. Idempotent. */
  close(): void;
}

/** Opens log streams to any node by ID; LogStreams is the implementation, tests use fakes. */
export interface TaskLogOpener {
  open(nodeId: string, targets: readonly TaskLogTarget[], options: ContainerLogOptions, events: TaskLogEvents): TaskLogStream;
}

export const LOG_STREAM_TYPE = 'logs';
/** How long a node has to accept a stream: a node that is down or hung is reported after this, not waited for. */
export const OPEN_TIMEOUT_MS = 5_000;
/** Targets in one request: an index must fit the two bytes in front of each piece. */
const MAX_TARGETS = 4_096;

const id = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const requestSchema = v.object({
  type: v.literal(LOG_STREAM_TYPE),
  targets: v.pipe(v.array(v.object({ taskId: id, containerId: id })), v.maxLength(MAX_TARGETS)),
  options: v.object({
    stdout: v.boolean(),
    stderr: v.boolean(),
    follow: v.boolean(),
    timestamps: v.boolean(),
    since: v.optional(v.pipe(v.string(), v.regex(/^\d{1,12}(?:\.\d{1,9})?$/))),
    tail: v.optional(v.pipe(v.string(), v.regex(/^(?:all|\d{1,9})$/))),
  }),
});

export interface LogStreamsOptions {
  selfId: string;
  /** This node's engine, or null when it has none to read (then its tasks' logs are reported unavailable). */
  engine: ContainerLogEngine | null;
  /** The node's peer network, while it is in a cluster. */
  peers(): PeerNetwork | null;
  log: Logger;
}

export class LogStreams implements TaskLogOpener {
  readonly #options: LogStreamsOptions;

  constructor(options: LogStreamsOptions) {
    this.#options = options;
  }

  /** Serves this node's task logs to the managers that ask over `peers`. */
  serve(peers: PeerNetwork): void {
    peers.serveStreams(LOG_STREAM_TYPE, (request, channel) => this.#serve(request, channel));
  }

  open(nodeId: string, targets: readonly TaskLogTarget[], options: ContainerLogOptions, events: TaskLogEvents): TaskLogStream {
    return nodeId === this.#options.selfId ? this.#openLocal(targets, options, events) : this.#openRemote(nodeId, targets, options, events);
  }

  async #serve(request: PeerMessage, channel: SecureChannel): Promise<unknown> {
    const parsed = v.safeParse(requestSchema, request);
    if (!parsed.success) throw invalidArgument(`a malformed log stream request: ${parsed.issues[0].message}`);
    const { engine, selfId } = this.#options;
    if (!engine) throw unavailable(`node ${selfId} has no container engine to read logs from`);
    const reader = new TaskLogReader(engine, selfId, parsed.output.targets, parsed.output.options, {
      data(index, bytes) {
        const piece = Buffer.allocUnsafe(2 + bytes.length);
        piece.writeUInt16BE(index, 0);
        piece.set(bytes, 2);
        return channel.sendBytes(piece);
      },
      failed: (index, message) => channel.send({ type: 'failed', index, message }),
      end() {
        channel.send({ type: 'end' });
        channel.close('the log stream is over');
      },
    });
    channel.onDrain(() => reader.resume('sink'));
    channel.onMessage((message) => {
      const type = (message as { type?: unknown } | null)?.type;
      if (type === 'pause') reader.pause('consumer');
      else if (type === 'resume') reader.resume('consumer');
    });
    channel.onClose(() => reader.close());
    return { refused: await reader.start() };
  }

  #openLocal(targets: readonly TaskLogTarget[], options: ContainerLogOptions, events: TaskLogEvents): TaskLogStream {
    const { engine, selfId } = this.#options;
    if (!engine) return failAll(targets, `node ${selfId} has no container engine to read logs from`, events);
    let closed = false;
    const reader = new TaskLogReader(engine, selfId, targets, options, {
      data: (index, bytes) => {
        events.data(index, bytes);
        return true;
      },
      failed: (index, message) => events.failed(index, message),
      end: () => events.end(),
    });
    reader.start().then(
      (refused) => {
        if (!closed) for (const { index, message } of refused) events.failed(index, message);
      },
      // start() only fails for a reader bug: each target's own trouble is a refusal or a failure.
      (err: unknown) => this.#options.log.warn(`reading local task logs: ${describeError(err)}`),
    );
    return {
      pause: () => reader.pause('consumer'),
      resume: () => reader.resume('consumer'),
      close: () => {
        closed = true;
        reader.close();
      },
    };
  }

  #openRemote(nodeId: string, targets: readonly TaskLogTarget[], options: ContainerLogOptions, events: TaskLogEvents): TaskLogStream {
    const peers = this.#options.peers();
    if (!peers) return failAll(targets, `node ${nodeId} cannot be reached: this node is in no cluster`, events);
    const finished = new Set<number>();
    let channel: SecureChannel | null = null;
    let closed = false;
    let paused = false;
    let over = false;
    const fail = (index: number, message: string) => {
      if (finished.has(index) || closed) return;
      finished.add(index);
      events.failed(index, message);
    };
    const end = () => {
      if (over || closed) return;
      over = true;
      events.end();
    };
    const failRest = (message: string) => {
      for (let index = 0; index < targets.length; index++) fail(index, message);
      end();
    };
    const request = { type: LOG_STREAM_TYPE, targets: targets.map(({ taskId, containerId }) => ({ taskId, containerId })), options: { ...options } };
    peers.openStream(nodeId, request, OPEN_TIMEOUT_MS).then(
      (opened) => {
        if (closed) return opened.channel.close('the reader went away');
        channel = opened.channel;
        for (const { index, message } of refusedIn(opened.reply, targets.length)) fail(index, message);
        // Bytes first: frames of each kind held until their handler arrive in registration order.
        opened.channel.onBytes((bytes) => {
          const index = bytes.length >= 2 ? (bytes[0]! << 8) | bytes[1]! : -1;
          if (index < 0 || index >= targets.length) return opened.channel.close('a log piece for no target');
          if (!finished.has(index)) events.data(index, bytes.subarray(2));
        });
        opened.channel.onMessage((message) => {
          const { type, index, message: text } = (message ?? {}) as { type?: unknown; index?: unknown; message?: unknown };
          if (type === 'failed' && typeof index === 'number' && index >= 0 && index < targets.length) fail(index, `node ${nodeId}: ${String(text)}`);
          else if (type === 'end') end();
        });
        opened.channel.onClose((reason) => {
          if (!over) failRest(`the log stream from node ${nodeId} broke off${reason ? `: ${reason.message}` : ''}`);
        });
        if (paused) opened.channel.send({ type: 'pause' });
      },
      (err: unknown) => failRest(`node ${nodeId} did not serve its logs: ${describeError(err)}`),
    );
    return {
      pause() {
        paused = true;
        channel?.send({ type: 'pause' });
      },
      resume() {
        paused = false;
        channel?.send({ type: 'resume' });
      },
      close() {
        closed = true;
        channel?.close('the reader went away');
      },
    };
  }
}

/** The refusals a node's reply lists, ignoring anything malformed. */
function refusedIn(reply: unknown, count: number): Array<{ index: number; message: string }> {
  const refused = (reply as { refused?: unknown } | null)?.refused;
  if (!Array.isArray(refused)) return [];
  return refused.flatMap((entry: { index?: unknown; message?: unknown }) =>
    typeof entry?.index === 'number' && entry.index >= 0 && entry.index < count ? [{ index: entry.index, message: String(entry.message) }] : [],
  );
}

/** A stream that fails every target at once (asynchronously, as a real one would) and ends. */
function failAll(targets: readonly TaskLogTarget[], message: string, events: TaskLogEvents): TaskLogStream {
  let closed = false;
  setImmediate(() => {
    if (closed) return;
    targets.forEach((_, index) => events.failed(index, message));
    events.end();
  });
  return { pause() {}, resume() {}, close: () => { closed = true; } };
}
