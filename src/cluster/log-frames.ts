/**
 * Docker's multiplexed log stream, and the task context Swarm puts in front of each line. Pure: no I/O.
 *
 * The engine sends a non-TTY container's logs as frames — an 8-byte header (the stream: 1 stdout, 2 stderr, 3 an
 * error from the daemon; three zero bytes; the payload's length as a big-endian uint32), then the payload, one log
 * message per frame. `service logs` keeps that shape end to end: each node forwards its engine's bytes as they
 * come, the manager serving the API cuts them into frames again and writes each with its task's context, and the
 * CLIs (ours and docker's) read frames back. Chunks break anywhere, so the parser keeps the partial frame between
 * them.
 *
 * The context is the one Docker's daemon writes when a client asks for `details`: the node, service and task IDs
 * as `key=value` pairs, query-escaped, sorted by key and joined by commas, then a space, after the timestamp when
 * there is one. The docker CLI splits a line at its first spaces to find them, so the format must be exact.
 */

import { SwarmletError } from '../errors.ts';

export const STREAM = { stdin: 0, stdout: 1, stderr: 2, systemerr: 3 } as const;
export type StreamType = (typeof STREAM)[keyof typeof STREAM];

export const FRAME_HEADER_BYTES = 8;
/**
 * The largest payload a frame may announce. The engine's log messages are at most 16 KiB plus a timestamp; a
 * length far above that is a broken or hostile sender, refused before anything is buffered for it.
 */
export const MAX_FRAME_PAYLOAD_BYTES = 1 << 20;

export interface LogFrame {
  stream: StreamType;
  payload: Uint8Array;
}

/** One frame: header and payload in one buffer, ready for a single write. */
export function encodeFrame(stream: StreamType, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(stream << 24, 0);
  frame.writeUInt32BE(body.length, 4);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/** Reads frames from chunks cut anywhere: what `push` returns is every frame the chunk completed, in order. */
export class FrameParser {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Uint8Array): LogFrame[] {
    let buffer = this.#pending.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length) : Buffer.concat([this.#pending, chunk]);
    const frames: LogFrame[] = [];
    while (buffer.length >= FRAME_HEADER_BYTES) {
      const stream = buffer[0]!;
      if (stream > STREAM.systemerr || buffer[1] !== 0 || buffer[2] !== 0 || buffer[3] !== 0) {
        throw new SwarmletError('invalid_argument', `a log stream frame has a malformed header (${buffer.subarray(0, FRAME_HEADER_BYTES).toString('hex')})`);
      }
      const length = buffer.readUInt32BE(4);
      if (length > MAX_FRAME_PAYLOAD_BYTES) {
        throw new SwarmletError('invalid_argument', `a log stream frame announces ${length} bytes, over the ${MAX_FRAME_PAYLOAD_BYTES}-byte limit`);
      }
      if (buffer.length < FRAME_HEADER_BYTES + length) break;
      // Copied out: the chunk's memory belongs to whoever read it and may be reused once this returns.
      frames.push({ stream: stream as StreamType, payload: Uint8Array.prototype.slice.call(buffer, FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length) });
      buffer = buffer.subarray(FRAME_HEADER_BYTES + length);
    }
    this.#pending = Buffer.from(buffer);
    return frames;
  }

  /** Bytes of an unfinished frame: non-zero when a stream ends, its last frame was cut short. */
  get pendingBytes(): number {
    return this.#pending.length;
  }
}

/** Where a log line came from, as Swarm names it. */
export interface TaskContext {
  nodeId: string;
  serviceId: string;
  taskId: string;
}

export const CONTEXT_KEYS = {
  nodeId: 'com.docker.swarm.node.id',
  serviceId: 'com.docker.swarm.service.id',
  taskId: 'com.docker.swarm.task.id',
} as const;

/** Go's url.QueryEscape, which Docker's daemon applies to each key and value: spaces become `+`. */
function queryEscape(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
}

/** The details a line carries: `com.docker.swarm.node.id=…,com.docker.swarm.service.id=…,com.docker.swarm.task.id=…`. */
export function detailsOf(context: TaskContext): string {
  const pairs: Array<[string, string]> = [
    [CONTEXT_KEYS.nodeId, context.nodeId],
    [CONTEXT_KEYS.serviceId, context.serviceId],
    [CONTEXT_KEYS.taskId, context.taskId],
  ];
  return pairs
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${queryEscape(key)}=${queryEscape(value)}`)
    .join(',');
}

/**
 * A log message with its details put where Docker puts them: after the timestamp (the engine's `-t` prefix, up to
 * the first space) when `timestamps`, at the front otherwise.
 */
export function withDetails(payload: Uint8Array, details: string, timestamps: boolean): Uint8Array {
  const prefix = Buffer.from(`${details} `, 'utf8');
  const space = timestamps ? payload.indexOf(0x20) : -1;
  if (space < 0) return Buffer.concat([prefix, payload]);
  return Buffer.concat([payload.subarray(0, space + 1), prefix, payload.subarray(space + 1)]);
}

/** A line from a stream asked for with details, taken apart again (what the docker CLI does before printing). */
export interface DetailedLine {
  /** The timestamp, when the line was asked for with timestamps. */
  timestamp?: string;
  details: Map<string, string>;
  message: string;
}

/** Splits `[timestamp ]details message`; undefined when the line does not have that shape. */
export function parseDetailedLine(line: string, timestamps: boolean): DetailedLine | undefined {
  const parts: string[] = [];
  let rest = line;
  for (let i = 0; i < (timestamps ? 2 : 1); i++) {
    const space = rest.indexOf(' ');
    if (space < 0) return undefined;
    parts.push(rest.slice(0, space));
    rest = rest.slice(space + 1);
  }
  const details = new Map<string, string>();
  for (const pair of parts.at(-1)!.split(',')) {
    const equals = pair.indexOf('=');
    if (equals <= 0) return undefined;
    try {
      details.set(decodeURIComponent(pair.slice(0, equals).replace(/\+/g, ' ')), decodeURIComponent(pair.slice(equals + 1).replace(/\+/g, ' ')));
    } catch {
      return undefined;
    }
  }
  return { ...(timestamps ? { timestamp: parts[0]! } : {}), details, message: rest };
}
