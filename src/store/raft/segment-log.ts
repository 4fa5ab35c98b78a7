/**
 * The Raft log on disk: append-only segments (segment.ts) in one directory, rolled at a size so that the cost of
 * an append never grows with the log and compaction is deleting whole files.
 *
 * Every append costs one write and one fdatasync, however many entries it carries. Rarer operations pay more,
 * and say so where they do it: rolling to a new segment adds a directory sync (the new name must survive a power
 * cut), and cutting a conflicting suffix makes the cut durable before appending after it.
 */

import path from 'node:path';
import type { Entry } from '../../manager/raft/types.ts';
import type { Logger } from '../../util/logger.ts';
import { corruptRaftState, diskFull, isDiskFull, storageFailed } from './errors.ts';
import type { RaftFs } from './raft-fs.ts';
import { encodeRecord } from './record.ts';
import { parseSegmentName, type ScannedSegment, scanSegment, Segment, segmentName } from './segment.ts';

/** What reading the log directory found, before anything on disk is changed. */
export interface LogScan {
  dir: string;
  segments: ScannedSegment[];
  /** Every entry in every segment, in index order, contiguous. */
  entries: Entry[];
}

/**
 * Reads and checks every segment without changing anything, so that a refusal leaves the files exactly as they
 * were for the operator to inspect or copy.
 */
export async function scanLog(fs: RaftFs, dir: string): Promise<LogScan> {
  const firsts = (await fs.list(dir))
    .map((name) => parseSegmentName(name))
    .filter((first): first is number => first !== null)
    .sort((a, b) => a - b);
  const segments: ScannedSegment[] = [];
  const entries: Entry[] = [];
  for (let i = 0; i < firsts.length; i++) {
    const file = path.join(dir, segmentName(firsts[i]));
    const scan = scanSegment(file, firsts[i], await fs.read(file), i === firsts.length - 1);
    const previous = segments[segments.length - 1];
    if (previous && scan.first !== previous.first + previous.entries.length) {
      const expected = previous.first + previous.entries.length;
      throw corruptRaftState(file, `it starts at entry ${scan.first} but the segment before it ends at entry ${expected - 1}: entries are missing`);
    }
    segments.push(scan);
    for (const entry of scan.entries) entries.push(entry);
  }
  return { dir, segments, entries };
}

export class SegmentLog {
  private readonly fs: RaftFs;
  private readonly dir: string;
  private readonly segmentBytes: number;
  /** Oldest first; the last one is the one appended to. */
  private readonly segments: Segment[];
  private next: number;

  private constructor(fs: RaftFs, dir: string, segmentBytes: number, segments: Segment[], next: number) {
    this.fs = fs;
    this.dir = dir;
    this.segmentBytes = segmentBytes;
    this.segments = segments;
    this.next = next;
  }

  /**
   * Takes over a scanned log. A torn tail is cut off here, durably and with a log line; `next` is the index the
   * first append goes to when the log is empty (the entry after the snapshot).
   */
  static async open(fs: RaftFs, scan: LogScan, options: { segmentBytes: number; emptyNext: number; log: Logger }): Promise<SegmentLog> {
    const segments = scan.segments.map((s) => Segment.fromScan(fs, s));
    const newest = scan.segments[scan.segments.length - 1];
    if (newest?.torn) {
      options.log.warn(
        `raft log ${newest.file}: dropping a torn last line (${newest.torn.bytes} bytes, ${newest.torn.reason}) — ` +
          'an append cut short by a crash or power cut, which was never acknowledged',
      );
      const segment = segments[segments.length - 1];
      await segment.truncateFrom(segment.last + 1);
      await segment.close();
    }
    const last = segments[segments.length - 1];
    return new SegmentLog(fs, scan.dir, options.segmentBytes, segments, last ? last.last + 1 : options.emptyNext);
  }

  /** The index the next appended entry must have. */
  get nextIndex(): number {
    return this.next;
  }

  /** The oldest entry's index, or null when the log holds none. */
  get firstIndex(): number | null {
    const first = this.segments.find((s) => s.count > 0);
    return first ? first.first : null;
  }

  termAt(index: number): number | undefined {
    return this.segmentHolding(index)?.termAt(index);
  }

