/** /nodes: the cluster's machines, with Docker's filters. */

import type { Node } from '../../api/types.ts';
import { findNode, requireSwarm } from '../../manager/state/queries.ts';
import type { ApiContext } from '../context.ts';
import { accepts, labelMatches, parseFilters } from '../filters.ts';
import { sendJson } from '../http.ts';
import type { Router } from '../router.ts';

const NODE_FILTERS = ['id', 'label', 'membership', 'name', 'node.label', 'role'] as const;

export function nodeMatches(node: Node, filters: ReturnType<typeof parseFilters>): boolean {
  return (
    accepts(filters, 'id', (id) => node.ID.startsWith(id)) &&
    accepts(filters, 'name', (name) => (node.Spec.Name || node.Description.Hostname).startsWith(name)) &&
    accepts(filters, 'role', (role) => node.Spec.Role === role) &&
    accepts(filters, 'membership', (membership) => membership === 'accepted') &&
    (filters.get('label') ?? []).every((label) => labelMatches(node.Description.Engine.Labels, label)) &&
    (filters.get('node.label') ?? []).every((label) => labelMatches(node.Spec.Labels, label))
  );
}

export function nodeRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/nodes', async ({ res, query }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    requireSwarm(state);
    const filters = parseFilters(query.get('filters'), NODE_FILTERS);
    sendJson(res, 200, Object.values(state.nodes).filter((node) => nodeMatches(node, filters)));
  });

  router.add('GET', '/nodes/{id}', async ({ res, params }) => {
    await ctx.proposer.read();
    sendJson(res, 200, findNode(ctx.proposer.state, params.id!));
  });
}
