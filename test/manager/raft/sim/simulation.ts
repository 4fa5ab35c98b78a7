/**
 * A deterministic simulation of a Raft cluster in one process. Every source of nondeterminism — network delays,
 * loss, duplication, partitions, crashes, fsync latency, clock rates, membership churn, client choices, election
 * timeouts — is drawn from one seed, so a failing run is replayed exactly by its seed and profile. Each member is
 * driven the way the real driver must drive the core: persist (with fsync latency) → send → apply → advance; the
 * core keeps taking messages and ticks while a write is in flight. Invariants are checked after every event.
 */

import type { RaftFaults } from '../../../../src/manager/raft/config.ts';
import { bootstrapState, emptyState } from '../../../../src/manager/raft/bootstrap.ts';
import type { PersistedRaftState } from '../../../../src/manager/raft/storage.ts';
import { RaftError } from '../../../../src/manager/raft/errors.ts';
import { RaftNode } from '../../../../src/manager/raft/raft.ts';
import type { Ready } from '../../../../src/manager/raft/ready.ts';
import type { ConfChange, MemberId, Message } from '../../../../src/manager/raft/types.ts';
import { seededRandom } from '../../../../src/util/ids.ts';
import { EventQueue } from './event-queue.ts';
import type { History, HistoryOp } from './history.ts';
import { Invariants, InvariantViolation } from './invariants.ts';
import { isKvCommand, KvStore } from './kv.ts';
import type { KvCommand, KvData } from './kv.ts';
import { MemoryRaftStorage } from './memory-storage.ts';
import type { SimProfile } from './profiles.ts';
import { Rng } from './rng.ts';

type SimEvent =
  | { kind: 'tick'; node: MemberId; epoch: number }
  | { kind: 'deliver'; wire: string; to: MemberId }
  | { kind: 'persisted'; node: MemberId; epoch: number }
  | { kind: 'crash' }
  | { kind: 'restart'; node: MemberId }
  | { kind: 'partition' }
  | { kind: 'heal' }
  | { kind: 'client'; slot: number }
  | { kind: 'timeout'; op: number }
  | { kind: 'churn' }
  | { kind: 'calm-down' };

interface SimMember {
  id: MemberId;
  raft: RaftNode | null;
  storage: MemoryRaftStorage;
  kv: KvStore;
  appliedIndex: number;
  tickMs: number;
  /** Bumped by every crash, so events scheduled before it are ignored. */
  epoch: number;
  /** The Ready being persisted, if any. */
  writing: Ready | null;
  /** Reads confirmed by Raft, waiting for the state machine to catch up. */
  readWaits: { index: number; context: string }[];
}

interface PendingOp {
  id: number;
  slot: number;
  member: MemberId;
  record: HistoryOp;
  /** For reads: the highest index known committed anywhere when the read began. */
  commitAtInvoke: number;
  command?: KvCommand;
}

export interface SimOptions {
  seed: number;
  profile: SimProfile;
  faults?: RaftFaults;
  /** Lines of transcript kept for a failure report. */
  transcriptLines?: number;
  /**
   * Whether reads are checked against the commit index as they are served (the stale-read invariant). Off, a
   * stale read surfaces only in the client history: how the linearizability checker is shown to catch one.
   */
  checkReads?: boolean;
}

export interface SimStats {
  events: number;
  delivered: number;
  elections: number;
  maxTerm: number;
  committed: number;
  crashes: number;
  partitions: number;
  snapshotsSent: number;
  /** Membership changes proposed by the churn, and those refused by the leader (pending change, learner behind). */
  confChanges: number;
  confChangesRefused: number;
  ops: { ok: number; fail: number; unknown: number };
}

export interface SimResult {
  seed: number;
  profile: string;
  ok: boolean;
  violation?: string;
  /** The last events before the end (or the violation), to read alongside the seed. */
  transcript: string[];
  history: History;
  stats: SimStats;
}

