/**
 * A synchronous network of Raft cores for scenario tests, in the spirit of etcd's test network: messages are
 * delivered in order until the cluster is quiet, links can be cut, members isolated, and every Ready is persisted
 * (instantly) before its messages go out. Nothing here is random except each core's election timeout.
 */

import { RaftNode } from '../../../../src/manager/raft/raft.ts';
import type { RaftOptions } from '../../../../src/manager/raft/raft.ts';
import type { PersistedRaftState } from '../../../../src/manager/raft/storage.ts';
import type { Entry, MemberId, Message, ReadState } from '../../../../src/manager/raft/types.ts';
import { seededRandom } from '../../../../src/util/ids.ts';
import { MemoryRaftStorage } from '../sim/memory-storage.ts';

export interface MemberSetup {
  id: MemberId;
  storage: PersistedRaftState;
}

/** A persisted state with explicit entries and a configuration held in a snapshot at index 0 (figure-style logs). */
export function stateWithLog(voters: MemberId[], terms: number[], hard: { term?: number; vote?: MemberId; commit?: number } = {}): PersistedRaftState {
  const entries: Entry[] = terms.map((term, i) => ({ term, index: i + 1, type: 'normal', data: `t${term}i${i + 1}` }));
  return {
    hardState: { term: hard.term ?? terms.at(-1) ?? 0, vote: hard.vote ?? '', commit: hard.commit ?? 0 },
    snapshot: { metadata: { index: 0, term: 0, conf: { voters: [...voters], learners: [] } }, data: null },
    entries,
  };
}

export class TestNetwork {
  readonly nodes = new Map<MemberId, RaftNode>();
  readonly storage = new Map<MemberId, MemoryRaftStorage>();
  readonly applied = new Map<MemberId, Entry[]>();
  readonly readStates = new Map<MemberId, ReadState[]>();
  /** Directed links that lose every message: "from->to". */
  private readonly cut = new Set<string>();
  private queue: Message[] = [];
  /** Every message delivered, for assertions on what went over the wire. */
  readonly delivered: Message[] = [];
  private readonly config: RaftOptions['config'];
  private seed = 1;
  /** When set, a message is delivered only if this returns true (scenario tests shape what arrives). */
  filter: ((m: Message) => boolean) | null = null;

  constructor(members: MemberSetup[], config: RaftOptions['config'] = {}) {
    // Scenario tests choose who campaigns: timers never fire on their own within a test's few ticks.
    this.config = config;
    for (const m of members) this.add(m.id, m.storage);
  }

  add(id: MemberId, storage: PersistedRaftState): RaftNode {
    const store = new MemoryRaftStorage(storage);
    this.storage.set(id, store);
    const node = new RaftNode({ id, random: seededRandom(this.seed++), storage: store.durableState(), config: this.config });
    this.nodes.set(id, node);
    this.applied.set(id, []);
    this.readStates.set(id, []);
    return node;
  }

  /** Restarts a member from what it persisted (everything: the harness syncs every Ready). */
  restart(id: MemberId): RaftNode {
    const store = this.storage.get(id)!;
    const node = new RaftNode({ id, random: seededRandom(this.seed++), storage: store.durableState(), config: this.config });
    this.nodes.set(id, node);
    this.applied.set(id, []);
    return node;
  }

  node(id: MemberId): RaftNode {
    return this.nodes.get(id)!;
  }

  /** Handles every pending Ready and delivers messages until nothing moves. */
  settle(maxRounds = 10_000): void {
    if (!this.run(maxRounds)) throw new Error('network did not settle');
  }

  /** Delivers at most `rounds` rounds of messages; true when the network went quiet. */
  run(rounds: number): boolean {
    for (let round = 0; round < rounds; round++) {
      for (const id of this.nodes.keys()) this.flush(id);
      if (this.queue.length === 0) return true;
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        const to = this.nodes.get(m.to);
        if (!to || this.cut.has(`${m.from}->${m.to}`) || (this.filter && !this.filter(m))) continue;
        this.delivered.push(m);
        to.step(structuredClone(m));
      }
    }
    return false;
  }

  /** Persist → send → apply → advance for one member. */
  flush(id: MemberId): void {
    const node = this.nodes.get(id)!;
    while (node.hasReady()) {
      const rd = node.ready();
      const store = this.storage.get(id)!;
      store.write({ entries: rd.entries, ...(rd.hardState ? { hardState: rd.hardState } : {}), ...(rd.snapshot ? { snapshot: rd.snapshot } : {}) });
      store.sync();
      this.queue.push(...rd.messages);
      this.applied.get(id)!.push(...rd.committedEntries);
      this.readStates.get(id)!.push(...rd.readStates);
      node.advance(rd);
    }
  }

  tick(id: MemberId, times = 1): void {
    for (let i = 0; i < times; i++) this.node(id).tick();
  }

  /** Ticks every member together until one leads (at most `limit` rounds). */
  tickAll(times: number): void {
    for (let i = 0; i < times; i++) {
      for (const node of this.nodes.values()) node.tick();
      this.settle();
    }
  }

  /** Makes `id` campaign now and settles. */
  elect(id: MemberId): void {
    this.node(id).campaign();
    this.settle();
  }

  isolate(id: MemberId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: MemberId, to: MemberId, bothWays = true): void {
    this.cut.add(`${from}->${to}`);
    if (bothWays) this.cut.add(`${to}->${from}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Drops every message in flight (as a partition would have). */
  dropQueued(): void {
    this.queue = [];
  }

  leaders(): RaftNode[] {
    return [...this.nodes.values()].filter((n) => n.role === 'leader');
  }

  /** Log entries of a member from index 1 (or after its snapshot). */
  logOf(id: MemberId): { index: number; term: number }[] {
    const log = this.node(id).log;
    const out = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push({ index: i, term: log.term(i)! });
    return out;
  }
}

/** A cluster of `ids` bootstrapped identically. */
export function cluster(ids: MemberId[], storage: (id: MemberId) => PersistedRaftState, config: RaftOptions['config'] = {}): TestNetwork {
  return new TestNetwork(
    ids.map((id) => ({ id, storage: storage(id) })),
    config,
  );
}
