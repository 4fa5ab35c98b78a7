/**
 * The global orchestrator: one live task on every node that can take work (ready, not drained) and that the
 * service's placement constraints admit, as in Swarm — a node that does not match gets no task, rather than one
 * pending forever, and a node whose labels change to match (or stop matching) gains (or loses) its task. Tasks are
 * made with their node already chosen; the scheduler still checks the rest (resources, image, platform) there.
 */

import type { Node, Service, Task } from '../../api/types.ts';
import { groupBy } from '../../util/group-by.ts';
import { type Constraint, matches, parseConstraint } from '../scheduler/constraints.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { keepOne, refill, retire } from './slot.ts';
import { Rollout } from './updater.ts';

const available = (node: Node) => node.Status.State === 'ready' && node.Spec.Availability !== 'drain';

/** The service's constraints, parsed; a spec stored before they were validated admits no node rather than throwing. */
function constraintsOf(service: Service): Constraint[] | null {
  try {
    return (service.Spec.TaskTemplate.Placement?.Constraints ?? []).map(parseConstraint);
  } catch {
    return null;
  }
}

export function reconcileGlobal(service: Service, tasks: Task[], nodes: Node[], changes: Changes, ctx: PassContext): void {
  const byNode = groupBy(
    tasks.map((t) => changes.view(t)).filter((task) => task.NodeID !== undefined),
    (task) => task.NodeID!,
  );
  const constraints = constraintsOf(service);
  const admits = (node: Node) => constraints !== null && constraints.every((constraint) => matches(constraint, node));
  const wanted = new Set(nodes.filter((node) => available(node) && admits(node)).map((node) => node.ID));

  for (const [nodeId, list] of byNode) {
    if (wanted.has(nodeId)) continue;
    for (const task of list) if (task.DesiredState === 'running') retire(changes, task, ctx);
  }

  const rollout = new Rollout(service, tasks.map((t) => changes.view(t)), changes, ctx);
  for (const nodeId of wanted) {
    rollout.slot();
    const list = (byNode.get(nodeId) ?? []).sort((a, b) => (a.CreatedAt < b.CreatedAt ? 1 : -1));
    const live = list.filter(isLive);
    if (live.length === 0) {
      refill(service, list, changes, ctx, { nodeId });
      rollout.empty();
    } else {
      keepOne(service, live, rollout, changes, ctx, { nodeId });
    }
  }
  rollout.finish();
}
