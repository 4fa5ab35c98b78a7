/**
 * A manager's replicated state: the Raft storage, driver and proposer around the pure state machine. A node that
 * is in no cluster has none; `bootstrap` makes a new one-member cluster, `open` resumes one from disk.
 */

import { promises as fs } from 'node:fs';
import type { RandomSource } from '../util/ids.ts';
import type { Logger } from '../util/logger.ts';
import { DiskRaftStorage, raftPaths } from '../store/raft/disk-raft-storage.ts';
import { RaftDriver, type RaftTransport } from './consensus/raft-driver.ts';
import { RaftProposer } from './consensus/raft-proposer.ts';
import { bootstrapState } from './raft/bootstrap.ts';
import type { PersistedRaftState } from './raft/storage.ts';
import { StateMachine } from './state/state-machine.ts';

export interface ManagerOptions {
  dataDir: string;
  nodeId: string;
  random: RandomSource;
  log: Logger;
  /** Until multi-node membership lands, a manager has nobody to talk to. */
  transport?: RaftTransport;
}

const NO_PEERS: RaftTransport = { send() {}, onMessage: () => () => {} };

export class Manager {
  readonly proposer: RaftProposer;
  readonly storage: DiskRaftStorage;
  private readonly driver: RaftDriver;
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

  start(): void {
    this.driver.start();
  }

  async stop(): Promise<void> {
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
