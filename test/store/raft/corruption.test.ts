/**
 * Start-up checks: a torn tail (an append cut short, never acknowledged) is cut off with a log line; anything
 * else that is wrong is refused with corrupt_state, naming the file, and the files are left exactly as they were.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { SwarmletError } from '../../../src/errors.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { entries, entry, memoryLogger, readTree, snapshot, tempDir } from './helpers.ts';

let dir: string;
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const open = (log = silentLogger, segmentBytes = 1 << 20) => new DiskRaftStorage({ dataDir: dir, log, segmentBytes });
const logDir = () => path.join(dir, 'raft', 'log');
const segments = async () => (await fs.readdir(logDir())).sort().map((name) => path.join(logDir(), name));

/** A log of entries 1..n in term 1, closed. */
async function write(n: number, segmentBytes = 1 << 20): Promise<void> {
  const storage = open(silentLogger, segmentBytes);
  await storage.load();
  await storage.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: [] });
  for (let i = 1; i <= n; i++) await storage.save({ entries: [entry(i, 1)] });
  await storage.close();
}

async function refused(fragment: string, file: string): Promise<void> {
  const before = await readTree(dir);
  await assert.rejects(open().load(), (err: unknown) => {
    assert.ok(err instanceof SwarmletError, String(err));
    assert.equal(err.code, 'corrupt_state');
    assert.ok(err.message.includes(file), `names ${file}: ${err.message}`);
    assert.ok(err.message.includes(fragment), `says "${fragment}": ${err.message}`);
    assert.match(err.message, /--force-new-cluster/);
    return true;
  });
  assert.deepEqual(await readTree(dir), before, 'a refusal changed files');
}

describe('a torn tail', () => {
  for (const [name, tail] of [
    ['an incomplete last line', '{"c":"0badf00d","e":{"term":1,"ind'],
    ['a zero-filled tail', '\0'.repeat(700)],
    ['a last line whose checksum fails', `{"c":"00000000","e":${JSON.stringify(entry(6, 1))}}\n`],
  ] as const) {
    it(`is cut off: ${name}`, async () => {
      await write(5);
      const [file] = await segments();
      const good = await fs.readFile(file);
      await fs.appendFile(file, tail);
      const log = memoryLogger();
      const storage = open(log);
      const state = await storage.load();
      assert.deepEqual(state.entries, entries(1, 5, 1));
      assert.deepEqual(await fs.readFile(file), good);
      assert.equal(log.lines.length, 1);
      assert.match(log.lines[0], /^warn: raft log .*00000000000000000001\.jsonl: dropping a torn last line .*never acknowledged/);
      // The next append starts clean.
      await storage.save({ entries: [entry(6, 1)] });
      await storage.close();
      assert.deepEqual((await open().load()).entries, entries(1, 6, 1));
    });
  }
});

