/**
 * A seeded Raft storage workload shared by the crash test and its child process: both derive the same steps
 * from the same seed and the same starting state, so the parent knows exactly what the child acknowledged
 * without the child having to tell it more than a count.
 */

import type { RaftStorage, RaftUpdate } from '../../../src/manager/raft/storage.ts';
import type { Entry, Snapshot } from '../../../src/manager/raft/types.ts';
import type { ModelRaftStorage } from './model.ts';

export type Step = { kind: 'save'; update: RaftUpdate } | { kind: 'compact'; index: number };

/** mulberry32: a tiny seeded PRNG, so a failing seed replays. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const between = (rng: () => number, lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));

/** About 300 bytes of JSON, like a service update's command. */
function command(rng: () => number, index: number, term: number): Entry {
  return { index, term, type: 'normal', data: { type: 'service.update', serviceId: `svc-${index}`, pad: 'x'.repeat(between(rng, 180, 260)) } };
}

const run = (rng: () => number, first: number, count: number, term: number) => Array.from({ length: count }, (_, k) => command(rng, first + k, term));

const snapshotAt = (index: number, term: number): Snapshot => ({ metadata: { index, term, conf: { voters: ['m1'], learners: [] } }, data: { at: index } });

/** The next step for a member in the model's state. */
export function nextStep(m: ModelRaftStorage, rng: () => number): Step {
  const { term, vote } = m.hardState;
  const last = m.lastIndex;
  // Raft never cuts or contradicts a committed entry, and commit never goes back.
  const settled = Math.max(m.base, m.hardState.commit);
  const r = rng();
  if (term === 0 || r < 0.08) {
    return { kind: 'save', update: { hardState: { term: term + 1, vote: rng() < 0.5 ? 'm1' : '', commit: between(rng, settled, last) }, entries: run(rng, last + 1, between(rng, 0, 3), term + 1) } };
  }
  if (r < 0.62) return { kind: 'save', update: { entries: run(rng, last + 1, between(rng, 1, 5), term) } };
  if (r < 0.7) return { kind: 'save', update: { hardState: { term, vote, commit: between(rng, settled, last) }, entries: [] } };
  if (r < 0.8 && last > settled) {
    const from = between(rng, Math.max(settled + 1, last - 6), last);
    return { kind: 'save', update: { entries: run(rng, from, between(rng, 1, 4), term) } };
  }
  if (r < 0.88 && last > m.base) {
    const at = between(rng, m.base + 1, last);
    return { kind: 'save', update: { hardState: { term, vote, commit: Math.max(at, m.hardState.commit) }, entries: [], snapshot: snapshotAt(at, m.termAt(at) ?? term) } };
  }
  if (r < 0.96) return { kind: 'compact', index: m.base };
  const at = last + between(rng, 1, 20);
  return { kind: 'save', update: { entries: run(rng, at + 1, between(rng, 0, 2), term), snapshot: snapshotAt(at, term) } };
}

export async function applyStep(storage: RaftStorage, step: Step): Promise<void> {
  if (step.kind === 'save') await storage.save(step.update);
  else await storage.compact(step.index);
}

/** What the crash test compares: all but `commit`, which is written lazily. */
export interface Observed {
  term: number;
  vote: string;
  snapshot: Snapshot | null;
  entries: Entry[];
}

export async function observe(storage: RaftStorage): Promise<Observed> {
  const { hardState, snapshot, entries } = await storage.load();
  return { term: hardState.term, vote: hardState.vote, snapshot, entries };
}

/**
 * The states a kill during `step` may leave, from `before` (nothing of the step reached the disk) to the step
 * done, through each point DiskRaftStorage's documented order allows: hard state, then snapshot, then the cut
 * of a conflicting suffix (segment by segment, so at any entry), then the append.
 */
export async function statesDuring(before: ModelRaftStorage, step: Step): Promise<Observed[]> {
  const m = before.clone();
  const out = [await observe(m.clone())];
  if (step.kind === 'compact') return out;
  const { hardState, snapshot, entries } = step.update;
  if (hardState) {
    await m.save({ hardState, entries: [] });
    out.push(await observe(m.clone()));
  }
  if (snapshot) {
    await m.save({ snapshot, entries: [] });
    out.push(await observe(m.clone()));
  }
  const appended = entries.filter((e) => e.index > m.base);
  if (appended.length > 0) {
    for (let cut = m.lastIndex; cut >= appended[0].index; cut--) {
      const partial = m.clone();
      partial.truncateFrom(cut);
      out.push(await observe(partial));
    }
    await m.save({ entries: appended });
    out.push(await observe(m.clone()));
  }
  return out;
}
