/**
 * Benchmark (d): the replicated managers. Three in-process managers, each what the daemon runs (state machine,
 * RaftProposer, RaftDriver, DiskRaftStorage in its own temp dir on this disk), joined by an in-memory transport,
 * with the default timings (100 ms tick, election after 10–20 ticks, a snapshot every 1,000 entries):
 *
 * - committed proposals per second: SWARMLET_BENCH_RAFT_UPDATES (default 2,000) service updates through the
 *   leader with up to 64 in flight, and the commit latency (proposal → applied on the proposing manager), also
 *   with one in flight;
 * - bytes written per service update at steady state: 1,000 updates of a ~1 KB spec one after another, counted by
 *   DiskRaftStorage (file content handed to the kernel) and by /proc/self/io (pages the kernel writes back);
 *   goal < 8 KB, measured per manager;
 * - bytes written per hour by the idle cluster, over SWARMLET_BENCH_RAFT_IDLE_S seconds (default 60); goal < 1 MB/h
 *   for the three managers together;
 * - leader failover over SWARMLET_BENCH_FAILOVERS forced failures (default 100): the leader's driver is killed and
 *   the time until a new leader is known by a majority, and until a write through it is committed, is measured;
 *   the killed manager is restarted from disk and caught up before the next one. Goal < 3 s.
 *
 * Transport costs nothing here, so the figures are those of the consensus code and the disk; a LAN adds a round
 * trip (~0.3 ms wired, a few ms on Wi-Fi) per commit. Takes about 5 minutes, most of it the failovers.
 */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TICK_MS } from '../../src/manager/raft/config.ts';
import type { IoCounts } from '../../src/store/raft/io-stats.ts';
import { ManagerCluster, type Member } from '../manager/consensus/cluster.ts';
import { createService, initCommand, serviceId, updateService } from '../manager/consensus/commands.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { kilobytes, percentile, processWriteBytes, realisticSpec } from './lib/raft-workload.ts';
import { megabytes, printTable, seconds, summary, verdict } from './lib/report.ts';

const UPDATES = Number(process.env.SWARMLET_BENCH_RAFT_UPDATES ?? 2_000);
const IN_FLIGHT = 64;
const SEQUENTIAL = 200;
const STEADY_UPDATES = 1_000;
const IDLE_S = Number(process.env.SWARMLET_BENCH_RAFT_IDLE_S ?? 60);
const FAILOVERS = Number(process.env.SWARMLET_BENCH_FAILOVERS ?? 100);
/** One service per proposal slot, so that pipelined updates never conflict on a service's version. */
const SERVICES = IN_FLIGHT;

const FAILOVER_GOAL_MS = 3_000;
const IDLE_GOAL_BYTES_PER_HOUR = 1e6;
const UPDATE_GOAL_BYTES = 8_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const name = (slot: number) => `shop_web${String(slot).padStart(2, '0')}`;
const fmt = (ms: number) => `${ms.toFixed(1)} ms`;

/** Revisions per service, so that each update changes the spec. */
const revisions = new Map<number, number>();

/** The next update of slot `slot`'s service, as the leader's state has it now. */
function nextUpdate(leader: Member, slot: number) {
  const revision = (revisions.get(slot) ?? 0) + 1;
  revisions.set(slot, revision);
  return updateService(leader.state, serviceId(slot), realisticSpec(name(slot), revision));
}

interface Run {
  perSecond: number;
  latencies: number[];
  io: Map<string, IoCounts>;
  deviceBytes: number | null;
  snapshotsSent: number;
}

