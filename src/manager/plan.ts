/**
 * One pass of the manager's control loop as a pure function: the orchestrators decide what should run, then the
 * scheduler places what is pending. The reconciler commits the result; tests drive the same function.
 */

import type { ClusterState } from './state/cluster-state.ts';
import { Changes } from './orchestrator/changes.ts';
import type { PassContext } from './orchestrator/context.ts';
import { orchestrate } from './orchestrator/orchestrate.ts';
import { schedule } from './scheduler/scheduler.ts';

/**
 * What the leader knows of its nodes beyond the replicated state, from their heartbeats. A node's recorded
 * status changes only when a node is marked down, seconds after it died; this view is current.
 */
export interface NodeLiveness {
  /**
   * Right after an election the new leader has heard from nobody yet: until every ready node has checked in (or
   * been marked down) nothing is placed, so no task is sent to a node that died with the old leader.
   */
  settling: boolean;
  /** Ready nodes that missed their last heartbeat: no new tasks go to them. */
  unresponsive: ReadonlySet<string>;
}

export function plan(state: ClusterState, ctx: PassContext, liveness?: NodeLiveness): Changes {
  const changes = orchestrate(state, ctx);
  if (liveness?.settling) return changes;
  const created = changes.put.filter((task) => !state.tasks[task.ID]);
  schedule(Object.values(state.nodes), [...Object.values(state.tasks), ...created], changes, ctx, liveness ? { unresponsive: liveness.unresponsive } : {});
  return changes;
}