export class Simulation {
  readonly seed: number;
  readonly profile: SimProfile;
  private readonly rng: Rng;
  private readonly faults: RaftFaults;
  private readonly queue = new EventQueue<SimEvent>();
  private readonly members = new Map<MemberId, SimMember>();
  /** The members running now, in the order they joined; a member removed by the churn stays until decommissioned. */
  private ids: MemberId[];
  private nextMember: number;
  /** Members the churn has seen in a leader's configuration, and when each joining one was proposed. */
  private readonly everMember = new Set<MemberId>();
  private readonly joinedAt = new Map<MemberId, number>();
  readonly invariants = new Invariants();
  private now = 0;
  /** Directed links that lose everything: "from->to". */
  private blocked = new Set<string>();
  private faulty = true;
  private readonly transcript: string[] = [];
  private readonly transcriptLines: number;
  private readonly history: History = [];
  private readonly pending = new Map<number, PendingOp>();
  private nextOp = 1;
  private nextProcess = 0;
  private readonly slotProcess: number[] = [];
  /** The last value clients learned for each key, so compare-and-sets expect something plausible and often swap. */
  private readonly lastSeen = new Map<string, string | null>();
  private readonly checkReads: boolean;
  private lastRoles = new Map<MemberId, string>();
  readonly stats: SimStats = {
    events: 0,
    delivered: 0,
    elections: 0,
    maxTerm: 0,
    committed: 0,
    crashes: 0,
    partitions: 0,
    snapshotsSent: 0,
    confChanges: 0,
    confChangesRefused: 0,
    ops: { ok: 0, fail: 0, unknown: 0 },
  };

  constructor(options: SimOptions) {
    this.seed = options.seed;
    this.profile = options.profile;
    this.faults = options.faults ?? {};
    this.transcriptLines = options.transcriptLines ?? 300;
    this.checkReads = options.checkReads ?? true;
    this.rng = new Rng(options.seed);
    const voters = this.profile.voters ?? this.profile.nodes;
    this.ids = [];
    this.nextMember = voters + 1;
    const initial = bootstrapState(Array.from({ length: voters }, (_, i) => `m${i + 1}`));
    for (let i = 1; i <= voters; i++) this.addMember(`m${i}`, initial);
    for (let slot = 0; slot < this.profile.clients; slot++) {
      this.slotProcess[slot] = this.nextProcess++;
      this.queue.push(this.rng.range(0, 500), { kind: 'client', slot });
    }
    if (this.profile.partitionEveryMs > 0) this.queue.push(this.rng.exp(this.profile.partitionEveryMs), { kind: 'partition' });
    if (this.profile.crashEveryMs > 0) this.queue.push(this.rng.exp(this.profile.crashEveryMs), { kind: 'crash' });
    if ((this.profile.churnEveryMs ?? 0) > 0) this.queue.push(this.rng.exp(this.profile.churnEveryMs!), { kind: 'churn' });
    this.queue.push(this.profile.durationMs, { kind: 'calm-down' });
  }

  /** Runs the whole scenario: faults, then healing and a convergence check. Never throws; see `ok`. */
  run(): SimResult {
    try {
      const end = this.profile.durationMs + this.profile.settleMs;
      this.runUntil(end);
      this.checkConvergence();
      return this.result();
    } catch (err) {
      const message = err instanceof InvariantViolation ? err.message : `crash of the simulation itself: ${err instanceof Error ? err.stack : String(err)}`;
      this.log(`VIOLATION ${message}`);
      return this.result(message);
    }
  }

  private result(violation?: string): SimResult {
    return {
      seed: this.seed,
      profile: this.profile.name,
      ok: violation === undefined,
      ...(violation === undefined ? {} : { violation }),
      transcript: this.transcript.slice(),
      history: this.history,
      stats: this.stats,
    };
  }

  private runUntil(end: number): void {
    for (;;) {
      const due = this.queue.peekTime();
      if (due === undefined || due > end) {
        this.now = end;
        return;
      }
      const next = this.queue.pop()!;
      this.now = next.at;
      this.stats.events++;
      this.handle(next.event);
      this.observe();
    }
  }