/** `count` updates through the leader with up to `inFlight` waiting at once; per-manager I/O over the run. */
async function proposeUpdates(cluster: ManagerCluster, count: number, inFlight: number): Promise<Run> {
  const leader = await cluster.waitForLeader(10_000);
  const before = new Map(cluster.running.map((m) => [m.id, m.storage.stats.snapshot()]));
  const deviceBefore = processWriteBytes();
  const snapshotsBefore = cluster.hub.sentOf('snapshot');
  const latencies: number[] = [];
  let issued = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async (_, slot) => {
      while (issued < count) {
        issued++;
        const command = nextUpdate(leader, slot);
        const t = performance.now();
        await leader.proposer.propose(command);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const elapsed = performance.now() - start;
  // Followers apply a moment after the leader: count their writes for the same entries.
  await cluster.converged(10_000);
  const deviceAfter = processWriteBytes();
  return {
    perSecond: (count / elapsed) * 1000,
    latencies,
    io: new Map(cluster.running.map((m) => [m.id, m.storage.stats.since(before.get(m.id)!)])),
    deviceBytes: deviceBefore === null || deviceAfter === null ? null : deviceAfter - deviceBefore,
    snapshotsSent: cluster.hub.sentOf('snapshot') - snapshotsBefore,
  };
}

function total(io: Map<string, IoCounts>): IoCounts {
  let bytesWritten = 0;
  let syncs = 0;
  for (const counts of io.values()) {
    bytesWritten += counts.bytesWritten;
    syncs += counts.syncs;
  }
  return { bytesWritten, syncs };
}

interface Failover {
  /** Kill → a new leader known by a majority. */
  leader: number;
  /** Kill → a write through the new leader applied there. */
  write: number;
}

async function failover(cluster: ManagerCluster, round: number): Promise<Failover> {
  const old = await cluster.waitForLeader(30_000);
  await cluster.converged(30_000);
  const start = performance.now();
  await cluster.kill(old.id);
  let leader = await cluster.waitForLeader(30_000, old.id);
  const known = performance.now() - start;
  for (let attempt = 1; ; attempt++) {
    try {
      await leader.proposer.propose(nextUpdate(leader, round % SERVICES));
      break;
    } catch (err) {
      // Leadership moved again before the write committed: that is part of the failover, so go on through the
      // next leader.
      if (attempt === 5) throw err;
      leader = await cluster.waitForLeader(30_000, old.id);
    }
  }
  const write = performance.now() - start;
  await cluster.restart(old.id);
  await cluster.converged(30_000);
  return { leader: known, write };
}

function distribution(values: number[]): string[] {
  return [Math.min(...values), percentile(values, 50), percentile(values, 90), percentile(values, 99), Math.max(...values)].map((ms) => seconds(ms));
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-bench-raft-'));
  defer(`temp dir ${root}`, () => fs.rm(root, { recursive: true, force: true }));
  const cluster = await ManagerCluster.start({ tickMs: DEFAULT_TICK_MS, root });
  defer('the managers', () => cluster.stop());
  console.log(`raft: 3 managers in one process, data dirs under ${root}, tick ${DEFAULT_TICK_MS} ms, default Raft settings`);

  const first = await cluster.waitForLeader(10_000);
  await first.proposer.propose(initCommand(first.id));
  for (let slot = 0; slot < SERVICES; slot++) await first.proposer.propose(createService(slot, name(slot), realisticSpec(name(slot), 0)));
  const entryBytes = JSON.stringify({ request: 'r'.repeat(25), command: nextUpdate(first, 0) }).length;
  console.log(`raft: ${SERVICES} services; an update entry is ${entryBytes} bytes of JSON (its spec ${JSON.stringify(realisticSpec(name(0), 1)).length})`);

  // Throughput and latency.
  const pipelined = await proposeUpdates(cluster, UPDATES, IN_FLIGHT);
  const sequential = await proposeUpdates(cluster, SEQUENTIAL, 1);
  printTable(
    'raft commits through the leader: service updates, latency from propose() to applied on the leader',
    ['in flight', 'updates', 'per second', 'p50', 'p99', 'max', 'fsyncs per update (3 managers)', 'snapshots sent'],
    [pipelined, sequential].map((run, i) => [
      i === 0 ? IN_FLIGHT : 1,
      run.latencies.length,
      run.perSecond.toFixed(0),
      fmt(percentile(run.latencies, 50)),
      fmt(percentile(run.latencies, 99)),
      fmt(Math.max(...run.latencies)),
      (total(run.io).syncs / run.latencies.length).toFixed(2),
      run.snapshotsSent,
    ]),
  );
  summary(
    `raft commits: ${pipelined.perSecond.toFixed(0)} service updates/s with ${IN_FLIGHT} in flight (p50 ${fmt(percentile(pipelined.latencies, 50))}, ` +
      `p99 ${fmt(percentile(pipelined.latencies, 99))}); one at a time p50 ${fmt(percentile(sequential.latencies, 50))}, p99 ${fmt(percentile(sequential.latencies, 99))}`,
  );

  // Bytes per update at steady state: one update at a time, the worst case for batching.
  const steady = await proposeUpdates(cluster, STEADY_UPDATES, 1);
  const leaderId = cluster.leader()!.id;
  const rows = [...steady.io].map(([id, counts]) => [
    `${id}${id === leaderId ? ' (leader)' : ''}`,
    kilobytes(counts.bytesWritten / STEADY_UPDATES),
    (counts.syncs / STEADY_UPDATES).toFixed(2),
  ]);
  const steadyTotal = total(steady.io);
  rows.push(['all three', kilobytes(steadyTotal.bytesWritten / STEADY_UPDATES), (steadyTotal.syncs / STEADY_UPDATES).toFixed(2)]);
  const device = steady.deviceBytes === null ? 'n/a' : kilobytes(steady.deviceBytes / STEADY_UPDATES);
  rows.push(['all three, /proc/self/io write_bytes', device, '']);
  printTable(
    `raft write cost: ${STEADY_UPDATES} service updates one after another (${entryBytes}-byte entries, includes the snapshot every 1,000 entries)`,
    ['manager', 'bytes per update', 'fsyncs per update'],
    rows,
  );
  const worst = Math.max(...[...steady.io.values()].map((c) => c.bytesWritten)) / STEADY_UPDATES;
  summary(
    `raft write cost: ${kilobytes(worst)} per service update on the busiest manager (goal < 8 KB: ${verdict(worst < UPDATE_GOAL_BYTES)}), ` +
      `${kilobytes(steadyTotal.bytesWritten / STEADY_UPDATES)} over the three; ${(steadyTotal.syncs / STEADY_UPDATES / 3).toFixed(1)} fsyncs per manager; ` +
      `kernel write_bytes ${device} per update over the three`,
  );

  // Idle.
  await cluster.converged(10_000);
  const idleBefore = cluster.io();
  const idleDeviceBefore = processWriteBytes();
  const messagesBefore = cluster.hub.delivered;
  await sleep(IDLE_S * 1000);
  const idle = { bytes: cluster.io().bytesWritten - idleBefore.bytesWritten, syncs: cluster.io().syncs - idleBefore.syncs };
  const idleDeviceAfter = processWriteBytes();
  const perHour = (idle.bytes * 3600) / IDLE_S;
  const idleDevice = idleDeviceBefore === null || idleDeviceAfter === null ? 'n/a' : megabytes(((idleDeviceAfter - idleDeviceBefore) * 3600) / IDLE_S);
  printTable(
    `raft idle: 3 managers for ${IDLE_S} s, extrapolated to an hour`,
    ['bytes written', 'per hour', 'fsyncs per hour', 'kernel write_bytes per hour', 'messages per second'],
    [[idle.bytes, megabytes(perHour), ((idle.syncs * 3600) / IDLE_S).toFixed(0), idleDevice, ((cluster.hub.delivered - messagesBefore) / IDLE_S).toFixed(0)]],
  );
  summary(`raft idle writes: ${megabytes(perHour)}/h over 3 managers (goal < 1 MB/h: ${verdict(perHour < IDLE_GOAL_BYTES_PER_HOUR)}; ${idle.bytes} bytes in ${IDLE_S} s)`);

  // Failover.
  const failovers: Failover[] = [];
  for (let round = 0; round < FAILOVERS; round++) {
    failovers.push(await failover(cluster, round));
    if ((round + 1) % 10 === 0) console.log(`raft failover: ${round + 1}/${FAILOVERS}`);
  }
  const writes = failovers.map((f) => f.write);
  printTable(
    `raft failover: ${FAILOVERS} leader kills, time from the kill`,
    ['until', 'min', 'p50', 'p90', 'p99', 'max'],
    [
      ['a new leader is known by a majority', ...distribution(failovers.map((f) => f.leader))],
      ['a write through it is committed', ...distribution(writes)],
    ],
  );
  const over = writes.filter((ms) => ms >= FAILOVER_GOAL_MS).length;
  summary(
    `raft failover: ${FAILOVERS} leader kills, new leader + committed write in p50 ${seconds(percentile(writes, 50))}, ` +
      `p99 ${seconds(percentile(writes, 99))}, max ${seconds(Math.max(...writes))} (goal < 3 s: ${verdict(over === 0)}${over ? `, ${over} over` : ''})`,
  );
}

runBench('raft', main);
