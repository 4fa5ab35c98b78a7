/** /tasks: what `service ps` and `node ps` show, with Docker's filters. */

import type { Task } from '../../api/types.ts';
import { notFound } from '../../errors.ts';
import type { ClusterState } from '../../manager/state/cluster-state.ts';
import { isOutdated } from '../../manager/orchestrator/task-factory.ts';
import { findNode, requireSwarm } from '../../manager/state/queries.ts';
import type { ApiContext } from '../context.ts';
import { type Filters, accepts, labelMatches, parseFilters } from '../filters.ts';
import { sendJson } from '../http.ts';
import type { Router } from '../router.ts';

/** `_up-to-date` is what the docker CLI's progress display asks for: tasks made from the current spec. */
const TASK_FILTERS = ['id', 'name', 'service', 'node', 'label', 'desired-state', '_up-to-date'] as const;

/**
 * Reads the `filters` query, with each `node` value resolved to a node ID as Docker's daemon resolves it (full ID,
 * name or hostname, unique ID prefix): `node ps pi-2` and `--filter node=pi-2` mean the same node, and a node that
 * does not exist is an error rather than an empty list.
 */
export function parseTaskFilters(state: ClusterState, raw: string | null): Filters {
  const filters = parseFilters(raw, TASK_FILTERS);
  const nodes = filters.get('node');
  if (nodes) filters.set('node', nodes.map((ref) => findNode(state, ref).ID));
  return filters;
}

/** Whether a task passes the filters; `node` values must already be IDs (parseTaskFilters). */
export function taskMatches(state: ClusterState, task: Task, filters: Filters): boolean {
  const service = state.services[task.ServiceID];
  const name = service ? `${service.Spec.Name}.${task.Slot ?? task.NodeID}` : '';
  return (
    accepts(filters, 'id', (id) => task.ID.startsWith(id)) &&
    accepts(filters, 'name', (n) => name.startsWith(n)) &&
    accepts(filters, 'service', (s) => task.ServiceID === s || service?.Spec.Name === s) &&
    accepts(filters, 'node', (id) => task.NodeID === id) &&
    accepts(filters, 'desired-state', (d) => task.DesiredState === d || (d === 'shutdown' && task.DesiredState === 'remove')) &&
    (filters.get('label') ?? []).every((label) => labelMatches(task.Labels, label)) &&
    accepts(filters, '_up-to-date', (wanted) => (service !== undefined && !isOutdated(task, service)) === (wanted === 'true' || wanted === '1'))
  );
}

export function taskRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/tasks', async ({ res, query }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    requireSwarm(state);
    const filters = parseTaskFilters(state, query.get('filters'));
    sendJson(res, 200, Object.values(state.tasks).filter((task) => taskMatches(state, task, filters)));
  });

  router.add('GET', '/tasks/{id}', async ({ res, params }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    requireSwarm(state);
    const task = state.tasks[params.id!] ?? Object.values(state.tasks).find((t) => t.ID.startsWith(params.id!));
    if (!task) throw notFound(`task ${params.id} not found`);
    sendJson(res, 200, task);
  });
}
