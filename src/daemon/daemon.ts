/**
 * `swarmlet daemon`: one node. It opens the state store, checks the engine, serves the API, and — once the node
 * is in a cluster — runs the manager's reconciler and the node's agent. It stops cleanly on SIGTERM/SIGINT,
 * leaving containers running: a restarted daemon adopts them.
 */

import { Agent } from '../agent/agent.ts';
import { startApiServer } from '../api/server.ts';
import type { ApiContext } from '../api/context.ts';
import { describeError, SwarmletError, unavailable } from '../errors.ts';
import { LocalDispatcher } from '../manager/dispatcher.ts';
import { Manager } from '../manager/manager.ts';
import { NoClusterProposer } from '../manager/proposer.ts';
import { Reconciler } from '../manager/reconciler.ts';
import { initSwarmCommand } from '../manager/state/init.ts';
import { socketPathFromUrl } from '../paths.ts';
import { DockerRuntime } from '../runtime/docker/docker-runtime.ts';
import { EngineClient } from '../runtime/docker/engine-client.ts';
import { StateStore } from '../store/state-store.ts';
import { cryptoRandom, newId } from '../util/ids.ts';
import { consoleLogger } from '../util/logger.ts';
import { nodeFilter } from '../agent/labels.ts';
import { describeNode } from './node-description.ts';
import type { DaemonOptions } from './options.ts';

export interface RunningDaemon {
  stop(): Promise<void>;
}

/** Starts a node and returns once its API answers. */
export async function startDaemon(options: DaemonOptions): Promise<RunningDaemon> {
  const started = Date.now();
  const log = consoleLogger(process.env.SWARMLET_LOG_LEVEL === 'debug' ? 'debug' : 'info', 'swarmlet');
  const engineSocket = socketPathFromUrl(options.engine);
  const engine = new EngineClient(engineSocket);
  const runtime = new DockerRuntime(engine);
  const store = await StateStore.open(options.dataDir, () => newId(), log);
  // Fails with one line naming the socket when the engine does not answer.
  const engineInfo = await runtime.info();
  const nodeId = store.data.node.id;
  const managerOptions = { dataDir: options.dataDir, nodeId, random: cryptoRandom, log };
  let manager = await Manager.open(managerOptions);
  const noCluster = new NoClusterProposer();
  const proposer = () => manager?.proposer ?? noCluster;
  const description = () => runtime.info().then((info) => describeNode(info, options));
  if (!engineInfo.MemoryLimit) {
    log.warn('the engine cannot enforce memory limits (memory cgroup off): tasks would run unlimited');
  }

  let roles: { reconciler: Reconciler; agent: Agent } | null = null;
  /** Runs once the manager has applied its log: the node reports itself, then orchestration and the agent run. */
  const startRoles = async (current: Manager) => {
    const { proposer } = current;
    await proposer.read();
    const self = proposer.state.nodes[nodeId];
    if (self) {
      await proposer.propose({ type: 'node.report', nodeId, description: await description(), addr: self.Status.Addr, now: new Date().toISOString() });
    }
    const dispatcher = new LocalDispatcher(proposer, nodeId);
    const reconciler = new Reconciler({ proposer, random: cryptoRandom, log });
    const agent = new Agent({ nodeId, runtime, source: dispatcher, reporter: dispatcher, log });
    reconciler.start();
    agent.start();
    roles = { reconciler, agent };
  };
  const stopRoles = async () => {
    const current = roles;
    roles = null;
    if (current) await Promise.all([current.reconciler.stop(), current.agent.stop()]);
  };

  const ctx: ApiContext = {
    get proposer() {
      return proposer();
    },
    nodeId,
    runtime,
    engineInfo: () => engine.getJson<Record<string, unknown>>('/info'),
    async initSwarm(request) {
      if (request.forceNewCluster) {
        await stopRoles();
        await manager?.stop();
        manager = null;
        const recovered = await Manager.forceNewCluster(managerOptions);
        manager = recovered;
        recovered.start();
        await startRoles(recovered);
        return nodeId;
      }
      if (manager) throw unavailable('This node is already part of a swarm. Use "swarmlet leave --force" to leave it first.');
      const now = new Date().toISOString();
      const addr = request.advertiseAddr?.replace(/:\d+$/, '') || '127.0.0.1';
      const command = initSwarmCommand({ swarmId: newId(), nodeId, description: await description(), addr, now });
      const created = await Manager.bootstrap(managerOptions);
      manager = created;
      created.start();
      try {
        await created.proposer.propose(command);
      } catch (err) {
        // Leave no half-made cluster behind: the node stays out of any cluster, as before the call.
        manager = null;
        await created.destroy();
        throw err;
      }
      await startRoles(created);
      log.info(`cluster created; this node (${nodeId}) is its manager`);
      return nodeId;
    },
    async leaveSwarm(force) {
      const current = manager;
      if (!current) throw unavailable('This node is not part of a swarm.');
      if (!force) {
        throw new SwarmletError(
          'unavailable',
          'You are attempting to leave the swarm on a node that is participating as a manager. Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message.',
        );
      }
      await stopRoles();
      for (const container of await runtime.listContainers(nodeFilter(nodeId))) {
        await runtime.removeContainer(container.id, { force: true });
      }
      manager = null;
      await current.destroy();
      log.info('left the cluster; its tasks were removed from this node');
    },
    now: Date.now,
    random: cryptoRandom,
  };

  const server = await startApiServer(ctx, options.socket, engineSocket, log);
  if (manager) {
    // The API answers meanwhile: reads wait for the manager to have applied its log (Proposer.read).
    const resumed = manager;
    resumed.start();
    startRoles(resumed).catch((err: unknown) => log.error(`could not resume the manager: ${describeError(err)}`));
  }
  log.info(`API ready on unix://${options.socket} in ${Date.now() - started} ms (engine ${engineInfo.ServerVersion} at unix://${engineSocket}, node ${nodeId})`);

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        await server.stop();
        await stopRoles();
        await manager?.stop();
        engine.close();
      })();
      return stopping;
    },
  };
}

/** Runs a node until SIGTERM or SIGINT. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const daemon = await startDaemon(options);
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve();
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await daemon.stop();
}
