/**
 * Model-based property test: any sequence of saves (appends, overwrites, term and vote changes, commit-only and
 * empty saves, local and received snapshots), compactions, restarts and crash-restarts leaves DiskRaftStorage
 * loading exactly what the reference model (model.ts) holds. The sequences keep what Raft guarantees its
 * storage: commit never goes back, and no committed entry is cut or contradicted. Segments are kept tiny so that every run rolls,
 * truncates across segment boundaries and deletes segments. A failure prints fast-check's seed and the shrunk
 * command list; rerun it with FC_SEED=<seed> (and FC_PATH=<path>).
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../../src/manager/raft/types.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { parseSegmentName } from '../../../src/store/raft/segment.ts';
import { silentLogger } from '../../../src/util/logger.ts';
import { snapshot, tempDir } from './helpers.ts';
import { ModelRaftStorage } from './model.ts';

interface Real {
  storage: DiskRaftStorage;
  segmentBytes: number;
  dir: string;
}
type Command = fc.AsyncCommand<ModelRaftStorage, Real>;

/** A number in [lo, hi] picked by `n`. */
const pick = (lo: number, hi: number, n: number) => lo + (n % (hi - lo + 1));
const hasTerm = (m: ModelRaftStorage) => m.hardState.term > 0;

function makeEntries(first: number, count: number, term: number, payload: string): Entry[] {
  return Array.from({ length: count }, (_, k) =>
    k % 4 === 3
      ? { index: first + k, term, type: 'conf-change', data: { type: 'add-learner', member: `m${k}` } }
      : { index: first + k, term, type: 'normal', data: { op: payload, n: first + k } },
  );
}

async function expectSame(m: ModelRaftStorage, real: Real): Promise<void> {
  const want = await m.load();
  const got = await real.storage.load();
  assert.deepEqual(got, want);
}

async function bothSave(m: ModelRaftStorage, r: Real, update: Parameters<DiskRaftStorage['save']>[0]): Promise<void> {
  await m.save(structuredClone(update));
  await r.storage.save(update);
}

/** How many of each command ran, reported so that a generator that stops exercising something shows. */
const ran: Record<string, number> = {};
const command = (label: string, check: (m: ModelRaftStorage) => boolean, run: (m: ModelRaftStorage, r: Real) => Promise<void>): Command => ({
  check,
  run(m, r) {
    const kind = label.split('(')[0];
    ran[kind] = (ran[kind] ?? 0) + 1;
    return run(m, r);
  },
  toString: () => label,
});

const append = (count: number, payload: string) =>
  command(`append(${count}, ${JSON.stringify(payload)})`, hasTerm, (m, r) =>
    bothSave(m, r, { entries: makeEntries(m.nextIndex, count, m.hardState.term, payload) }),
  );

/** The newest index a member may no longer lose: Raft never cuts a committed entry or one a snapshot holds. */
const settled = (m: ModelRaftStorage) => Math.max(m.base, m.hardState.commit);

const overwrite = (at: number, count: number) =>
  command(`overwrite(at ${at}, ${count})`, (m) => hasTerm(m) && m.lastIndex > settled(m), (m, r) =>
    bothSave(m, r, { entries: makeEntries(pick(settled(m) + 1, m.lastIndex, at), count, m.hardState.term, 'overwrite') }),
  );

/** A new term (or, with bump 0, a new vote), usually with the first entries of the new term. */
const newTerm = (bump: number, vote: string, commit: number, count: number) =>
  command(`newTerm(+${bump}, vote ${JSON.stringify(vote)}, commit ${commit}, ${count} entries)`, () => true, (m, r) => {
    const term = m.hardState.term + bump;
    const hardState = { term, vote: bump === 0 ? `${m.hardState.vote}x` : vote, commit: pick(settled(m), m.lastStored, commit) };
    return bothSave(m, r, { hardState, entries: makeEntries(m.nextIndex, count, term, 'new term') });
  });

const commitOnly = (commit: number) =>
  command(`commitOnly(${commit})`, () => true, async (m, r) => {
    const before = r.storage.stats.snapshot();
    await bothSave(m, r, { hardState: { ...m.hardState, commit: pick(settled(m), m.lastStored, commit) }, entries: [] });
    await bothSave(m, r, { entries: [] });
    assert.deepEqual(r.storage.stats.since(before), { bytesWritten: 0, syncs: 0 }, 'a commit-only or empty save touched the disk');
  });

