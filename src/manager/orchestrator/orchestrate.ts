/**
 * One reconciliation pass over the whole cluster: compute what must change to make the observed tasks match the
 * services' desired state. Pure: the caller commits the returned changes as one batch.
 */

import { groupBy } from '../../util/group-by.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { reconcileGlobal } from './global.ts';
import { retireDisplaced } from './displaced.ts';
import { DEFAULT_TASK_HISTORY, reapHistory, reapOrphans } from './reaper.ts';
import { reconcileReplicated } from './replicated.ts';

export function orchestrate(state: ClusterState, ctx: PassContext, changes = new Changes()): Changes {
  const byService = groupBy(Object.values(state.tasks), (task) => task.ServiceID);
  const nodes = Object.values(state.nodes);
  const limit = state.swarm?.Spec.Orchestration.TaskHistoryRetentionLimit ?? DEFAULT_TASK_HISTORY;

  for (const [serviceId, tasks] of byService) {
    if (!state.services[serviceId]) reapOrphans(tasks, changes, ctx);
  }
  for (const service of Object.values(state.services)) {
    const tasks = byService.get(service.ID) ?? [];
    retireDisplaced(tasks, state.nodes, changes, ctx);
    if (service.Spec.Mode?.Global) reconcileGlobal(service, tasks, nodes, changes, ctx);
    else reconcileReplicated(service, tasks, changes, ctx);
    reapHistory(service, tasks, limit, changes);
  }
  return changes;
}