  private handle(ev: SimEvent): void {
    switch (ev.kind) {
      case 'tick': {
        const m = this.members.get(ev.node);
        if (!m || m.epoch !== ev.epoch || !m.raft) return;
        m.raft.tick();
        this.pump(m);
        this.queue.push(this.now + m.tickMs, ev);
        return;
      }
      case 'deliver': {
        const m = this.members.get(ev.to);
        if (!m?.raft) return;
        this.stats.delivered++;
        const msg = JSON.parse(ev.wire) as Message;
        if (msg.type !== 'heartbeat' && msg.type !== 'heartbeat-response') this.log(`${msg.from}->${msg.to} ${describe(msg)}`);
        m.raft.step(msg);
        this.pump(m);
        return;
      }
      case 'persisted': {
        const m = this.members.get(ev.node);
        if (!m || m.epoch !== ev.epoch || !m.writing) return;
        const rd = m.writing;
        m.writing = null;
        m.storage.sync();
        this.finish(m, rd);
        return;
      }
      case 'crash':
        return this.crashSomeone();
      case 'restart': {
        const m = this.members.get(ev.node);
        if (m && !m.raft) this.start(m);
        return;
      }
      case 'partition':
        return this.partition();
      case 'heal':
        if (this.blocked.size > 0) this.log('heal');
        this.blocked.clear();
        return;
      case 'client':
        return this.invoke(ev.slot);
      case 'timeout': {
        const op = this.pending.get(ev.op);
        if (op) this.complete(op, 'unknown', null, 'timeout');
        return;
      }
      case 'churn':
        return this.churn();
      case 'calm-down':
        this.faulty = false;
        this.blocked.clear();
        this.log('faults stop; healing');
        for (const m of this.members.values()) if (!m.raft) this.start(m);
        return;
    }
  }

  // ---- the driver: persist → send → apply → advance ----------------------------------------------------

