/**
 * The global orchestrator: one live task on every node that can take work (ready and not drained). Tasks are
 * made with their node already chosen; the scheduler still checks that they fit there.
 */

import type { Node, Service, Task } from '../../api/types.ts';
import { groupBy } from '../../util/group-by.ts';
import { newId } from '../../util/ids.ts';
import { isLive } from '../state/cluster-state.ts';
import type { Changes } from './changes.ts';
import type { PassContext } from './context.ts';
import { isoTime } from './context.ts';
import { refill, retire } from './slot.ts';
import { isOutdated, newTask } from './task-factory.ts';

const eligible = (node: Node) => node.Status.State === 'ready' && node.Spec.Availability !== 'drain';

export function reconcileGlobal(service: Service, tasks: Task[], nodes: Node[], changes: Changes, ctx: PassContext): void {
  const byNode = groupBy(
    tasks.map((t) => changes.view(t)).filter((task) => task.NodeID !== undefined),
    (task) => task.NodeID!,
  );
  const wanted = new Set(nodes.filter(eligible).map((node) => node.ID));

  for (const [nodeId, list] of byNode) {
    if (wanted.has(nodeId)) continue;
    for (const task of list) if (task.DesiredState === 'running') retire(changes, task, ctx);
  }

  for (const nodeId of wanted) {
    const list = (byNode.get(nodeId) ?? []).sort((a, b) => (a.CreatedAt < b.CreatedAt ? 1 : -1));
    const live = list.filter(isLive);
    if (live.length > 0) {
      if (isOutdated(live[0]!, service.Spec.TaskTemplate)) {
        retire(changes, live[0]!, ctx);
        changes.add(newTask(service, newId(ctx.random), isoTime(ctx.now), { nodeId }));
      }
      continue;
    }
    refill(service, list, changes, ctx, { nodeId });
  }
}
