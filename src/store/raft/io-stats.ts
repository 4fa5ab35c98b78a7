/**
 * Counts what the Raft storage asks of the disk: bytes written and write barriers (fsync/fdatasync). SD cards
 * wear by the write, so a benchmark reports these per committed entry and per idle hour. The counts are file
 * content as handed to the kernel; the file system's own metadata and journal writes come on top (read
 * /proc/self/io's write_bytes for the device-level figure).
 */

import type { AppendFile, RaftFs } from './raft-fs.ts';

export interface IoCounts {
  /** Bytes of file content written. */
  bytesWritten: number;
  /** fsync and fdatasync calls, on files and directories. */
  syncs: number;
}

export class IoStats implements IoCounts {
  bytesWritten = 0;
  syncs = 0;

  /** A copy of the counts now, to subtract from a later one. */
  snapshot(): IoCounts {
    return { bytesWritten: this.bytesWritten, syncs: this.syncs };
  }

  /** What was written since `before`. */
  since(before: IoCounts): IoCounts {
    return { bytesWritten: this.bytesWritten - before.bytesWritten, syncs: this.syncs - before.syncs };
  }
}

/** Wraps a RaftFs so that everything written through it is counted in `stats`. */
export function countingFs(inner: RaftFs, stats: IoStats): RaftFs {
  const wrap = (file: AppendFile): AppendFile => ({
    async append(data) {
      // Counted before the write: bytes a failed write managed to put down still wore the card.
      stats.bytesWritten += data.length;
      await file.append(data);
    },
    async datasync() {
      stats.syncs++;
      await file.datasync();
    },
    truncate: (size) => file.truncate(size),
    close: () => file.close(),
  });
  return {
    mkdirp: (dir) => inner.mkdirp(dir),
    list: (dir) => inner.list(dir),
    read: (file) => inner.read(file),
    openAppend: async (file, create) => wrap(await inner.openAppend(file, create)),
    unlink: (file) => inner.unlink(file),
    async syncDir(dir) {
      stats.syncs++;
      await inner.syncDir(dir);
    },
  };
}
