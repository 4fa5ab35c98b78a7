/** /swarm: create, inspect and leave the cluster. */

import { requireSwarm } from '../../manager/state/queries.ts';
import type { ApiContext } from '../context.ts';
import { readJson, sendJson } from '../http.ts';
import type { Router } from '../router.ts';
import { parseBody, swarmInitSchema } from '../schemas.ts';

export function swarmRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/swarm', async ({ res }) => {
    await ctx.proposer.read();
    sendJson(res, 200, requireSwarm(ctx.proposer.state));
  });

  router.add('POST', '/swarm/init', async ({ req, res }) => {
    const body = parseBody(swarmInitSchema, await readJson(req), 'swarm init request');
    const nodeId = await ctx.initSwarm({ advertiseAddr: body.AdvertiseAddr, forceNewCluster: body.ForceNewCluster });
    sendJson(res, 200, nodeId);
  });

  router.add('POST', '/swarm/leave', async ({ res, query }) => {
    const force = query.get('force') === 'true' || query.get('force') === '1';
    await ctx.leaveSwarm(force);
    res.writeHead(200).end();
  });
}
