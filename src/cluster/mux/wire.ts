/**
 * The stream mux's wire format on its shared bulk channel, as pure functions: building and parsing data frame
 * headers, checking control messages. Nothing here holds state; the mux (mux.ts) decides what a parsed frame means.
 *
 *   bytes     sendBytes frames: kind u8 (1 = data) | stream id u32 big-endian | the stream's payload. The header
 *             and the payload go to the channel as two parts of one frame, sealed as their concatenation, so the
 *             payload is not copied behind the header on the way out (only a frame that has to wait for the
 *             channel is copied whole); the receiver hands on a view, copying nothing.
 *   messages  JSON {s: stream id, t: ...}:
 *               {t: 'open', r: request}            the opener asks for a stream
 *               {t: 'accept', r: reply}            the handler took it
 *               {t: 'refuse', e: {message, code?}} the handler refused (or closed it before answering)
 *               {t: 'msg', m: message}             a stream's own control message (StreamChannel.send)
 *               {t: 'close', e?: reason}           the stream is over; with a reason, the other end's onClose has it
 *             and {s: 0, t: 'close', e: reason}: the whole mux is closing, and why.
 *
 * Stream ids are odd for the side that dialled the channel and even for the other (HTTP/2's rule), so both sides
 * open streams without agreeing first, and only grow: an id is never used twice on one mux.
 */

import { DEFAULT_LIMITS } from '../../transport/endpoint.ts';

/** The wire format's version; a node refuses a mux of another version (with a message saying so). */
export const MUX_VERSION = 1;
export const MAX_STREAM_ID = 0xffff_ffff;
const DATA_FRAME = 1;
/** A data frame's header: kind and stream id. */
export const DATA_HEADER_BYTES = 5;
/** The largest payload of one sendBytes on a stream: the channel's frame limit less the header. */
export const MAX_STREAM_PAYLOAD_BYTES = DEFAULT_LIMITS.maxPayloadBytes - DATA_HEADER_BYTES;
/** Reasons and refusals longer than this are cut: they are for a log line. */
const MAX_REASON_CHARS = 500;

export type Control = { s: number; t: string; [key: string]: unknown };

function writeDataHeader(into: Uint8Array, id: number): void {
  into[0] = DATA_FRAME;
  into[1] = id >>> 24;
  into[2] = (id >>> 16) & 0xff;
  into[3] = (id >>> 8) & 0xff;
  into[4] = id & 0xff;
}

/** The header of a data frame for stream `id`, on its own: the first of the frame's two parts. */
export function dataHeader(id: number): Uint8Array {
  const header = Buffer.allocUnsafe(DATA_HEADER_BYTES);
  writeDataHeader(header, id);
  return header;
}

/** The header and payload of one data frame, in one buffer (a frame that waits for the channel owns its bytes). */
export function dataFrame(id: number, payload: Uint8Array): Uint8Array {
  const frame = Buffer.allocUnsafe(DATA_HEADER_BYTES + payload.length);
  writeDataHeader(frame, id);
  frame.set(payload, DATA_HEADER_BYTES);
  return frame;
}

/** A data frame's stream id and payload (a view), or what is wrong with it. */
export function parseDataFrame(frame: Uint8Array): { id: number; payload: Uint8Array } | string {
  if (frame.length < DATA_HEADER_BYTES) return `a ${frame.length}-byte data frame, shorter than its header`;
  if (frame[0] !== DATA_FRAME) return `a data frame of unknown kind ${frame[0]}`;
  const id = ((frame[1]! << 24) | (frame[2]! << 16) | (frame[3]! << 8) | frame[4]!) >>> 0;
  return { id, payload: frame.subarray(DATA_HEADER_BYTES) };
}

/** A control message with its fields checked, or what is wrong with it. */
export function parseControl(message: unknown): Control | string {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return 'a control message that is not an object';
  const { s, t, e } = message as Record<string, unknown>;
  if (typeof s !== 'number' || !Number.isInteger(s) || s < 0 || s > MAX_STREAM_ID) return 'a control message without a valid stream id';
  if (s === 0 && t !== 'close') return 'a control message for stream 0 other than close';
  switch (t) {
    case 'open':
      if (!('r' in message)) return 'an open without a request';
      break;
    case 'accept':
    case 'msg':
      break;
    case 'refuse': {
      const failure = e as { message?: unknown; code?: unknown } | null | undefined;
      if (typeof failure?.message !== 'string' || (failure.code !== undefined && typeof failure.code !== 'string')) return 'a refusal without a message';
      break;
    }
    case 'close':
      if (e !== undefined && typeof e !== 'string') return 'a close whose reason is not text';
      break;
    default:
      return `a control message of unknown type ${JSON.stringify(t)?.slice(0, 40)}`;
  }
  return message as Control;
}

/** A reason or refusal cut to a log line's length. */
export const cut = (text: string): string => (text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS)}…` : text);
