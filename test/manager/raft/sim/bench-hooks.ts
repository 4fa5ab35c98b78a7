/**
 * Hooks for `npm run bench` (not run by the test suite): the core's own throughput with storage and network
 * taken out, and failover time in simulated time with the default timings. The real benchmark adds real storage
 * (src/store/raft/) and real timers around the same measurements.
 */

import { bootstrapState } from '../../../../src/manager/raft/bootstrap.ts';
import { DEFAULT_TICK_MS } from '../../../../src/manager/raft/config.ts';
import { RaftNode } from '../../../../src/manager/raft/raft.ts';
import type { Message } from '../../../../src/manager/raft/types.ts';
import { seededRandom } from '../../../../src/util/ids.ts';
import { Rng } from './rng.ts';

/**
 * Committed proposals per second of wall-clock time for `members` cores exchanging messages in memory, with
 * `batch` proposals per round: an upper bound the real driver can be compared against.
 */
export function coreThroughput(members = 3, proposals = 20_000, batch = 64): { proposalsPerSecond: number; elapsedMs: number } {
  const ids = Array.from({ length: members }, (_, i) => `m${i + 1}`);
  const nodes = new Map(ids.map((id) => [id, new RaftNode({ id, random: seededRandom(ids.indexOf(id) + 1), storage: bootstrapState(ids) })]));
  const leader = nodes.get('m1')!;
  const queue: Message[] = [];
  const pump = () => {
    for (;;) {
      for (const node of nodes.values()) {
        while (node.hasReady()) {
          const rd = node.ready();
          queue.push(...rd.messages);
          node.advance(rd);
        }
      }
      if (queue.length === 0) return;
      for (const m of queue.splice(0)) nodes.get(m.to)!.step(m);
    }
  };
  leader.campaign();
  pump();
  const start = performance.now();
  let sent = 0;
  while (leader.log.committed < proposals + 2 * members + 1) {
    for (let i = 0; i < batch && sent < proposals; i++, sent++) leader.propose({ n: sent });
    pump();
  }
  const elapsedMs = performance.now() - start;
  return { proposalsPerSecond: (proposals / elapsedMs) * 1000, elapsedMs };
}

/**
 * Time from a leader's crash to the next leader, in simulated milliseconds, with the default timings (100 ms
 * tick, election 10–20 ticks) and LAN latencies of 1–5 ms. One sample per seed.
 */
export function failoverTimes(samples = 100, members = 3): number[] {
  const out: number[] = [];
  for (let seed = 1; seed <= samples; seed++) {
    const rng = new Rng(seed);
    const ids = Array.from({ length: members }, (_, i) => `m${i + 1}`);
    const nodes = new Map(ids.map((id) => [id, new RaftNode({ id, random: seededRandom(rng.fork()), storage: bootstrapState(ids) })]));
    const phase = new Map(ids.map((id) => [id, rng.range(0, DEFAULT_TICK_MS)]));
    let now = 0;
    let inflight: { at: number; m: Message }[] = [];
    const step = (until: number, down: string | null) => {
      while (now < until) {
        now += 1;
        for (const [id, node] of nodes) {
          if (id === down) continue;
          if ((now + phase.get(id)!) % DEFAULT_TICK_MS < 1) node.tick();
          while (node.hasReady()) {
            const rd = node.ready();
            for (const m of rd.messages) inflight.push({ at: now + rng.range(1, 5), m });
            node.advance(rd);
          }
        }
        const due = inflight.filter((f) => f.at <= now);
        inflight = inflight.filter((f) => f.at > now);
        for (const { m } of due) if (m.to !== down) nodes.get(m.to)!.step(m);
      }
    };
    const leaderOf = (down: string | null) => [...nodes.values()].find((n) => n.role === 'leader' && n.id !== down);
    while (!leaderOf(null)) step(now + 100, null);
    step(now + 1_000, null);
    const old = leaderOf(null)!.id;
    const crashedAt = now;
    while (!leaderOf(old) && now - crashedAt < 60_000) step(now + 10, old);
    out.push(now - crashedAt);
  }
  return out;
}
