/**
 * The API server on a unix socket: the swarm endpoints swarmlet serves, and everything else passed through to
 * the local engine, so one socket answers both `docker service ...` and `docker run ...`.
 */

import { promises as fs } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { SwarmletError } from '../errors.ts';
import { EngineClient } from '../runtime/docker/engine-client.ts';
import type { Logger } from '../util/logger.ts';
import type { ApiContext } from './context.ts';
import { sendError } from './http.ts';
import { createEngineProxy } from './proxy.ts';
import { Router } from './router.ts';
import { distributionRoutes } from './routes/distribution.ts';
import { eventRoutes } from './routes/events.ts';
import { logRoutes } from './routes/logs.ts';
import { type EngineNetworks, engineNetworks, networkRoutes } from './routes/networks.ts';
import { nodeRoutes } from './routes/nodes.ts';
import { serviceRoutes } from './routes/services.ts';
import { swarmRoutes } from './routes/swarm.ts';
import { systemRoutes } from './routes/system.ts';
import { taskRoutes } from './routes/tasks.ts';

/** The routes swarmlet serves; `engine` is the node engine's own /networks, which the network routes merge in. */
export function buildRouter(ctx: ApiContext, engine: EngineNetworks): Router {
  const router = new Router();
  systemRoutes(router, ctx);
  swarmRoutes(router, ctx);
  nodeRoutes(router, ctx);
  serviceRoutes(router, ctx, engine);
  networkRoutes(router, ctx, engine);
  taskRoutes(router, ctx);
  distributionRoutes(router, ctx);
  eventRoutes(router, ctx);
  logRoutes(router, ctx);
  return router;
}

/** Refuses to take over a socket another daemon is serving; removes one left behind by a dead daemon. */
async function claimSocket(socketPath: string): Promise<void> {
  await fs.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new SwarmletError('conflict', `another swarmlet daemon is already serving ${socketPath}: stop it, or pass --socket to use another path`);
  }
  await fs.rm(socketPath, { force: true });
}

export interface ApiServer {
  stop(): Promise<void>;
}

export async function startApiServer(ctx: ApiContext, socketPath: string, engineSocketPath: string, log: Logger): Promise<ApiServer> {
  const engine = new EngineClient(engineSocketPath);
  const router = buildRouter(ctx, engineNetworks(engine));
  const proxy = createEngineProxy(engineSocketPath);
  const fail = (req: http.IncomingMessage, res: http.ServerResponse, err: unknown) => {
    if (!(err instanceof SwarmletError) || err.status >= 500) log.warn(`${req.method} ${req.url}: ${(err as Error).message}`);
    sendError(res, err);
  };
  const server = http.createServer((req, res) => {
    let handle: ReturnType<Router['match']>;
    try {
      handle = router.match(req);
    } catch (err) {
      fail(req, res, err);
      return;
    }
    if (!handle) {
      proxy.handleRequest(req, res);
      return;
    }
    handle(res).catch((err: unknown) => fail(req, res, err));
  });
  server.on('upgrade', (req, socket, head) => proxy.handleUpgrade(req, socket, head));
  // Streams such as `logs -f` and `events` stay open for as long as the client wants.
  server.requestTimeout = 0;
  server.keepAliveTimeout = 30_000;

  await claimSocket(socketPath);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // Like docker.sock: whoever may use the socket controls the cluster.
  await fs.chmod(socketPath, 0o660);

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        // Upgraded (attach, exec) connections are the proxy's, not the server's.
        proxy.close();
        engine.close();
      }).then(() => fs.rm(socketPath, { force: true }));
      return stopping;
    },
  };
}
