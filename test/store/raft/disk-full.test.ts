/**
 * A full disk fails the save with a clear error, leaves the files as they were (no half-appended line, no new
 * empty segment, the old hard state), and the next save after space is freed succeeds. Shown twice: on a real
 * tiny tmpfs (root only; skipped otherwise), and with faults injected into the file layer, which also covers a
 * failing write barrier.
 */

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../../src/errors.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { isDiskFull } from '../../../src/store/raft/errors.ts';
import { nodeRaftFs, type RaftFs } from '../../../src/store/raft/raft-fs.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { entries, entry, readTree, tempDir } from './helpers.ts';

const bigEntry = (index: number, term: number) => entry(index, term, { op: 'x'.repeat(1500) });

function assertDiskFull(err: unknown): true {
  assert.ok(err instanceof SwarmletError, String(err));
  assert.ok(isDiskFull(err), `not a disk-full error: ${err.message}`);
  assert.match(err.message, /disk is full.*free some space and swarmlet carries on/);
  return true;
}

/** Mounts a tmpfs of `size` at a fresh directory, or returns null when this machine does not allow it. */
function mountTmpfs(mountpoint: string, size: string): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', mountpoint], { stdio: 'pipe' });
    return true;
  } catch {
    return false;
  }
}

/** Writes a file until the file system is full; returns its path. */
async function fill(dir: string): Promise<string> {
  const file = path.join(dir, 'filler');
  const handle = await fs.open(file, 'w');
  try {
    const chunk = Buffer.alloc(4096, 1);
    for (;;) await handle.write(chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  } finally {
    await handle.close();
  }
  return file;
}

describe('a full disk, on a real 256 KB tmpfs', () => {
  let mountpoint: string;
  let mounted = false;
  beforeEach(async () => {
    mountpoint = await tempDir('swarmlet-raft-tmpfs-');
    mounted = mountTmpfs(mountpoint, '256k');
  });
  afterEach(async () => {
    if (mounted) execFileSync('umount', [mountpoint]);
    await fs.rm(mountpoint, { recursive: true, force: true });
  });

  it('fails saves clearly, changes nothing, and carries on once space is freed', async (t) => {
    if (!mounted) return t.skip('needs root to mount a tmpfs');
    const dataDir = path.join(mountpoint, 'data');
    let storage = new DiskRaftStorage({ dataDir, log: silentLogger, segmentBytes: 16 * 1024 });
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: entries(1, 3, 1) });
    const filler = await fill(mountpoint);
    const before = await readTree(path.join(dataDir, 'raft'));

    // Appends of several pages: the first bytes may fit in the segment's last page, the rest cannot.
    let next = 4;
    for (let attempt = 0; attempt < 3; attempt++) {
      await assert.rejects(storage.save({ entries: [4, 5, 6, 7].map((i) => bigEntry(i, 1)) }), assertDiskFull);
    }
    // A new term needs a new hardstate.json: refused the same way, and the old one stays.
    await assert.rejects(storage.save({ hardState: { term: 2, vote: 'm2', commit: 0 }, entries: [] }), assertDiskFull);
    assert.deepEqual(await readTree(path.join(dataDir, 'raft')), before, 'a failed save changed files');

    await fs.rm(filler);
    await storage.save({ hardState: { term: 2, vote: 'm2', commit: 0 }, entries: [4, 5, 6, 7].map((i) => bigEntry(i, 2)) });
    next = 8;
    // Enough to roll segments on the freed space too.
    for (; next < 30; next++) await storage.save({ entries: [bigEntry(next, 2)] });
    await storage.close();

    storage = new DiskRaftStorage({ dataDir, log: silentLogger });
    const state = await storage.load();
    assert.deepEqual(state.hardState, { term: 2, vote: 'm2', commit: 0 });
    assert.deepEqual(state.entries, [...entries(1, 3, 1), ...Array.from({ length: next - 4 }, (_, k) => bigEntry(4 + k, 2))]);
    await storage.close();
  });
});

/** nodeRaftFs with switchable faults: appends that put down half their bytes then hit ENOSPC, failing barriers. */
function faultyFs(faults: { full: boolean; failSync: boolean }): RaftFs {
  const enospc = () => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  return {
    ...nodeRaftFs,
    async openAppend(file, create) {
      const inner = await nodeRaftFs.openAppend(file, create);
      return {
        ...inner,
        append: async (data) => {
          if (!faults.full) return inner.append(data);
          await inner.append(data.subarray(0, Math.floor(data.length / 2)));
          throw enospc();
        },
        datasync: async () => {
          if (faults.failSync) throw Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
          return inner.datasync();
        },
        truncate: (size) => inner.truncate(size),
        close: () => inner.close(),
      };
    },
  };
}

describe('a full disk and failed barriers, injected', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('cuts off a half-written append and leaves no new segment behind', async () => {
    const faults = { full: false, failSync: false };
    const storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger, segmentBytes: 2000, fs: faultyFs(faults) });
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: [bigEntry(1, 1)] });
    const before = await readTree(dir);
    faults.full = true;
    // The first goes into the current segment; the second would roll to a new one.
    await assert.rejects(storage.save({ entries: [entry(2, 1)] }), assertDiskFull);
    await storage.save({ entries: [] });
    assert.deepEqual(await readTree(dir), before);
    faults.full = false;
    await storage.save({ entries: [bigEntry(2, 1)] });
    faults.full = true;
    const rolled = await readTree(dir);
    await assert.rejects(storage.save({ entries: [entry(3, 1)] }), assertDiskFull);
    assert.deepEqual(await readTree(dir), rolled, 'the new segment made for the failed append was left behind');
    faults.full = false;
    await storage.save({ entries: entries(3, 4, 1) });
    await storage.close();
    const state = await new DiskRaftStorage({ dataDir: dir, log: silentLogger }).load();
    assert.deepEqual(state.entries, [bigEntry(1, 1), bigEntry(2, 1), ...entries(3, 4, 1)]);
  });

  it('stops writing after a failed barrier until it is loaded again', async () => {
    const faults = { full: false, failSync: false };
    const storage = new DiskRaftStorage({ dataDir: dir, log: silentLogger, fs: faultyFs(faults) });
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 2, 1) });
    faults.failSync = true;
    const failed = (err: unknown) => err instanceof SwarmletError && /storage failed \(EIO\).*restart swarmlet/.test(err.message);
    await assert.rejects(storage.save({ entries: entries(3, 3, 1) }), failed);
    faults.failSync = false;
    await assert.rejects(storage.save({ entries: entries(3, 3, 1) }), failed);
    await assert.rejects(storage.compact(0), failed);
    // What reached the disk is read back as it is; here the page cache kept entry 3.
    const state = await storage.load();
    assert.deepEqual(state.entries, entries(1, 3, 1));
    await storage.save({ entries: entries(4, 4, 1) });
    await storage.close();
  });
});
