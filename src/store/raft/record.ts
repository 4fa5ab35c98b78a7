/**
 * The line format of a Raft log segment: one entry per line, `{"c":"<crc32>","e":<entry>}\n`.
 *
 * Each line is valid JSON on its own, so `jq` and `tail` work on a live log. The checksum covers the exact bytes
 * of the entry as written (not a re-serialisation), so a flipped bit, a torn write or a hand edit is caught.
 * CRC-32 rather than SHA-256: it is computed for every entry on every append and every start, and it detects
 * every burst error up to 32 bits and random damage with odds of 1 in 4 billion, which is what a log line needs;
 * the rarely written hard state and snapshot files carry SHA-256 through DurableJSONFile. A line swapped with
 * another, or a line lost, is caught by the index check in segment.ts, since every entry names its own index.
 */

import { crc32 } from 'node:zlib';
import type { Entry } from '../../manager/raft/types.ts';

const PREFIX = Buffer.from('{"c":"');
const MIDDLE = Buffer.from('","e":');
const SUFFIX = Buffer.from('}\n');
/** Bytes before the entry's JSON: the prefix, eight hex digits and the middle. */
const HEAD = PREFIX.length + 8 + MIDDLE.length;
const NEWLINE = 0x0a;

/** Bytes a record adds around its entry's JSON. */
export const RECORD_OVERHEAD = HEAD + SUFFIX.length;

const hex = (bytes: Uint8Array) => crc32(bytes).toString(16).padStart(8, '0');

/** One line, newline included. */
export function encodeRecord(entry: Entry): Buffer {
  const body = Buffer.from(JSON.stringify(entry));
  return Buffer.concat([PREFIX, Buffer.from(hex(body)), MIDDLE, body, SUFFIX]);
}

/**
 * Reads one line without its newline. Returns the entry, or a reason it is not one; the caller decides whether
 * a bad line is a torn tail or damage.
 */
export function decodeRecord(line: Buffer): Entry | string {
  if (line.length < RECORD_OVERHEAD - 1) return 'line too short';
  if (!line.subarray(0, PREFIX.length).equals(PREFIX) || !line.subarray(PREFIX.length + 8, HEAD).equals(MIDDLE)) {
    return 'not a log record';
  }
  if (line[line.length - 1] !== SUFFIX[0]) return 'record not closed';
  const body = line.subarray(HEAD, line.length - 1);
  if (hex(body) !== line.subarray(PREFIX.length, PREFIX.length + 8).toString('latin1')) return 'checksum mismatch';
  let entry: unknown;
  try {
    entry = JSON.parse(body.toString('utf8'));
  } catch {
    return 'entry is not valid JSON';
  }
  if (!isEntry(entry)) return 'not a Raft entry';
  return entry;
}

function isEntry(value: unknown): value is Entry {
  if (typeof value !== 'object' || value === null) return false;
  const { term, index, type } = value as Record<string, unknown>;
  return Number.isSafeInteger(term) && Number.isSafeInteger(index) && (type === 'normal' || type === 'conf-change');
}

/** Splits a segment's bytes into lines; the last element is the bytes after the final newline (often empty). */
export function splitLines(bytes: Buffer): { lines: Buffer[]; tail: Buffer } {
  const lines: Buffer[] = [];
  let start = 0;
  for (let at = bytes.indexOf(NEWLINE); at !== -1; at = bytes.indexOf(NEWLINE, start)) {
    lines.push(bytes.subarray(start, at));
    start = at + 1;
  }
  return { lines, tail: bytes.subarray(start) };
}
