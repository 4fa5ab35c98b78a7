/**
 * A manager's replicated state: the Raft storage, driver and proposer around the pure state machine. A node that
 * is in no cluster has none; `bootstrap` makes a new one-member cluster, `open` resumes one from disk.
 */

import { promises as fs } from 'node:fs';
import { unavailable } from '../errors.ts';
import type { RandomSource } from '../util/ids.ts';
import type { Logger } from '../util/logger.ts';
import { DiskRaftStorage, raftPaths } from '../store/raft/disk-raft-storage.ts';
import { RaftDriver, type RaftTransport } from './consensus/raft-driver.ts';
import { RaftProposer } from './consensus/raft-proposer.ts';
import { bootstrapState } from './raft/bootstrap.ts';
import type { PersistedRaftState } from './raft/storage.ts';
import type { Snapshot } from './raft/types.ts';
import { StateMachine } from './state/state-machine.ts';

export interface ManagerOptions {
  dataDir: string;
  nodeId: string;
  random: RandomSource;
  log: Logger;
  /** How Raft messages reach the other managers; a one-manager cluster may have none. */
  transport?: RaftTransport;
}

const NO_PEERS: RaftTransport = { send() {}, onMessage: () => () => {} };

export class Manager {
  readonly proposer: RaftProposer;
  readonly storage: DiskRaftStorage;
  readonly driver: RaftDriver;
  private readonly options: ManagerOptions;

  private constructor(options: ManagerOptions, storage: DiskRaftStorage, persisted: PersistedRaftState) {
    this.options = options;
    this.storage = storage;
    this.proposer = new RaftProposer(new StateMachine(), options.random, options.log);
    this.driver = new RaftDriver({
      id: options.nodeId,
      storage,
      persisted,
      transport: options.transport ?? NO_PEERS,
      machine: this.proposer,
      random: options.random,
      log: options.log,
    });
    this.proposer.attach(this.driver);
  }

  /** Resumes the manager this node was, or returns null when it is in no cluster. */
  static async open(options: ManagerOptions): Promise<Manager | null> {
    const storage = new DiskRaftStorage({ dataDir: options.dataDir, log: options.log });
    const persisted = await storage.load();
    if (persisted.hardState.term === 0 && !persisted.snapshot && persisted.entries.length === 0) {
      await storage.close();
      return null;
    }
    return new Manager(options, storage, persisted);
  }

  /** Makes this node the only member of a new cluster. */
  static async bootstrap(options: ManagerOptions): Promise<Manager> {
    const storage = new DiskRaftStorage({ dataDir: options.dataDir, log: options.log });
    await storage.load();
    const initial = bootstrapState([options.nodeId]);
    await storage.save({ hardState: initial.hardState, entries: initial.entries });
    return new Manager(options, storage, initial);
  }

  /**
   * A manager that joins an existing cluster: it starts with an empty log and learns everything (membership
   * included) from the leader, which adds it as a learner first.
   */
  static async join(options: ManagerOptions): Promise<Manager> {
    const storage = new DiskRaftStorage({ dataDir: options.dataDir, log: options.log });
    const persisted = await storage.load();
    return new Manager(options, storage, persisted);
  }

  /**
   * Swarm's recovery when a quorum of managers is lost for good: this manager's state — its snapshot and every
   * entry in its log, committed or not, since nothing newer can be learned without a quorum — becomes the first
   * snapshot of a new cluster with this manager as its only member, at a higher term. Other managers' old logs
   * can never outvote it: they are not members any more.
   */
  static async forceNewCluster(options: ManagerOptions): Promise<Manager> {
    const storage = new DiskRaftStorage({ dataDir: options.dataDir, log: options.log });
    const persisted = await storage.load();
    if (persisted.hardState.term === 0 && !persisted.snapshot && persisted.entries.length === 0) {
      await storage.close();
      throw unavailable('this node holds no cluster state to recover: use "swarmlet init" to create a new cluster');
    }
    const replay = new RaftProposer(new StateMachine(), options.random, options.log);
    if (persisted.snapshot) replay.restore(persisted.snapshot.data);
    for (const entry of persisted.entries) if (entry.type === 'normal' && entry.data !== null) replay.apply(entry);
    const last = persisted.entries.at(-1);
    const index = last?.index ?? persisted.snapshot!.metadata.index;
    const term = Math.max(persisted.hardState.term, last?.term ?? 0, persisted.snapshot?.metadata.term ?? 0) + 1;
    const snapshot: Snapshot = { metadata: { index, term, conf: { voters: [options.nodeId], learners: [] } }, data: replay.snapshot() };
    const hardState = { term, vote: '', commit: index };
    await storage.save({ hardState, entries: [], snapshot });
    await storage.compact(index);
    options.log.warn(`forced a new cluster from this manager's state at index ${index}: it is now the only manager`);
    return new Manager(options, storage, { hardState, snapshot, entries: [] });
  }

  start(): void {
    this.driver.start();
  }

  /** Stops on purpose: a leader hands over first, so the other managers need not wait for an election. */
  async stop(): Promise<void> {
    await this.driver.handOffLeadership();
    await this.driver.stop();
    this.proposer.abandon('the manager is stopping');
    await this.storage.close();
  }

  /** Stops and forgets the cluster: the node leaves it. */
  async destroy(): Promise<void> {
    await this.stop();
    await fs.rm(raftPaths(this.options.dataDir).dir, { recursive: true, force: true });
  }
}