const localSnapshot = (at: number) =>
  command(`localSnapshot(at ${at})`, (m) => m.lastIndex > m.base, (m, r) => {
    const index = pick(m.base + 1, m.lastIndex, at);
    return bothSave(m, r, { entries: [], snapshot: snapshot(index, m.termAt(index) ?? 0) });
  });

/**
 * A snapshot from the leader: within the log or beyond it, agreeing with the log's term or not. Beyond the
 * commit, since a leader's snapshot agrees with every committed entry.
 */
const receivedSnapshot = (at: number, sameTerm: boolean, following: number) =>
  command(`receivedSnapshot(at ${at}, sameTerm ${sameTerm}, +${following})`, hasTerm, (m, r) => {
    const index = pick(settled(m) + 1, m.lastStored + 4, at);
    const term = sameTerm ? (m.termAt(index) ?? m.hardState.term) : m.hardState.term;
    const entries = makeEntries(index + 1, following, m.hardState.term, 'after snapshot');
    return bothSave(m, r, { entries, snapshot: snapshot(index, term, { from: 'leader', index }) });
  });

const compact = (at: number) =>
  command(`compact(${at})`, () => true, async (m, r) => {
    const index = pick(0, m.base, at);
    await m.compact(index);
    await r.storage.compact(index);
    // Files stay small: no segment whose entries the snapshot all covers survives a compaction.
    for (const name of await fs.readdir(r.storage.paths.log)) {
      const first = parseSegmentName(name);
      assert.ok(first !== null, `stray file ${name}`);
      const lines = (await fs.readFile(path.join(r.storage.paths.log, name), 'utf8')).split('\n').length - 1;
      assert.ok(first + lines - 1 > index, `segment ${name} (${lines} entries) survived compact(${index})`);
    }
  });

/** A graceful restart: close, then a new object over the same files. */
const restart = command('restart', () => true, async (m, r) => {
  await m.close();
  await r.storage.close();
  r.storage = new DiskRaftStorage({ dataDir: r.dir, log: silentLogger, segmentBytes: r.segmentBytes });
  await expectSame(m, r);
});

/** A crash: what is in memory is lost (no close), and everything is read back from disk. */
const crash = command('crash', () => true, (m, r) => expectSame(m, r));

const n = fc.nat(1000);
const commands = fc.commands(
  [
    fc.tuple(fc.integer({ min: 1, max: 6 }), fc.string({ unit: 'grapheme', maxLength: 60 })).map(([c, p]) => append(c, p)),
    fc.tuple(n, fc.integer({ min: 1, max: 4 })).map(([at, c]) => overwrite(at, c)),
    fc.tuple(fc.integer({ min: 0, max: 2 }), fc.constantFrom('', 'm1', 'm2'), n, fc.integer({ min: 0, max: 3 })).map(([b, v, c, k]) => newTerm(b, v, c, k)),
    n.map(commitOnly),
    n.map(localSnapshot),
    fc.tuple(n, fc.boolean(), fc.integer({ min: 0, max: 3 })).map(([at, same, k]) => receivedSnapshot(at, same, k)),
    n.map(compact),
    fc.constant(restart),
    fc.constant(crash),
  ],
  { maxCommands: 60, size: 'max' },
);

it('DiskRaftStorage loads what the reference model holds after any sequence of operations', async (t) => {
  const seed = process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(150, 600, 4096), commands, async (segmentBytes, cmds) => {
      const dir = await tempDir('swarmlet-raft-prop-');
      const real: Real = { storage: new DiskRaftStorage({ dataDir: dir, log: silentLogger, segmentBytes }), segmentBytes, dir };
      try {
        await real.storage.load();
        const model = new ModelRaftStorage({ lazyCommit: true });
        await fc.asyncModelRun(() => ({ model, real }), cmds);
        await crash.run(model, real);
      } finally {
        await real.storage.close();
        await fs.rm(dir, { recursive: true, force: true });
      }
    }),
    { numRuns: Number(process.env.FC_RUNS ?? 150), seed, path: process.env.FC_PATH, endOnFailure: false },
  );
  t.diagnostic(`commands run: ${JSON.stringify(ran)}`);
});
