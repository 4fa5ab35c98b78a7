/**
 * Crash safety: a child process runs a seeded workload (appends, new terms, conflicting suffixes, snapshots,
 * compactions) against DiskRaftStorage and prints "acked N" after each step resolves; the parent SIGKILLs it at
 * random moments, then checks that load() gives back every acknowledged step exactly, and of the step in
 * flight either nothing, all of it, or one of the intermediate states the documented write order allows.
 * The next child carries on from what the last one left, so repairs are exercised too.
 *
 * kill -9 ends the process but keeps the kernel's page cache, so this proves the ordering and atomicity of what
 * swarmlet does (no acknowledged step lost, no half-applied state), not that the fsyncs reach the platter:
 * power loss would also drop writes not yet fsynced, which the simulator's storage models instead.
 * Set CRASH_SEED to replay a run's choices (the kill timings themselves vary).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { memoryLogger, tempDir } from './helpers.ts';
import { ModelRaftStorage } from './model.ts';
import { applyStep, nextStep, observe, seededRandom, statesDuring } from './workload.ts';

const ITERATIONS = 40;
const SEGMENT_BYTES = 8 * 1024;
const CHILD = path.join(import.meta.dirname, 'crash-child.ts');

interface ChildRun {
  acked: number;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Runs the child and kills it `delayMs` after it is ready (or after it starts, when `early`). */
function runChild(dataDir: string, seed: number, delayMs: number, early: boolean): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dataDir, String(seed), String(SEGMENT_BYTES)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = 0;
    let stdout = '';
    let stderr = '';
    const kill = () => setTimeout(() => child.kill('SIGKILL'), delayMs);
    if (early) kill();
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      if (!early && !stdout.includes('ready') && (stdout + chunk).includes('ready')) kill();
      stdout += chunk;
      const matches = stdout.match(/acked (\d+)\n/g);
      if (matches) acked = Number(matches[matches.length - 1].slice(6, -1));
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ acked, stderr, code, signal }));
  });
}

it(`keeps every acknowledged step through ${ITERATIONS} kill -9s at random moments`, async (t) => {
  const seed = Number(process.env.CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`CRASH_SEED=${seed}`);
  const rng = seededRandom(seed);
  const dataDir = await tempDir('swarmlet-raft-crash-');
  const outcomes = { before: 0, partial: 0, done: 0 };
  let totalAcked = 0;
  let repairs = 0;
  try {
    for (let i = 0; i < ITERATIONS; i++) {
      const opening = new DiskRaftStorage({ dataDir, log: memoryLogger() });
      const start = ModelRaftStorage.fromPersisted(await opening.load());
      await opening.close();

      const childSeed = Math.floor(rng() * 2 ** 31);
      const early = rng() < 0.1;
      const run = await runChild(dataDir, childSeed, Math.floor(rng() * (early ? 250 : 60)), early);
      assert.equal(run.signal, 'SIGKILL', `the child ended by itself (code ${run.code}): ${run.stderr}`);
      totalAcked += run.acked;

      // Replay what the child did, up to the step it was killed in.
      const model = start.clone();
      const steps = seededRandom(childSeed);
      for (let n = 1; n <= run.acked; n++) await applyStep(model, nextStep(model, steps));
      const allowed = await statesDuring(model, nextStep(model, steps));

      const log = memoryLogger();
      const actual = await observe(new DiskRaftStorage({ dataDir, log }));
      repairs += log.lines.filter((line) => line.startsWith('warn')).length;
      const match = allowed.findIndex((state) => isDeepStrictEqual(state, actual));
      if (match === -1) {
        const summary = (s: typeof actual) => `term ${s.term} vote ${s.vote} snapshot ${s.snapshot?.metadata.index ?? '-'} entries ${s.entries[0]?.index ?? '-'}..${s.entries.at(-1)?.index ?? '-'}`;
        assert.fail(
          `CRASH_SEED=${seed} iteration ${i}: after ${run.acked} acknowledged steps the storage holds\n  ${summary(actual)}\n` +
            `which is none of the states the step in flight allows:\n  ${allowed.map(summary).join('\n  ')}`,
        );
      }
      if (match === 0) outcomes.before++;
      else if (match === allowed.length - 1) outcomes.done++;
      else outcomes.partial++;
    }
  } finally {
    await fs.rm(dataDir, { recursive: true, force: true });
  }
  t.diagnostic(
    `${totalAcked} steps acknowledged over ${ITERATIONS} kills; step in flight found not started ${outcomes.before}, ` +
      `done ${outcomes.done}, part-done ${outcomes.partial} times; ${repairs} start-up repairs`,
  );
});
