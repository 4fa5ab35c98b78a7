/**
 * The file operations the Raft log needs, and nothing more. It is an interface so that tests can inject faults
 * (a disk that fills up half-way through an append, an fsync that fails) and so that every byte and every
 * write barrier can be counted (io-stats.ts) — the numbers an SD card's life depends on.
 */

import { constants, promises as fs } from 'node:fs';

/** A segment opened for appending (O_APPEND: every write lands at the current end, also after a truncate). */
export interface AppendFile {
  /** Writes all of `data`, or throws; on a throw, part of it may have been written. */
  append(data: Uint8Array): Promise<void>;
  /** The write barrier: data and the size are on stable storage when it resolves. */
  datasync(): Promise<void>;
  truncate(size: number): Promise<void>;
  close(): Promise<void>;
}

export interface RaftFs {
  mkdirp(dir: string): Promise<void>;
  /** Names in `dir`, or [] when it does not exist. */
  list(dir: string): Promise<string[]>;
  read(file: string): Promise<Buffer>;
  /** Opens `file` for appending; `create` makes it (empty, replacing any file of that name). */
  openAppend(file: string, create: boolean): Promise<AppendFile>;
  unlink(file: string): Promise<void>;
  /** Makes creations, renames and unlinks in `dir` durable. */
  syncDir(dir: string): Promise<void>;
}

class NodeAppendFile implements AppendFile {
  private readonly handle: fs.FileHandle;

  constructor(handle: fs.FileHandle) {
    this.handle = handle;
  }

  async append(data: Uint8Array): Promise<void> {
    // write(2) may write less than asked (a nearly full disk, a signal): go on until all of it is out.
    for (let offset = 0; offset < data.length; ) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
  }

  datasync(): Promise<void> {
    return this.handle.datasync();
  }

  truncate(size: number): Promise<void> {
    return this.handle.truncate(size);
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

/** The real file system. */
export const nodeRaftFs: RaftFs = {
  async mkdirp(dir) {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  },
  async list(dir) {
    try {
      return await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  read: (file) => fs.readFile(file),
  async openAppend(file, create) {
    const { O_WRONLY, O_APPEND, O_CREAT, O_TRUNC } = constants;
    const flags = O_WRONLY | O_APPEND | (create ? O_CREAT | O_TRUNC : 0);
    return new NodeAppendFile(await fs.open(file, flags, 0o600));
  },
  unlink: (file) => fs.unlink(file),
  async syncDir(dir) {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  },
};
