/** /_ping and /info: what clients ask first, answered with this node's swarm state in Docker's shapes. */

import type { ServerResponse } from 'node:http';
import { API_VERSION, VERSION } from '../../version.ts';
import type { ApiContext } from '../context.ts';
import { sendJson } from '../http.ts';
import type { Router } from '../router.ts';

/** Docker's ping header: the docker CLI enables its swarm commands only when it says `active/manager`. */
export function swarmHeader(ctx: ApiContext): string {
  if (ctx.proposer.state.swarm) return 'active/manager';
  return ctx.localNodeState() ? 'active/worker' : 'inactive';
}

function pingHeaders(ctx: ApiContext, res: ServerResponse): void {
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Ostype', 'linux');
  res.setHeader('Swarm', swarmHeader(ctx));
  res.setHeader('Cache-Control', 'no-cache, no-store, must-revalidate');
  res.setHeader('Pragma', 'no-cache');
  res.setHeader('Server', `swarmlet/${VERSION}`);
}

export function swarmInfo(ctx: ApiContext): Record<string, unknown> {
  const { swarm, nodes } = ctx.proposer.state;
  const self = nodes[ctx.nodeId];
  const local = ctx.localNodeState();
  if (!swarm && local) {
    // A worker: it knows the managers it reports to, and nothing of the cluster state.
    return {
      NodeID: ctx.nodeId,
      NodeAddr: '',
      LocalNodeState: 'active',
      // A manager that joined a moment ago holds no state yet, but it is a manager.
      ControlAvailable: local.role === 'manager',
      Error: '',
      RemoteManagers: local.managers.map((m) => ({ NodeID: m.nodeId, Addr: m.addr })),
    };
  }
  if (!swarm) {
    return { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null };
  }
  const managers = Object.values(nodes).filter((node) => node.Spec.Role === 'manager');
  return {
    NodeID: ctx.nodeId,
    NodeAddr: self?.Status.Addr ?? '',
    LocalNodeState: 'active',
    ControlAvailable: true,
    Error: '',
    RemoteManagers: managers.map((node) => ({ NodeID: node.ID, Addr: node.ManagerStatus?.Addr ?? node.Status.Addr })),
    Nodes: Object.keys(nodes).length,
    Managers: managers.length,
    Cluster: {
      ID: swarm.ID,
      Version: swarm.Version,
      CreatedAt: swarm.CreatedAt,
      UpdatedAt: swarm.UpdatedAt,
      Spec: swarm.Spec,
      TLSInfo: { TrustRoot: '', CertIssuerSubject: '', CertIssuerPublicKey: '' },
      RootRotationInProgress: swarm.RootRotationInProgress,
      DefaultAddrPool: swarm.DefaultAddrPool,
      SubnetSize: swarm.SubnetSize,
      DataPathPort: swarm.DataPathPort,
    },
  };
}

export function systemRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/_ping', async ({ req, res }) => {
    pingHeaders(ctx, res);
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.writeHead(200);
    res.end(req.method === 'HEAD' ? undefined : 'OK');
  });

  router.add('GET', '/info', async ({ res }) => {
    if (ctx.proposer.state.swarm || !ctx.localNodeState()) await ctx.proposer.read();
    const info = await ctx.engineInfo();
    sendJson(res, 200, { ...info, Swarm: swarmInfo(ctx) });
  });
}
