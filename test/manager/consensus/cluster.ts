/**
 * A cluster of in-process managers for tests and benchmarks: each one is what the daemon runs — the pure
 * StateMachine behind a RaftProposer, a RaftDriver ticking on a real timer, DiskRaftStorage in its own data dir —
 * and they talk through a MemoryHub. Members can be killed (the driver stops where it is, nothing is closed
 * cleanly, the transport is gone), restarted from their data dir, cut off and healed.
 *
 * Every member starts from the identical bootstrap log (`bootstrapState(ids)`), as the first managers of a new
 * cluster do. Waiting is on conditions (a leader known by a majority, the same applied state everywhere), polled
 * every few milliseconds up to a deadline, never on a fixed sleep.
 */

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { RaftDriver } from '../../../src/manager/consensus/raft-driver.ts';
import { RaftProposer } from '../../../src/manager/consensus/raft-proposer.ts';
import { bootstrapState } from '../../../src/manager/raft/bootstrap.ts';
import type { RaftConfig } from '../../../src/manager/raft/config.ts';
import type { PersistedRaftState } from '../../../src/manager/raft/storage.ts';
import type { MemberId } from '../../../src/manager/raft/types.ts';
import type { ClusterState } from '../../../src/manager/state/cluster-state.ts';
import { StateMachine } from '../../../src/manager/state/state-machine.ts';
import type { IoCounts } from '../../../src/store/raft/io-stats.ts';
import { DiskRaftStorage } from '../../../src/store/raft/disk-raft-storage.ts';
import { seededRandom } from '../../../src/util/ids.ts';
import { silentLogger, type Logger } from '../../../src/util/logger.ts';
import { MemoryHub } from './hub.ts';
import { createService, initCommand } from './commands.ts';

export interface ClusterOptions {
  /** Number of managers, all voters. Default 3. */
  size?: number;
  /** Driver tick. Default 20 ms: elections take 200–400 ms instead of 1–2 s, so tests stay fast. */
  tickMs?: number;
  config?: Partial<RaftConfig>;
  snapshotEvery?: number;
  /** Log segment size; small values make compaction visible on disk. */
  segmentBytes?: number;
  /** Seeds the election timeouts and request IDs (per member and incarnation). Default 1. */
  seed?: number;
  /** Where the data dirs go. Default: a new directory under the OS temp dir, removed by stop(). */
  root?: string;
  log?: Logger;
}

/** One manager: its storage, driver and proposer as the daemon wires them (src/manager/manager.ts). */
export class Member {
  readonly id: MemberId;
  readonly dataDir: string;
  readonly storage: DiskRaftStorage;
  readonly driver: RaftDriver;
  readonly proposer: RaftProposer;
  running = false;

  constructor(id: MemberId, dataDir: string, storage: DiskRaftStorage, driver: RaftDriver, proposer: RaftProposer) {
    this.id = id;
    this.dataDir = dataDir;
    this.storage = storage;
    this.driver = driver;
    this.proposer = proposer;
  }

  get node() {
    return this.driver.node;
  }

  get state(): ClusterState {
    return this.proposer.state;
  }
}