  private pump(m: SimMember): void {
    while (m.raft && !m.writing && m.raft.hasReady()) {
      const rd = m.raft.ready();
      this.invariants.onPersist(m.id, rd.entries, m.raft);
      m.storage.write({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), ...(rd.snapshot ? { snapshot: rd.snapshot } : {}) });
      if (rd.softState) this.log(`${m.id} is ${rd.softState.role} (leader ${rd.softState.leader || 'unknown'}) term ${m.raft.term}`);
      if (rd.mustSync) {
        m.writing = rd;
        this.queue.push(this.now + this.rng.range(0, this.profile.diskLatencyMs), { kind: 'persisted', node: m.id, epoch: m.epoch });
        return;
      }
      this.finish(m, rd);
    }
  }

  private finish(m: SimMember, rd: Ready): void {
    const raft = m.raft!;
    for (const msg of rd.messages) {
      if (msg.type === 'vote') this.invariants.onVote(msg.from, msg.term, msg.from);
      if (msg.type === 'vote-response' && !msg.reject) this.invariants.onVote(msg.from, msg.term, msg.to);
      this.send(msg);
    }
    if (rd.snapshot) {
      m.kv = new KvStore(rd.snapshot.data as KvData);
      m.appliedIndex = rd.snapshot.metadata.index;
      this.log(`${m.id} restores snapshot at ${m.appliedIndex}`);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== m.appliedIndex + 1) throw new InvariantViolation(`${m.id} applies ${e.index} after ${m.appliedIndex}`);
      this.invariants.onApply(m.id, e);
      m.appliedIndex = e.index;
      if (isKvCommand(e.data)) {
        const result = m.kv.apply(e.data);
        for (const op of this.pending.values()) {
          if (op.member === m.id && op.command?.id === e.data.id) this.complete(op, result.ok ? 'ok' : 'fail', null, result.ok ? undefined : 'mismatch');
        }
      }
    }
    m.readWaits.push(...rd.readStates);
    this.serveReads(m);
    raft.advance(rd);
    const p = this.profile;
    if (p.compactEvery > 0 && raft.log.applied - raft.log.snapshotIndex >= p.compactEvery) {
      const snap = raft.compact(raft.log.applied, m.kv.snapshot());
      m.storage.write({ entries: [], snapshot: snap });
      m.storage.writeCompact(snap.metadata.index);
    }
    this.pump(m);
  }

  private send(msg: Message): void {
    if (msg.type === 'snapshot') this.stats.snapshotsSent++;
    if (this.blocked.has(`${msg.from}->${msg.to}`)) return;
    const p = this.profile;
    if (this.faulty && this.rng.chance(p.dropRate)) return;
    const wire = JSON.stringify(msg);
    const copies = this.faulty && this.rng.chance(p.duplicateRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay = this.rng.range(p.minDelayMs, p.maxDelayMs);
      if (this.faulty && this.rng.chance(p.reorderRate)) delay += this.rng.range(0, p.longDelayMs);
      this.queue.push(this.now + delay, { kind: 'deliver', wire, to: msg.to });
    }
  }

  private start(m: SimMember): void {
    const durable = m.storage.durableState();
    try {
      const config = { ...this.profile.config, faults: this.faults };
      m.raft = new RaftNode({ id: m.id, random: seededRandom(this.rng.fork()), storage: durable, config });
    } catch (err) {
      throw new InvariantViolation(`${m.id} cannot restart from what it persisted: ${err instanceof Error ? err.message : String(err)}`);
    }
    m.kv = new KvStore(durable.snapshot?.data as KvData | undefined);
    m.appliedIndex = durable.snapshot?.metadata.index ?? 0;
    m.writing = null;
    m.readWaits = [];
    this.invariants.onRestart(m.id, m.raft);
    this.log(`${m.id} starts: term ${durable.hardState.term} vote ${durable.hardState.vote || '-'} commit ${durable.hardState.commit} last ${m.raft.log.lastIndex()}`);
    this.queue.push(this.now + this.rng.range(0, m.tickMs), { kind: 'tick', node: m.id, epoch: m.epoch });
    this.pump(m);
  }

  /** A new machine: fresh storage (the cluster's first state, or nothing for one that joins), its own clock rate. */
  private addMember(id: MemberId, state: PersistedRaftState): SimMember {
    const storage = new MemoryRaftStorage(state);
    const tickMs = this.profile.tickMs * this.rng.range(1 / this.profile.skew, this.profile.skew);
    const member: SimMember = { id, raft: null, storage, kv: new KvStore(), appliedIndex: 0, tickMs, epoch: 0, writing: null, readWaits: [] };
    this.members.set(id, member);
    this.ids.push(id);
    this.start(member);
    return member;
  }

  // ---- faults --------------------------------------------------------------------------------------------

  /**
   * Membership churn, made the way an operator makes it, during the faults: a new machine joins as a learner, a
   * learner is promoted once the leader lets it, a voter (the leader itself, sometimes) or a learner is removed.
   * A removed member keeps running, knowing it or not, until its machine is needed: then it is decommissioned.
   * A machine that joins again is a new member with a new id, as a Swarm node that leaves and rejoins is.
   */
  private churn(): void {
    if (!this.faulty) return;
    const p = this.profile;
    this.queue.push(this.now + this.rng.exp(p.churnEveryMs!), { kind: 'churn' });
    const leader = [...this.members.values()].find((m) => m.raft?.role === 'leader');
    if (!leader) return;
    const { voters, learners } = leader.raft!.conf;
    for (const id of [...voters, ...learners]) this.everMember.add(id);
    const changes: ConfChange[] = learners.flatMap((member) => [
      { type: 'promote', member },
      { type: 'remove', member },
    ]);
    if (voters.length + learners.length < p.nodes) changes.push({ type: 'add-learner', member: `m${this.nextMember}` });
    if (voters.length > (p.voters ?? p.nodes)) for (const member of voters) changes.push({ type: 'remove', member });
    if (changes.length === 0) return;
    const cc = this.rng.pick(changes);
    this.stats.confChanges++;
    try {
      leader.raft!.proposeConfChange(cc);
    } catch (err) {
      if (!(err instanceof RaftError)) throw err;
      this.stats.confChangesRefused++;
      this.log(`churn: ${leader.id} refuses ${cc.type} ${cc.member} (${err.reason})`);
      return;
    }
    this.log(`churn: ${leader.id} proposes ${cc.type} ${cc.member}`);
    if (cc.type === 'add-learner') {
      this.decommissionZombies(new Set([...voters, ...learners]));
      this.nextMember++;
      this.joinedAt.set(cc.member, this.now);
      this.addMember(cc.member, emptyState());
    }
    this.pump(leader);
  }

  /**
   * Stops for good the machines of members out of the cluster — removed, or whose joining was lost long ago — so
   * that at most `nodes` + 1 machines run. Only members the leader's configuration leaves out are candidates.
   */
  private decommissionZombies(inCluster: Set<MemberId>): void {
    const zombies = this.ids.filter((id) => !inCluster.has(id) && (this.everMember.has(id) || this.now - (this.joinedAt.get(id) ?? 0) > 10_000));
    while (this.ids.length > this.profile.nodes && zombies.length > 0) {
      const m = this.members.get(zombies.shift()!)!;
      m.raft = null;
      m.epoch++;
      this.members.delete(m.id);
      this.ids = this.ids.filter((id) => id !== m.id);
      this.log(`churn: ${m.id} decommissioned`);
      for (const op of [...this.pending.values()]) if (op.member === m.id) this.complete(op, 'unknown', null, 'decommissioned');
    }
  }

  private crashSomeone(): void {
    if (!this.faulty) return;
    this.queue.push(this.now + this.rng.exp(this.profile.crashEveryMs), { kind: 'crash' });
    const alive = [...this.members.values()].filter((m) => m.raft);
    if (alive.length === 0) return;
    // Leaders are crashed more often than their share: their failures are the interesting ones.
    const leader = alive.find((m) => m.raft!.role === 'leader');
    const m = leader && this.rng.chance(0.4) ? leader : this.rng.pick(alive);
    m.raft = null;
    m.epoch++;
    m.writing = null;
    m.storage.crash();
    this.stats.crashes++;
    this.log(`CRASH ${m.id} (unsynced writes lost)`);
    for (const op of [...this.pending.values()]) if (op.member === m.id) this.complete(op, 'unknown', null, 'crashed');
    this.queue.push(this.now + this.rng.exp(this.profile.downMs), { kind: 'restart', node: m.id });
  }

  private partition(): void {
    if (!this.faulty) return;
    this.queue.push(this.now + this.rng.exp(this.profile.partitionEveryMs), { kind: 'partition' });
    this.blocked.clear();
    const ids = this.ids;
    const kind = this.rng.int(3);
    if (kind === 0) {
      // Symmetric split into a minority and a majority (or two equal halves).
      const shuffled = [...ids];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = this.rng.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
      }
      const cut = 1 + this.rng.int(Math.floor(ids.length / 2));
      const side = new Set(shuffled.slice(0, cut));
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) this.blocked.add(`${a}->${b}`);
      this.log(`PARTITION {${[...side].join(',')}} | rest`);
    } else if (kind === 1) {
      // The leader cut off from everyone, the classic case for a new election.
      const leader = [...this.members.values()].find((m) => m.raft?.role === 'leader')?.id ?? this.rng.pick(ids);
      for (const b of ids) if (b !== leader) this.blocked.add(`${leader}->${b}`).add(`${b}->${leader}`);
      this.log(`PARTITION isolate ${leader}`);
    } else {
      // One-way losses: a member hears but is not heard (or the reverse).
      const links = 1 + this.rng.int(ids.length);
      for (let i = 0; i < links; i++) {
        const a = this.rng.pick(ids);
        const b = this.rng.pick(ids);
        if (a !== b) this.blocked.add(`${a}->${b}`);
      }
      this.log(`PARTITION one-way ${[...this.blocked].join(' ')}`);
    }
    this.stats.partitions++;
    this.queue.push(this.now + this.rng.exp(this.profile.partitionMs), { kind: 'heal' });
  }

  // ---- the key-value workload ----------------------------------------------------------------------------

  private invoke(slot: number): void {
    if (!this.faulty) return;
    const p = this.profile;
    const member = this.members.get(this.rng.pick(this.ids))!;
    const key = `k${this.rng.int(p.keys)}`;
    const roll = this.rng.next();
    const id = this.nextOp++;
    const process = this.slotProcess[slot];
    const base = { process, key, invokeTime: this.now, completeTime: null, result: 'unknown' as const };
    let record: HistoryOp;
    let command: KvCommand | undefined;
    if (roll < p.readRatio) {
      record = { ...base, op: 'read' };
    } else if (roll < p.readRatio + p.casRatio) {
      // Mostly the value last seen (a read-modify-write), sometimes a stale or never-written one (a lost race).
      const guess = this.rng.next();
      const expected = guess < 0.6 ? (this.lastSeen.get(key) ?? null) : guess < 0.8 ? null : `v${this.rng.int(Math.max(1, id))}`;
      record = { ...base, op: 'cas', expected, new: `v${id}` };
      command = { id: `op${id}`, op: 'cas', key, expected, new: `v${id}` };
    } else {
      record = { ...base, op: 'write', value: `v${id}` };
      command = { id: `op${id}`, op: 'write', key, value: `v${id}` };
    }
    this.history.push(record);
    const op: PendingOp = { id, slot, member: member.id, record, commitAtInvoke: this.invariants.maxCommit, ...(command ? { command } : {}) };
    this.pending.set(id, op);
    this.log(`client p${process} ${record.op} ${key} via ${member.id} (op${id})`);
    if (!member.raft) return this.complete(op, 'fail', null, 'down');
    try {
      if (command) member.raft.propose(command);
      else member.raft.readIndex(`op${id}`);
    } catch (err) {
      if (err instanceof RaftError) return this.complete(op, 'fail', null, err.reason);
      throw err;
    }
    this.queue.push(this.now + p.opTimeoutMs, { kind: 'timeout', op: id });
    this.pump(member);
  }

  private serveReads(m: SimMember): void {
    const waiting: typeof m.readWaits = [];
    for (const rs of m.readWaits) {
      if (rs.index > m.appliedIndex) {
        waiting.push(rs);
        continue;
      }
      const op = this.pending.get(Number(rs.context.slice(2)));
      if (!op || op.member !== m.id || op.record.op !== 'read') continue;
      if (this.checkReads) this.invariants.onRead(m.id, rs.context, rs.index, op.commitAtInvoke);
      this.complete(op, 'ok', m.kv.read(op.record.key));
    }
    m.readWaits = waiting;
  }

  private complete(op: PendingOp, result: HistoryOp['result'], value: string | null, error?: string): void {
    this.pending.delete(op.id);
    const r = op.record;
    r.result = result;
    if (result !== 'unknown') r.completeTime = this.now;
    if (r.op === 'read' && result === 'ok') r.value = value;
    if (result === 'ok') this.lastSeen.set(r.key, r.op === 'read' ? value : r.op === 'write' ? r.value! : r.new!);
    if (error !== undefined) r.error = error;
    this.stats.ops[result]++;
    this.log(`client p${r.process} op${op.id} ${result}${error ? ` (${error})` : ''}${r.op === 'read' && result === 'ok' ? ` = ${value}` : ''}`);
    // A process whose operation's fate is unknown may still be running it: its next operation is another process's.
    if (result === 'unknown') this.slotProcess[op.slot] = this.nextProcess++;
    this.queue.push(this.now + this.rng.exp(this.profile.thinkMs), { kind: 'client', slot: op.slot });
  }

  // ---- observation -----------------------------------------------------------------------------------------

  private observe(): void {
    const nodes = [...this.members.values()].map((m) => ({ id: m.id, raft: m.raft, durable: m.storage.durableView() }));
    this.invariants.afterEvent(nodes);
    for (const m of this.members.values()) {
      if (!m.raft) continue;
      const role = `${m.raft.role}@${m.raft.term}`;
      if (this.lastRoles.get(m.id) !== role) {
        if (m.raft.role === 'leader') this.stats.elections++;
        this.lastRoles.set(m.id, role);
      }
      if (m.raft.term > this.stats.maxTerm) this.stats.maxTerm = m.raft.term;
    }
    this.stats.committed = this.invariants.maxCommit;
  }

  /**
   * After healing, within a grace period: a leader is elected, a last write commits, and every member of its
   * configuration holds every committed entry. A grace period, not an instant: under the hunt profiles' tiny
   * election timeouts and skewed clocks leaders come and go on a healthy network too, and an election may be
   * under way at any given moment. The write is proposed again to each new leader (it is applied once).
   */
  private checkConvergence(): void {
    const final: KvCommand = { id: 'final', op: 'write', key: 'final', value: 'done' };
    const graceMs = 5_000;
    const deadline = this.now + graceMs;
    // Members the churn removed are out of the cluster: only the final configuration must converge.
    const inCluster = (leader: SimMember) => [...this.members.values()].filter((m) => leader.raft!.conf.voters.includes(m.id) || leader.raft!.conf.learners.includes(m.id));
    let proposedTo: SimMember | undefined;
    for (;;) {
      const leader = [...this.members.values()].find((m) => m.raft?.role === 'leader');
      if (leader && leader !== proposedTo) {
        proposedTo = leader;
        try {
          leader.raft!.propose(final);
        } catch (err) {
          if (!(err instanceof RaftError)) throw err;
          proposedTo = undefined;
        }
        this.pump(leader);
      }
      const converged = leader !== undefined && inCluster(leader).every((m) => m.kv.read('final') === 'done' && m.appliedIndex === leader.appliedIndex);
      if (converged || this.now >= deadline) {
        if (!leader) throw new InvariantViolation(`liveness: no leader ${this.profile.settleMs + graceMs} ms after the cluster healed`);
        this.invariants.checkConverged(inCluster(leader).map((m) => ({ id: m.id, applied: m.appliedIndex, digest: m.kv.digest() })));
        return;
      }
      this.runUntil(this.now + 100);
    }
  }

  private log(line: string): void {
    this.transcript.push(`${this.now.toFixed(1).padStart(9)} ${line}`);
    if (this.transcript.length > this.transcriptLines) this.transcript.shift();
  }
}

