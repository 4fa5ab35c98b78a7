/**
 * `npm run soak`: what linearizability.test.ts does in CI, over 100,000 seeds. Each seed runs the simulator
 * under its profile's faults, checks the invariants after every event and the client history for
 * linearizability; the seeds are split over the profiles in the CI mix's proportions (profiles.ts, SEED_MIX) and
 * over worker processes, one per core. Progress goes to stdout; every failing seed prints its report and the
 * command that replays it, and the run goes on to the end. Exits 1 if any seed failed.
 *
 *   npm run soak                                    100,000 seeds from seed 1
 *   npm run soak -- --seeds 20000 --base 500000     other seeds
 *   npm run soak -- --workers 1                     one process
 *   npm run soak -- --seeds 100 --faults followerReadWithoutReadIndex --unchecked-reads
 *                                                   a mutant, to see failures reported
 */

import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { RaftFaults } from '../../../src/manager/raft/config.ts';
import { replayCommand } from './sim/check-seed.ts';
import { PROFILES, SEED_MIX } from './sim/profiles.ts';
import type { Chunk, ChunkResult } from './soak-worker.ts';

const { values: args } = parseArgs({
  options: {
    seeds: { type: 'string', default: '100000' },
    base: { type: 'string', default: '1' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
    chunk: { type: 'string', default: '50' },
    faults: { type: 'string', default: '' },
    'unchecked-reads': { type: 'boolean', default: false },
  },
});
const total = Number(args.seeds);
const base = Number(args.base);
const workers = Math.max(1, Number(args.workers));
const chunkSize = Math.max(1, Number(args.chunk));
const faults: RaftFaults = Object.fromEntries(args.faults.split(',').filter(Boolean).map((f) => [f, true]));
const checkReads = !args['unchecked-reads'];

/** Seeds per profile, in SEED_MIX's proportions, adding up to `total`. */
function plan(): Map<string, number> {
  const weight = SEED_MIX.reduce((sum, [, w]) => sum + w, 0);
  const counts = new Map<string, number>();
  let given = 0;
  SEED_MIX.forEach(([profile, w], i) => {
    const n = i === SEED_MIX.length - 1 ? total - given : Math.round((total * w) / weight);
    counts.set(profile.name, n);
    given += n;
  });
  return counts;
}

const counts = plan();
// Interleaved, so progress and the throughput estimate cover every profile from the start.
const queues = [...counts].map(([profile, n]) => {
  const chunks: Chunk[] = [];
  for (let from = base; from < base + n; from += chunkSize) chunks.push({ profile, faults, checkReads, from, to: Math.min(from + chunkSize, base + n) });
  return chunks;
});
const chunks: Chunk[] = [];
while (queues.some((q) => q.length > 0)) for (const q of queues) if (q.length > 0) chunks.push(q.shift()!);

interface Tally {
  seeds: number;
  operations: number;
  failures: number;
}
const tallies = new Map([...counts.keys()].map((p) => [p, { seeds: 0, operations: 0, failures: 0 } as Tally]));
const failures: { profile: string; seed: number; failure: string }[] = [];
const started = performance.now();
let done = 0;
let lastReport = started;

const injected = Object.keys(faults).length > 0 || !checkReads ? ` (injected: ${JSON.stringify(faults)}${checkReads ? '' : ', read invariant off'})` : '';
console.log(`soak: ${total} seeds from ${base} over ${workers} worker(s) on Node ${process.version}${injected}: ${[...counts].map(([p, n]) => `${p} ${n}`).join(', ')}`);

function progress(force = false): void {
  const now = performance.now();
  if (!force && now - lastReport < 15_000) return;
  lastReport = now;
  const elapsed = (now - started) / 1000;
  const rate = done / elapsed;
  const eta = rate > 0 ? (total - done) / rate : Infinity;
  console.log(`soak: ${done}/${total} seeds (${((100 * done) / total).toFixed(1)}%), ${rate.toFixed(1)} seeds/s, ${failures.length} failed, ${fmt(elapsed)} elapsed, ~${fmt(eta)} left`);
}

const fmt = (s: number) => (Number.isFinite(s) ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : '?');

function runWorker(): Promise<void> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = fork(new URL('./soak-worker.ts', import.meta.url), { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const next = () => {
      const chunk = chunks.shift();
      if (chunk) child.send(chunk);
      else child.disconnect();
    };
    child.on('message', (r: ChunkResult) => {
      const t = tallies.get(r.chunk.profile)!;
      t.seeds += r.seeds;
      t.operations += r.operations;
      t.failures += r.failures.length;
      done += r.seeds;
      for (const f of r.failures) {
        failures.push({ profile: r.chunk.profile, seed: f.seed, failure: f.failure });
        console.log(`\n${f.report}\n`);
      }
      progress();
      next();
    });
    child.on('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`soak worker ${child.pid} exited with ${signal ?? `code ${code}`}`))));
    next();
  });
}

await Promise.all(Array.from({ length: Math.min(workers, chunks.length) }, runWorker));

const elapsed = (performance.now() - started) / 1000;
progress(true);
console.log('\nsoak summary:');
for (const [profile, t] of tallies) console.log(`  ${profile.padEnd(16)} ${String(t.seeds).padStart(7)} seeds  ${String(t.operations).padStart(10)} operations checked  ${t.failures} failed`);
console.log(`  ${done} seeds in ${fmt(elapsed)}: ${(done / elapsed).toFixed(1)} seeds/s over ${workers} worker(s)`);
if (failures.length > 0) {
  console.log(`\n${failures.length} seed(s) failed; replay each with:`);
  for (const f of failures) console.log(`  ${replayCommand({ seed: f.seed, profile: PROFILES[f.profile], faults, checkReads })}   (${f.failure})`);
  process.exitCode = 1;
} else {
  console.log('  every seed kept the invariants and gave a linearizable history');
}