const POLL_MS = 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class ManagerCluster {
  readonly ids: MemberId[];
  readonly hub = new MemoryHub();
  readonly root: string;
  private readonly options: Required<Omit<ClusterOptions, 'root' | 'config'>> & { config: Partial<RaftConfig> };
  private readonly members = new Map<MemberId, Member>();
  private readonly incarnations = new Map<MemberId, number>();
  /** Every storage ever opened, for I/O totals and so that killed ones are closed at the end. */
  private readonly storages: DiskRaftStorage[] = [];
  private readonly ownsRoot: boolean;
  /**
   * The drivers' and proposers' timers do not keep the process alive (the daemon's sockets do): this stands in
   * for those sockets until stop(), so a test waiting on a timeout is not cut short by an empty event loop.
   */
  private readonly keepAlive = setInterval(() => {}, 60_000);

  private constructor(root: string, ownsRoot: boolean, options: ClusterOptions) {
    this.root = root;
    this.ownsRoot = ownsRoot;
    this.options = {
      size: 3,
      tickMs: 20,
      snapshotEvery: 1_000,
      segmentBytes: 1024 * 1024,
      seed: 1,
      log: silentLogger,
      ...options,
      config: options.config ?? {},
    };
    this.ids = Array.from({ length: this.options.size }, (_, i) => `m${i + 1}`);
  }

  /** Writes the bootstrap log to every member's storage and starts them all. */
  static async start(options: ClusterOptions = {}): Promise<ManagerCluster> {
    const root = options.root ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-cluster-')));
    const cluster = new ManagerCluster(root, options.root === undefined, options);
    const initial = bootstrapState(cluster.ids);
    for (const id of cluster.ids) {
      const storage = cluster.openStorage(id);
      await storage.load();
      await storage.save({ hardState: initial.hardState, entries: initial.entries });
      cluster.launch(id, storage, structuredClone(initial));
    }
    return cluster;
  }

  member(id: MemberId): Member {
    const member = this.members.get(id);
    if (!member) throw new Error(`no member ${id}`);
    return member;
  }

  get running(): Member[] {
    return [...this.members.values()].filter((m) => m.running);
  }

  /** The running leader that a majority of the voters follows, if there is one now. */
  leader(): Member | undefined {
    const majority = Math.floor(this.ids.length / 2) + 1;
    for (const candidate of this.running) {
      if (candidate.node.role !== 'leader') continue;
      const followers = this.running.filter((m) => m.node.leader === candidate.id && m.node.term === candidate.node.term);
      if (followers.length >= majority) return candidate;
    }
    return undefined;
  }

  /** A leader known by a majority, other than `not` (the one just killed or cut off). */
  async waitForLeader(timeoutMs = 5_000, not?: MemberId): Promise<Member> {
    let found: Member | undefined;
    await this.waitUntil(() => {
      found = this.leader();
      return found !== undefined && found.id !== not;
    }, timeoutMs, `a leader${not ? ` other than ${not}` : ''} known by a majority`);
    return found!;
  }

  /** Some running member that is not the leader. */
  follower(): Member {
    const leader = this.leader();
    const follower = this.running.find((m) => m !== leader);
    if (!follower) throw new Error('no running follower');
    return follower;
  }

  /**
   * Resolves once every running member (or `which`) has applied everything the leader committed and holds the
   * same state; returns that state.
   */
  async converged(timeoutMs = 5_000, which: MemberId[] = this.running.map((m) => m.id)): Promise<ClusterState> {
    const members = which.map((id) => this.member(id));
    await this.waitUntil(() => {
      const leader = this.leader();
      if (!leader) return false;
      const commit = leader.node.status().commit;
      // Until a new leader commits an entry of its own term, its commit index can be the lazily stored one, far
      // behind what the cluster had committed: equal states then would be equally stale.
      if (leader.node.log.term(commit) !== leader.node.term) return false;
      if (members.some((m) => !m.running || m.node.status().applied < commit || m.node.leader !== leader.id)) return false;
      return members.every((m) => isDeepStrictEqual(m.state, leader.state));
    }, timeoutMs, `${which.join(', ')} to apply the same state as the leader`);
    return structuredClone(members[0]!.state);
  }

  async waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!condition()) {
      if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${this.describe()}`);
      await sleep(POLL_MS);
    }
  }

  /**
   * Stops a member as a crash would: its timer and transport are gone and its callers are failed; a write
   * already handed to storage completes (the kernel has it), nothing after it happens, nothing is closed.
   */
  async kill(id: MemberId): Promise<void> {
    const member = this.member(id);
    if (!member.running) return;
    member.running = false;
    await member.driver.stop();
    member.proposer.abandon(`manager ${id} was killed`);
  }

  /**
   * Stops a member as the daemon does on shutdown (src/manager/manager.ts): a leader hands over first, and
   * storage records its commit.
   */
  async stopMember(id: MemberId): Promise<void> {
    const member = this.member(id);
    if (!member.running) return;
    await member.driver.handOffLeadership();
    await this.kill(id);
    await member.storage.close();
  }

  /** A new driver over a new storage object loaded from the member's data dir. */
  async restart(id: MemberId): Promise<Member> {
    if (this.member(id).running) throw new Error(`${id} is running`);
    const storage = this.openStorage(id);
    return this.launch(id, storage, await storage.load());
  }

  isolate(id: MemberId, cut: 'both' | 'inbound' = 'both'): void {
    this.hub.isolate(id, cut);
  }

  heal(id: MemberId): void {
    this.hub.heal(id);
  }

  /** Bytes written and barriers issued by every storage this cluster opened. */
  io(): IoCounts {
    let bytesWritten = 0;
    let syncs = 0;
    for (const s of this.storages) {
      bytesWritten += s.stats.bytesWritten;
      syncs += s.stats.syncs;
    }
    return { bytesWritten, syncs };
  }

  /** Stops every member and closes every storage ever opened; removes the data dirs it made. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.keepAlive);
    for (const member of this.running) await this.stopMember(member.id);
    for (const storage of this.storages.splice(0)) await storage.close().catch(() => undefined);
    if (this.ownsRoot) await fs.rm(this.root, { recursive: true, force: true });
  }

  /** One line per member, for timeout messages. */
  describe(): string {
    return [...this.members.values()]
      .map((m) => {
        const s = m.node.status();
        return `  ${m.id}: ${m.running ? s.role : 'down'} term ${s.term} leader ${s.leader || '-'} commit ${s.commit} applied ${s.applied} last ${s.lastIndex} snapshot ${s.snapshotIndex}`;
      })
      .join('\n');
  }

  private openStorage(id: MemberId): DiskRaftStorage {
    const storage = new DiskRaftStorage({ dataDir: path.join(this.root, id), log: this.options.log, segmentBytes: this.options.segmentBytes });
    this.storages.push(storage);
    return storage;
  }

  private launch(id: MemberId, storage: DiskRaftStorage, persisted: PersistedRaftState): Member {
    const incarnation = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, incarnation);
    // Distinct per member and per life, so that request IDs never repeat across restarts.
    const seed = this.options.seed * 1_000_003 + this.ids.indexOf(id) * 1_009 + incarnation;
    const { log, tickMs, snapshotEvery, config } = this.options;
    const proposer = new RaftProposer(new StateMachine(), seededRandom(seed), log);
    const driver = new RaftDriver({
      id,
      storage,
      persisted,
      transport: this.hub.transport(id),
      machine: proposer,
      random: seededRandom(seed ^ 0x5bd1e995),
      log,
      config,
      tickMs,
      snapshotEvery,
    });
    proposer.attach(driver);
    const member = new Member(id, path.join(this.root, id), storage, driver, proposer);
    this.members.set(id, member);
    driver.start();
    member.running = true;
    return member;
  }
}

/** A started cluster whose swarm exists, with services 1..`services`, all members converged: where tests begin. */
export async function startSwarm(options: ClusterOptions = {}, services = 0): Promise<ManagerCluster> {
  const cluster = await ManagerCluster.start(options);
  const leader = await cluster.waitForLeader();
  await leader.proposer.propose(initCommand());
  for (let n = 1; n <= services; n++) await leader.proposer.propose(createService(n));
  await cluster.converged();
  return cluster;
}
