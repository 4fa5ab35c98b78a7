/** /swarm: create, join, inspect, update (token rotation) and leave the cluster. */

import { conflict, invalidArgument } from '../../errors.ts';
import { requireSwarm } from '../../manager/state/queries.ts';
import { activeRoot, joinTokenText, newRootKey, newTokenRecord } from '../../manager/state/security.ts';
import type { ClusterState } from '../../manager/state/cluster-state.ts';
import type { ApiContext } from '../context.ts';
import { readJson, sendJson } from '../http.ts';
import type { Router } from '../router.ts';
import { parseBody, swarmInitSchema, swarmJoinSchema } from '../schemas.ts';

/** Docker's default listen address; swarmlet's transport takes its own port so both can run on one box. */
const DOCKER_DEFAULT_LISTEN = '0.0.0.0:2377';

/** The swarm object as Docker serves it: with the join tokens, derived from the root key when asked for. */
export function swarmView(state: ClusterState) {
  const swarm = requireSwarm(state);
  if (!state.security) return swarm;
  return { ...swarm, JoinTokens: { Worker: joinTokenText(state.security, 'worker'), Manager: joinTokenText(state.security, 'manager') } };
}

const listenAddr = (addr: string | undefined) => (addr && addr !== DOCKER_DEFAULT_LISTEN ? addr : undefined);

export function swarmRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/swarm', async ({ res }) => {
    await ctx.proposer.read();
    sendJson(res, 200, swarmView(ctx.proposer.state));
  });

  router.add('POST', '/swarm/init', async ({ req, res }) => {
    const body = parseBody(swarmInitSchema, await readJson(req), 'swarm init request');
    const expiry = (body.Spec as { CAConfig?: { NodeCertExpiry?: unknown } } | undefined)?.CAConfig?.NodeCertExpiry;
    if (expiry !== undefined && (typeof expiry !== 'number' || !(expiry >= 1e9))) {
      throw invalidArgument('invalid Spec.CAConfig.NodeCertExpiry: give a duration of at least 1s, in nanoseconds');
    }
    const listen = listenAddr(body.ListenAddr);
    const nodeId = await ctx.initSwarm({
      ...(body.AdvertiseAddr ? { advertiseAddr: body.AdvertiseAddr } : {}),
      ...(listen ? { listenAddr: listen } : {}),
      ...(body.ForceNewCluster ? { forceNewCluster: true } : {}),
      ...(typeof expiry === 'number' ? { certExpiryNs: expiry } : {}),
    });
    sendJson(res, 200, nodeId);
  });

  router.add('POST', '/swarm/join', async ({ req, res }) => {
    const body = parseBody(swarmJoinSchema, await readJson(req), 'swarm join request');
    const listen = listenAddr(body.ListenAddr);
    await ctx.joinSwarm({
      token: body.JoinToken,
      remoteAddrs: body.RemoteAddrs ?? [],
      ...(body.AdvertiseAddr ? { advertiseAddr: body.AdvertiseAddr } : {}),
      ...(listen ? { listenAddr: listen } : {}),
    });
    res.writeHead(200).end();
  });

  /**
   * Docker's `swarm update`: join token rotation (`join-token --rotate`) and root key rotation (`ca --rotate`,
   * a higher CAConfig.ForceRotate); the rest of the spec is kept.
   */
  router.add('POST', '/swarm/update', async ({ req, res, query }) => {
    // The body is the SwarmSpec, as Docker sends it.
    const body = (await readJson(req)) as { CAConfig?: { ForceRotate?: unknown } } | undefined;
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    const swarm = requireSwarm(state);
    const version = Number(query.get('version'));
    if (!Number.isInteger(version)) throw invalidArgument('swarm update needs ?version= (the Version.Index you read)');
    const forceRotate = body?.CAConfig?.ForceRotate;
    if (typeof forceRotate === 'number' && forceRotate > (swarm.Spec.CAConfig.ForceRotate ?? 0)) {
      if (swarm.RootRotationInProgress) throw conflict('a root key rotation is already in progress; wait for it to finish');
      const now = new Date(ctx.now()).toISOString();
      const root = newRootKey(ctx.random, now);
      const tokens = { worker: newTokenRecord(root, 'worker', ctx.random), manager: newTokenRecord(root, 'manager', ctx.random) };
      await ctx.proposer.propose({ type: 'ca.rotate', root, tokens, forceRotate });
    }
    for (const role of ['worker', 'manager'] as const) {
      const flag = query.get(role === 'worker' ? 'rotateWorkerToken' : 'rotateManagerToken');
      if (flag !== 'true' && flag !== '1') continue;
      const security = ctx.proposer.state.security!;
      await ctx.proposer.propose({ type: 'token.rotate', role, token: newTokenRecord(activeRoot(security), role, ctx.random) });
    }
    res.writeHead(200).end();
  });

  router.add('POST', '/swarm/leave', async ({ res, query }) => {
    const force = query.get('force') === 'true' || query.get('force') === '1';
    await ctx.leaveSwarm(force);
    res.writeHead(200).end();
  });
}