describe('damage is refused, and the files are left as they were', () => {
  it('a bad checksum in the middle of a segment', async () => {
    await write(5);
    const [file] = await segments();
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    lines[2] = lines[2].replace('set k3', 'set k9');
    await fs.writeFile(file, lines.join('\n'));
    await refused('line 3: checksum mismatch', file);
  });

  it('a damaged last line of a segment that is not the newest', async () => {
    await write(12, 200);
    const [first] = await segments();
    const text = await fs.readFile(first, 'utf8');
    await fs.writeFile(first, `${text.slice(0, -10)}XXXXXXXXX\n`);
    await refused('record not closed', first);
  });

  it('lines in the wrong order', async () => {
    await write(5);
    const [file] = await segments();
    const lines = (await fs.readFile(file, 'utf8')).split('\n');
    [lines[1], lines[2]] = [lines[2], lines[1]];
    await fs.writeFile(file, lines.join('\n'));
    await refused('line 2 holds entry 3 where entry 2 belongs', file);
  });

  it('a missing segment (a gap in the indexes)', async () => {
    await write(12, 200);
    const all = await segments();
    assert.ok(all.length >= 3, `${all.length} segments`);
    await fs.rm(all[1]);
    await refused('entries are missing', all[2]);
  });

  it('a log that starts after the snapshot ends', async () => {
    await write(12, 200);
    const [first, second] = await segments();
    await fs.rm(first);
    await refused('the log starts at entry', second);
  });

  it('a lost newest segment that held committed entries', async () => {
    const storage = open(silentLogger, 200);
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 0 }, entries: entries(1, 12, 1) });
    await storage.save({ entries: entries(13, 14, 1) });
    await storage.save({ hardState: { term: 1, vote: 'm1', commit: 14 }, entries: [] });
    await storage.close(); // writes commit 14
    const all = await segments();
    await fs.rm(all[all.length - 1]);
    await refused('committed entries are missing', path.join(dir, 'raft'));
  });

  it('a damaged hard state file', async () => {
    await write(3);
    const file = path.join(dir, 'raft', 'hardstate.json');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).replace('"m1"', '"m2"'));
    await refused('checksum', file);
  });

  it('a missing hard state file: the vote would be forgotten', async () => {
    await write(3);
    const file = path.join(dir, 'raft', 'hardstate.json');
    await fs.rm(file);
    await refused('vote', file);
  });

  it('a damaged snapshot file', async () => {
    const storage = open();
    await storage.load();
    await storage.save({ hardState: { term: 1, vote: '', commit: 0 }, entries: entries(1, 3, 1), snapshot: snapshot(3, 1) });
    await storage.close();
    const file = path.join(dir, 'raft', 'snapshot.json');
    await fs.writeFile(file, (await fs.readFile(file, 'utf8')).slice(0, 40));
    await refused('checksum', file);
  });

  it('a hard state older than the log', async () => {
    await write(3);
    // Swap in the hard state of an earlier term, as a restored backup of only that file would.
    const other = await tempDir();
    const older = new DiskRaftStorage({ dataDir: other, log: silentLogger });
    await older.load();
    await older.save({ hardState: { term: 0, vote: 'x', commit: 0 }, entries: [] });
    await older.close();
    const file = path.join(dir, 'raft', 'hardstate.json');
    await fs.copyFile(path.join(other, 'raft', 'hardstate.json'), file);
    await fs.rm(other, { recursive: true });
    await refused('older than term 1', file);
  });
});

describe('finishing what a crash interrupted', () => {
  it('drops a log that a snapshot install superseded, with a log line', async () => {
    await write(5);
    // The state a crash leaves between writing a received snapshot (at 10) and dropping the old log.
    const other = await tempDir();
    const leader = new DiskRaftStorage({ dataDir: other, log: silentLogger });
    await leader.load();
    await leader.save({ hardState: { term: 2, vote: '', commit: 10 }, entries: [], snapshot: snapshot(10, 2) });
    await leader.close();
    for (const name of ['hardstate.json', 'snapshot.json']) await fs.copyFile(path.join(other, 'raft', name), path.join(dir, 'raft', name));
    await fs.rm(other, { recursive: true });

    const log = memoryLogger();
    const storage = open(log);
    const state = await storage.load();
    assert.deepEqual(state.entries, []);
    assert.equal(state.snapshot?.metadata.index, 10);
    assert.match(log.lines.join('\n'), /dropping entries that the snapshot at 10 supersedes/);
    assert.deepEqual(await segments(), []);
    await storage.save({ entries: entries(11, 12, 2) });
    await storage.close();
    assert.deepEqual((await open().load()).entries, entries(11, 12, 2));
  });

  it('removes the temporary files of a state file write cut short', async () => {
    await write(1);
    const temp = path.join(dir, 'raft', '.hardstate.json.12345.tmp');
    await fs.writeFile(temp, 'partial');
    await open().load();
    await assert.rejects(fs.stat(temp), { code: 'ENOENT' });
  });
});