  /**
   * Appends contiguous entries; one that is already stored replaces it and everything after it. Durable when
   * it resolves. A full disk leaves no partial record and no new file behind, so the save can be retried (a
   * conflicting suffix it had to cut first stays cut: it was being replaced and was never committed). Any other
   * failure is fatal (storageFailed), since the state of the files is then unknown.
   */
  async append(entries: readonly Entry[]): Promise<void> {
    if (entries.length === 0) return;
    const first = entries[0].index;
    if (first > this.next) throw new Error(`raft log: entry ${first} would leave a gap after entry ${this.next - 1}`);
    const records = entries.map(encodeRecord);
    const ends: number[] = [];
    let total = 0;
    for (const record of records) ends.push((total += record.length));

    const { segment, created } = await this.write(first, Buffer.concat(records, total), entries, ends);
    try {
      await segment.sync();
      if (created) await this.fs.syncDir(this.dir);
    } catch (err) {
      throw storageFailed(err);
    }
    this.next = entries[entries.length - 1].index + 1;
  }

  /**
   * Forgets every entry, for a snapshot that the log does not reach or contradicts; the next append goes to
   * `next`. Durable when it resolves.
   */
  async reset(next: number): Promise<void> {
    if (this.segments.length > 0) {
      try {
        await this.unlinkNewestFirst(0);
        await this.fs.syncDir(this.dir);
      } catch (err) {
        throw storageFailed(err);
      }
    }
    this.next = next;
  }

  /**
   * Deletes the segments whose entries all lie at or below `index`, oldest first so that what is left is always
   * a contiguous log. No sync: a deletion lost to a power cut brings back a segment the snapshot covers, which
   * is harmless and goes again at the next compaction.
   */
  async compact(index: number): Promise<void> {
    while (this.segments.length > 0 && this.segments[0].last <= index) {
      const segment = this.segments[0];
      await segment.close();
      await this.fs.unlink(segment.file);
      this.segments.shift();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.segments.map((s) => s.close()));
  }

  /** Cuts what `first` replaces, rolls if due, and appends the records, without a barrier yet. */
  private async write(first: number, records: Buffer, entries: readonly Entry[], ends: number[]): Promise<{ segment: Segment; created: boolean }> {
    let segment: Segment | undefined;
    let created = false;
    let target = this.dir;
    try {
      if (first < this.next) await this.truncateFrom(first);
      segment = this.segments[this.segments.length - 1];
      if (!segment || segment.size >= this.segmentBytes) {
        // Rolled before the batch rather than inside it, so that a save touches one file: a segment may exceed
        // segmentBytes by one batch.
        await segment?.close();
        target = path.join(this.dir, segmentName(first));
        segment = await Segment.create(this.fs, this.dir, first);
        this.segments.push(segment);
        created = true;
      }
      target = segment.file;
      await segment.append(records, entries, ends);
      return { segment, created };
    } catch (err) {
      if (isDiskFull(err)) {
        if (created && segment) await this.dropNewest(segment);
        throw diskFull(target, err);
      }
      throw storageFailed(err);
    }
  }

  /**
   * Cuts the entry `index` and everything after it. Whole later segments go first, newest first, and their
   * removal is made durable before the cut: otherwise a power cut could keep a later segment after a shortened
   * one, a gap that load() would rightly refuse.
   */
  private async truncateFrom(index: number): Promise<void> {
    let keep = this.segments.length;
    while (keep > 0 && this.segments[keep - 1].first >= index) keep--;
    if (keep < this.segments.length) {
      await this.unlinkNewestFirst(keep);
      await this.fs.syncDir(this.dir);
    }
    const holder = this.segments[this.segments.length - 1];
    if (holder && holder.last >= index) await holder.truncateFrom(index);
    this.next = index;
  }

  private async unlinkNewestFirst(keep: number): Promise<void> {
    while (this.segments.length > keep) {
      const segment = this.segments[this.segments.length - 1];
      await segment.close();
      await this.fs.unlink(segment.file);
      this.segments.pop();
    }
  }

  /** Takes back a segment created for an append that failed, so a full disk leaves no new file behind. */
  private async dropNewest(segment: Segment): Promise<void> {
    await segment.close().catch(() => undefined);
    await this.fs.unlink(segment.file).catch(() => undefined);
    if (this.segments[this.segments.length - 1] === segment) this.segments.pop();
  }

  private segmentHolding(index: number): Segment | undefined {
    return this.segments.find((s) => s.first <= index && index <= s.last);
  }
}
