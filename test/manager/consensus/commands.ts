/** Manager commands for the cluster tests and the Raft benchmark: what the API proposes, with fixed IDs and times. */

import type { ServiceSpec } from '../../../src/api/types.ts';
import type { ClusterState } from '../../../src/manager/state/cluster-state.ts';
import type { CreateService, InitSwarm, UpdateService } from '../../../src/manager/state/commands.ts';
import { initSwarmCommand } from '../../../src/manager/state/init.ts';
import { iso, node, spec, T0 } from '../../helpers/fixtures.ts';

/** The first command of every cluster: later ones are refused until a swarm exists. */
export function initCommand(managerId = 'm1'): InitSwarm {
  return initSwarmCommand({ swarmId: 'swarm1', nodeId: managerId, description: node(managerId).Description, addr: '10.0.0.1', now: iso(T0) });
}

/** A 25-character ID in Swarm's form, stable for a given number. */
export const serviceId = (n: number): string => `svc${String(n).padStart(22, '0')}`;

export function createService(n: number, name = `web${n}`, serviceSpec: ServiceSpec = spec(name)): CreateService {
  return { type: 'service.create', id: serviceId(n), spec: serviceSpec, now: iso(T0 + n) };
}

/** An update of the service as `state` holds it now (its current version), with `serviceSpec` as the new spec. */
export function updateService(state: ClusterState, id: string, serviceSpec: ServiceSpec, now = T0): UpdateService {
  const service = state.services[id];
  if (!service) throw new Error(`no service ${id}`);
  return { type: 'service.update', id, version: service.Version.Index, spec: serviceSpec, now: iso(now) };
}