function describe(m: Message): string {
  const parts = [`${m.type} t${m.term}`];
  if (m.index !== undefined) parts.push(`i${m.index}`);
  if (m.logTerm !== undefined) parts.push(`lt${m.logTerm}`);
  if (m.entries?.length) parts.push(`+${m.entries.length}[${m.entries[0].index}..${m.entries.at(-1)!.index}]`);
  if (m.commit !== undefined) parts.push(`c${m.commit}`);
  if (m.reject) parts.push(`REJECT hint ${m.rejectHint ?? '-'}/${m.rejectTerm ?? '-'}`);
  if (m.snapshot) parts.push(`snap@${m.snapshot.metadata.index}`);
  if (m.context !== undefined) parts.push(`ctx ${m.context}`);
  return parts.join(' ');
}

/** Runs one seed. */
export function simulate(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

/**
 * Client histories for the linearizability checker (test/support/linearizability/): a key-value workload with
 * reads, writes and compare-and-set sent to leaders and followers alike, under the profile's faults. The run's
 * own invariants are reported too, so a caller can tell a history from a broken run apart.
 */
export function kvHistory(seed: number, profile: SimProfile, faults: RaftFaults = {}): { history: History; ok: boolean; violation?: string } {
  const r = simulate({ seed, profile, faults });
  return { history: r.history, ok: r.ok, ...(r.violation === undefined ? {} : { violation: r.violation }) };
}
