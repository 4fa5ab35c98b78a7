/** The command that creates a cluster: a swarm object with Swarm's default settings and its first manager. */

import type { NodeDescription, SwarmSpec } from '../../api/types.ts';
import type { InitSwarm } from './commands.ts';

export const DEFAULT_SWARM_SPEC: SwarmSpec = {
  Name: 'default',
  Labels: {},
  Orchestration: { TaskHistoryRetentionLimit: 5 },
  Raft: { SnapshotInterval: 10000, KeepOldSnapshots: 0, LogEntriesForSlowFollowers: 500, ElectionTick: 10, HeartbeatTick: 1 },
  Dispatcher: { HeartbeatPeriod: 5_000_000_000 },
  CAConfig: { NodeCertExpiry: 7_776_000_000_000_000 },
  TaskDefaults: {},
  EncryptionConfig: { AutoLockManagers: false },
};

export function initSwarmCommand(input: {
  swarmId: string;
  nodeId: string;
  description: NodeDescription;
  addr: string;
  now: string;
}): InitSwarm {
  const { swarmId, nodeId, description, addr, now } = input;
  return {
    type: 'swarm.init',
    swarm: {
      ID: swarmId,
      Version: { Index: 0 },
      CreatedAt: now,
      UpdatedAt: now,
      Spec: structuredClone(DEFAULT_SWARM_SPEC),
      // Join tokens arrive with multi-node membership; a one-node cluster has nobody to admit.
      JoinTokens: { Worker: '', Manager: '' },
      RootRotationInProgress: false,
      DefaultAddrPool: ['10.0.0.0/8'],
      SubnetSize: 24,
      DataPathPort: 4789,
    },
    node: {
      ID: nodeId,
      Version: { Index: 0 },
      CreatedAt: now,
      UpdatedAt: now,
      Spec: { Labels: {}, Role: 'manager', Availability: 'active' },
      Description: description,
      Status: { State: 'ready', Addr: addr },
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: `${addr}:4377` },
    },
  };
}
