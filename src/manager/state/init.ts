/** The command that creates a cluster: a swarm object with Swarm's default settings and its first manager. */

import type { NodeDescription, SwarmSpec } from '../../api/types.ts';
import { cryptoRandom, type RandomSource } from '../../util/ids.ts';
import type { InitSwarm } from './commands.ts';
import { clusterDigest, newClusterSecurity, type MemberRecord } from './security.ts';

/** The node transport's port: clear of Docker Swarm's 2377, 7946 and 4789, so both can run on one box. */
export const DEFAULT_TRANSPORT_PORT = 4377;

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
  /** The first manager's public keys; tests that never talk to another node may leave them out. */
  keys?: Pick<MemberRecord, 'signingKey' | 'agreementKey'>;
  /** `ip:port` of the first manager's transport. Default: addr on the default port. */
  transportAddr?: string;
  /** Node certificate lifetime in nanoseconds (Swarm's CAConfig.NodeCertExpiry). */
  certExpiryNs?: number;
  random?: RandomSource;
}): InitSwarm {
  const { swarmId, nodeId, description, addr, now } = input;
  const security = newClusterSecurity(input.random ?? cryptoRandom, now);
  const transportAddr = input.transportAddr ?? `${addr}:${DEFAULT_TRANSPORT_PORT}`;
  if (input.keys) security.members[nodeId] = { ...input.keys, addr: transportAddr, issuer: clusterDigest(security) };
  const spec = structuredClone(DEFAULT_SWARM_SPEC);
  if (input.certExpiryNs !== undefined) spec.CAConfig.NodeCertExpiry = input.certExpiryNs;
  return {
    type: 'swarm.init',
    security,
    swarm: {
      ID: swarmId,
      Version: { Index: 0 },
      CreatedAt: now,
      UpdatedAt: now,
      Spec: spec,
      // Filled in when served: the tokens are derived from the root key, never stored (see security.ts).
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
      ManagerStatus: { Leader: true, Reachability: 'reachable', Addr: transportAddr },
    },
  };
}
