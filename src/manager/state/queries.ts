/** Lookups over the cluster state with Docker's rules: a full ID, then an exact name, then a unique ID prefix. */

import type { Network, Node, Service } from '../../api/types.ts';
import { invalidArgument, notFound, unavailable } from '../../errors.ts';
import type { ClusterState } from './cluster-state.ts';

export function requireSwarm(state: ClusterState): NonNullable<ClusterState['swarm']> {
  if (!state.swarm) {
    throw unavailable('This node is not a swarm manager. Use "swarmlet init" to create a cluster and try again.');
  }
  return state.swarm;
}

function lookup<T extends { ID: string }>(items: T[], ref: string, nameOf: (item: T) => string | undefined, kind: string): T {
  const byId = items.find((item) => item.ID === ref);
  if (byId) return byId;
  const byName = items.filter((item) => nameOf(item) === ref);
  if (byName.length === 1) return byName[0]!;
  const byPrefix = items.filter((item) => item.ID.startsWith(ref));
  if (byPrefix.length === 1 && ref.length > 0) return byPrefix[0]!;
  if (byName.length > 1 || byPrefix.length > 1) {
    throw invalidArgument(`${kind} ${ref} is ambiguous (${byName.length + byPrefix.length} matches): use the full ID`);
  }
  throw notFound(`${kind} ${ref} not found`);
}

export function findService(state: ClusterState, ref: string): Service {
  requireSwarm(state);
  return lookup(Object.values(state.services), ref, (service) => service.Spec.Name, 'service');
}

export function findNode(state: ClusterState, ref: string): Node {
  requireSwarm(state);
  return lookup(Object.values(state.nodes), ref, (node) => node.Spec.Name || node.Description.Hostname, 'node');
}

/** A swarm network by ID, name or ID prefix; Docker's words when there is none (`network foo not found`). */
export function findNetwork(state: ClusterState, ref: string): Network {
  requireSwarm(state);
  return lookup(Object.values(state.networks), ref, (network) => network.Spec.Name, 'network');
}
