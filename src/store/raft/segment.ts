/**
 * One segment of the Raft log: a file of consecutive entries, one record per line (record.ts), named after the
 * index of its first entry so that the log's files sort in index order (`00000000000000000042.jsonl`).
 *
 * A segment is only ever appended to, or cut back at an entry boundary. In memory it keeps where each entry's
 * line ends and each entry's term — about 16 bytes per entry, never the entries themselves — so that a
 * conflicting suffix can be cut at the right byte and a snapshot's term can be checked without reading back.
 */

import path from 'node:path';
import type { Entry } from '../../manager/raft/types.ts';
import { corruptRaftState } from './errors.ts';
import type { AppendFile, RaftFs } from './raft-fs.ts';
import { decodeRecord, splitLines } from './record.ts';

const NAME = /^(\d{20})\.jsonl$/;

export function segmentName(first: number): string {
  return `${String(first).padStart(20, '0')}.jsonl`;
}

/** The first index a segment file's name gives, or null for a file that is not a segment. */
export function parseSegmentName(name: string): number | null {
  const match = NAME.exec(name);
  return match ? Number(match[1]) : null;
}

/** What reading a segment found. Nothing is changed on disk while reading. */
export interface ScannedSegment {
  file: string;
  first: number;
  entries: Entry[];
  /** For each entry, the byte offset just after its line. */
  ends: number[];
  /** Bytes holding whole, valid records. */
  validSize: number;
  /**
   * Set when the segment's last line is incomplete or damaged: an append cut short by a crash or a power cut.
   * Such an append was never acknowledged, so dropping it loses nothing anyone was told is saved.
   */
  torn: { bytes: number; reason: string } | null;
}

/**
 * Reads a segment's bytes. Only the last line of the newest segment may be torn (`mayBeTorn`); a bad line
 * anywhere else, or an entry whose index is not the one its position says, is damage and is refused.
 */
export function scanSegment(file: string, first: number, bytes: Buffer, mayBeTorn: boolean): ScannedSegment {
  const { lines, tail } = splitLines(bytes);
  const entries: Entry[] = [];
  const ends: number[] = [];
  let offset = 0;
  let torn: ScannedSegment['torn'] = null;
  if (tail.length > 0) {
    if (!mayBeTorn) throw corruptRaftState(file, 'its last line is incomplete, and it is not the newest segment');
    torn = { bytes: tail.length, reason: 'incomplete last line' };
  }
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const decoded = decodeRecord(line);
    if (typeof decoded === 'string') {
      const last = i === lines.length - 1 && tail.length === 0;
      if (last && mayBeTorn) {
        torn = { bytes: line.length + 1, reason: decoded };
        break;
      }
      throw corruptRaftState(file, `line ${i + 1}: ${decoded}`);
    }
    const expected = first + entries.length;
    if (decoded.index !== expected) {
      throw corruptRaftState(file, `line ${i + 1} holds entry ${decoded.index} where entry ${expected} belongs`);
    }
    offset += line.length + 1;
    entries.push(decoded);
    ends.push(offset);
  }
  return { file, first, entries, ends, validSize: offset, torn };
}

export class Segment {
  readonly file: string;
  readonly first: number;
  private readonly ends: number[];
  private readonly terms: number[];
  private readonly fs: RaftFs;
  private handle: AppendFile | null;
  /**
   * Set when an append failed and cutting its partial bytes off failed too: the bytes past `size` are garbage
   * that the next append must cut off first.
   */
  private dirty = false;

  private constructor(fs: RaftFs, file: string, first: number, ends: number[], terms: number[], handle: AppendFile | null) {
    this.fs = fs;
    this.file = file;
    this.first = first;
    this.ends = ends;
    this.terms = terms;
    this.handle = handle;
  }

  /** Creates an empty segment file; it becomes durable with the directory's next sync. */
  static async create(fs: RaftFs, dir: string, first: number): Promise<Segment> {
    const file = path.join(dir, segmentName(first));
    return new Segment(fs, file, first, [], [], await fs.openAppend(file, true));
  }

  static fromScan(fs: RaftFs, scan: ScannedSegment): Segment {
    return new Segment(fs, scan.file, scan.first, [...scan.ends], scan.entries.map((e) => e.term), null);
  }

  get count(): number {
    return this.ends.length;
  }

  /** The index of the last entry; first - 1 when empty. */
  get last(): number {
    return this.first + this.ends.length - 1;
  }

  /** Bytes of whole records in the file. */
  get size(): number {
    return this.ends.length === 0 ? 0 : this.ends[this.ends.length - 1];
  }

  termAt(index: number): number | undefined {
    return this.terms[index - this.first];
  }

  /**
   * Appends whole records for the entries that follow `last`. On a failure the partial bytes are cut off again,
   * so the file holds what it held before and a later append starts clean; the error is rethrown as it came.
   */
  async append(records: Buffer, entries: readonly Entry[], recordEnds: readonly number[]): Promise<void> {
    const file = await this.open();
    const before = this.size;
    if (this.dirty) {
      await file.truncate(before);
      this.dirty = false;
    }
    try {
      await file.append(records);
    } catch (err) {
      await file.truncate(before).catch(() => {
        this.dirty = true;
      });
      throw err;
    }
    for (let i = 0; i < entries.length; i++) {
      this.ends.push(before + recordEnds[i]);
      this.terms.push(entries[i].term);
    }
  }

  /** The write barrier for what was appended or cut. */
  async sync(): Promise<void> {
    await (await this.open()).datasync();
  }

  /** Cuts the entry `index` and everything after it off, durably. */
  async truncateFrom(index: number): Promise<void> {
    const keep = index - this.first;
    const size = keep === 0 ? 0 : this.ends[keep - 1];
    const file = await this.open();
    await file.truncate(size);
    // Durable before anything is appended in the freed bytes: otherwise a power cut could leave old and new
    // bytes mixed in one line, which would read as damage rather than as a torn tail.
    await file.datasync();
    this.ends.length = keep;
    this.terms.length = keep;
    this.dirty = false;
  }

  /** Closes the file if it is open; the segment can still be appended to (it reopens). */
  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }

  private async open(): Promise<AppendFile> {
    this.handle ??= await this.fs.openAppend(this.file, false);
    return this.handle;
  }
}
