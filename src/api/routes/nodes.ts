/** /nodes: the cluster's machines, with Docker's filters; updates (role, availability, labels) and removal. */

import type { Node } from '../../api/types.ts';
import { conflict, invalidArgument } from '../../errors.ts';
import { findNode, requireSwarm } from '../../manager/state/queries.ts';
import type { ApiContext, ManagerView } from '../context.ts';
import { accepts, labelMatches, parseFilters } from '../filters.ts';
import { readJson, sendJson } from '../http.ts';
import type { Router } from '../router.ts';
import { nodeSpecSchema, parseBody } from '../schemas.ts';

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

/** A node with its manager status as Raft sees it now: who leads, and who answers. */
export function withManagerStatus(node: Node, view: ManagerView | null): Node {
  if (!view || (node.Spec.Role !== 'manager' && !view.voters.includes(node.ID) && !view.learners.includes(node.ID))) {
    const { ManagerStatus: _omit, ...rest } = node;
    return node.Spec.Role === 'manager' && node.ManagerStatus ? node : rest;
  }
  const addr = node.ManagerStatus?.Addr ?? `${node.Status.Addr}:4377`;
  return {
    ...node,
    ManagerStatus: {
      ...(view.leader === node.ID ? { Leader: true } : {}),
      Reachability: view.reachable(node.ID) ? 'reachable' : 'unreachable',
      Addr: addr,
    },
  };
}

/** Refuses a demotion or removal that would leave fewer reachable voters than a quorum needs. */
function checkQuorumAfterLosing(view: ManagerView | null, nodeId: string): void {
  if (!view || !view.voters.includes(nodeId)) return;
  const remaining = view.voters.filter((id) => id !== nodeId);
  const reachable = remaining.filter((id) => view.reachable(id)).length;
  const quorum = Math.floor(remaining.length / 2) + 1;
  if (reachable < quorum) {
    throw conflict(
      `can't demote ${nodeId}: the remaining ${remaining.length} managers would need ${quorum} reachable for a quorum and only ` +
        `${reachable} are. Bring the unreachable managers back (or recover with "swarmlet init --force-new-cluster") first.`,
    );
  }
}

export function nodeRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/nodes', async ({ res, query }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    requireSwarm(state);
    const filters = parseFilters(query.get('filters'), NODE_FILTERS);
    const view = ctx.cluster();
    sendJson(res, 200, Object.values(state.nodes).filter((node) => nodeMatches(node, filters)).map((node) => withManagerStatus(node, view)));
  });

  router.add('GET', '/nodes/{id}', async ({ res, params }) => {
    await ctx.proposer.read();
    sendJson(res, 200, withManagerStatus(findNode(ctx.proposer.state, params.id!), ctx.cluster()));
  });

  router.add('POST', '/nodes/{id}/update', async ({ req, res, params, query }) => {
    const spec = parseBody(nodeSpecSchema, await readJson(req), 'node spec');
    await ctx.proposer.read();
    const node = findNode(ctx.proposer.state, params.id!);
    const version = Number(query.get('version'));
    if (!Number.isInteger(version)) throw invalidArgument('node update needs ?version= (the Version.Index you read)');
    if (node.Spec.Role === 'manager' && spec.Role === 'worker') checkQuorumAfterLosing(ctx.cluster(), node.ID);
    const { Labels, Name, ...rest } = spec;
    await ctx.proposer.propose({
      type: 'node.update',
      id: node.ID,
      version,
      spec: { ...rest, Labels: Labels ?? {}, ...(Name ? { Name } : {}) },
      now: new Date(ctx.now()).toISOString(),
    });
    res.writeHead(200).end();
  });

  router.add('DELETE', '/nodes/{id}', async ({ res, params, query }) => {
    await ctx.proposer.read();
    const node = findNode(ctx.proposer.state, params.id!);
    const force = query.get('force') === 'true' || query.get('force') === '1';
    await ctx.proposer.propose({ type: 'node.remove', id: node.ID, force, now: new Date(ctx.now()).toISOString() });
    res.writeHead(200).end();
  });
}
