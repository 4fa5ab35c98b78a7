/**
 * `swarmlet daemon`: one node. It opens the state store and the node identity, checks the engine, serves the API,
 * starts mDNS discovery, and hands the rest to ClusterNode (src/cluster/cluster-node.ts): the peer network, the
 * agent, and — on managers — the replicated state and the manager's services. It stops cleanly on SIGTERM/SIGINT,
 * leaving containers running: a restarted daemon adopts them.
 */

import { startApiServer } from '../api/server.ts';
import type { ApiContext } from '../api/context.ts';
import { describeError } from '../errors.ts';
import { ClusterNode } from '../cluster/cluster-node.ts';
import { engineLogSource } from '../cluster/task-log-reader.ts';
import { loadOrCreateIdentity } from '../identity/key-store.ts';
import { describeMeshLimits, resolveMeshLimits } from '../mesh/limits.ts';
import { RaftProposer } from '../manager/consensus/raft-proposer.ts';
import { startDiscovery } from './discovery.ts';
import { tuneHeapForTraffic } from './heap.ts';
import { socketPathFromUrl } from '../paths.ts';
import { DockerRuntime } from '../runtime/docker/docker-runtime.ts';
import { EngineClient } from '../runtime/docker/engine-client.ts';
import { StateStore } from '../store/state-store.ts';
import { cryptoRandom, newId } from '../util/ids.ts';
import { consoleLogger } from '../util/logger.ts';
import { NodeDescriber } from './node-description.ts';
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
  const identity = await loadOrCreateIdentity(options.dataDir, { logger: log });
  const describer = new NodeDescriber(runtime, options);
  const description = () => describer.describe();
  if (!engineInfo.MemoryLimit) {
    log.warn('the engine cannot enforce memory limits (memory cgroup off): tasks would run unlimited');
  }
  // Checked before anything listens: limits the mesh would refuse stop the daemon here, with the reason.
  const meshLimits = resolveMeshLimits(options.meshLimits);
  const discovery = await startDiscovery(options, nodeId, options.hostname ?? engineInfo.Name, log);
  const node = await ClusterNode.open({
    dataDir: options.dataDir,
    nodeId,
    identity,
    runtime,
    description,
    log,
    random: cryptoRandom,
    ...(options.listenAddr ? { listenAddr: options.listenAddr } : {}),
    ...(options.advertiseAddr ? { advertiseAddr: options.advertiseAddr } : {}),
    ...(options.heartbeatMs ? { heartbeatMs: options.heartbeatMs } : {}),
    ...(options.downAfterMs ? { downAfterMs: options.downAfterMs } : {}),
    ...(options.meshLimits ? { meshLimits: options.meshLimits } : {}),
    discoverManagers: (digest, timeoutMs) => discovery.findManagers(digest, timeoutMs),
    onMembershipChange: (membership) => discovery.update(membership),
    logEngine: engineLogSource(engine),
  });
  discovery.attach(node);

  const ctx: ApiContext = {
    get proposer() {
      return node.proposer;
    },
    nodeId,
    runtime,
    engineInfo: () => engine.getJson<Record<string, unknown>>('/info'),
    initSwarm: (request) => node.init(request),
    joinSwarm: (request) => node.join(request),
    leaveSwarm: (force) => node.leave(force),
    cluster: () => node.managerView(),
    localNodeState: () => (node.membership ? { role: node.membership.role, managers: node.membership.managers } : null),
    // The proposer changes as the node joins, leaves, is promoted or demoted; only a manager's has events.
    clusterEvents: () => (node.proposer instanceof RaftProposer ? node.proposer.events : null),
    engineEvents: (query, signal) => engine.stream('GET', '/events', { query, signal }),
    taskLogs: () => node.logStreams,
    now: Date.now,
    random: cryptoRandom,
  };

  const server = await startApiServer(ctx, options.socket, engineSocket, log);
  // The API answers meanwhile: reads wait for the manager to have applied its log (Proposer.read).
  node.start().catch((err: unknown) => log.error(`could not resume this node's cluster role: ${describeError(err)}`));
  log.info(`API ready on unix://${options.socket} in ${Date.now() - started} ms (engine ${engineInfo.ServerVersion} at unix://${engineSocket}, node ${nodeId})`);
  if (options.meshLimits) log.info(`routing mesh limits: ${describeMeshLimits(meshLimits)}`);

  let stopping: Promise<void> | null = null;
  return {
    stop() {
      stopping ??= (async () => {
        await server.stop();
        await node.stop();
        await discovery.stop();
        engine.close();
      })();
      return stopping;
    },
  };
}

/** Runs a node until SIGTERM or SIGINT. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  tuneHeapForTraffic();
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
