/**
 * One node's part in a cluster, whatever its role: the peer network, the session with the leader, the agent,
 * and — on managers — the replicated state and the services only managers run (orchestration on the leader,
 * the dispatcher, admission of joining nodes, Raft membership). It starts from what the data dir holds (the
 * membership file and the Raft storage), and moves between roles as the cluster decides: a promoted worker
 * becomes a learner then a voter, a demoted manager leaves Raft and carries on as a worker.
 *
 * A node in no cluster has none of these. A manager from before node security (a state without root keys, no
 * membership file) runs alone as it always did, with no transport.
 */

import { Agent } from '../agent/agent.ts';
import type { AssignmentSource, StatusReporter } from '../agent/assignment.ts';
import type { ManagerView } from '../api/context.ts';
import type { NodeDescription } from '../api/types.ts';
import { describeError, invalidArgument, SwarmletError, unavailable } from '../errors.ts';
import { decodeCertificate, encodeCertificate, issueCertificate, type Certificate } from '../identity/certificate.ts';
import { fromBase64url, toBase64url } from '../identity/encoding.ts';
import { parseJoinToken } from '../identity/join-token.ts';
import { KEY_BYTES, type NodeIdentity } from '../identity/keys.ts';
import { rootKeyDigest } from '../identity/root-digest.ts';
import { LocalDispatcher } from '../manager/dispatcher.ts';
import { Manager } from '../manager/manager.ts';
import type { Proposer } from '../manager/proposer.ts';
import { NoClusterProposer } from '../manager/proposer.ts';
import { Reconciler } from '../manager/reconciler.ts';
import { DEFAULT_TRANSPORT_PORT, initSwarmCommand } from '../manager/state/init.ts';
import { activeRoot, clusterDigest, rootSigner, trustedRootKeys } from '../manager/state/security.ts';
import type { ContainerRuntime } from '../runtime/runtime.ts';
import type { ChannelKind, ChannelSecurity } from '../transport/endpoint.ts';
import { newId, type RandomSource } from '../util/ids.ts';
import type { Logger } from '../util/logger.ts';
import { nodeFilter } from '../agent/labels.ts';
import { Admission } from './admission.ts';
import { MembershipFile, type KnownManager, type Membership } from './credentials.ts';
import { Dispatcher, managersOf, type SessionInfo } from './dispatcher.ts';
import { NodeReporter } from './node-report.ts';
import { AssignmentCache } from './assignment-cache.ts';
import { requestJoin } from './join.ts';
import { NodeSession } from './node-session.ts';
import { LogStreams } from './log-streams.ts';
import { MeshController } from '../mesh/controller.ts';
import { muxPoolOver, type MuxPool } from './mux/pool.ts';
import { ipAddressBinder } from '../mesh/host-addresses.ts';
import type { MeshLimits } from '../mesh/limits.ts';
import { meshTable } from '../manager/mesh-table.ts';
import { withMeshPortConflicts } from '../daemon/node-description.ts';
import { PeerNetwork, splitAddress } from './peers.ts';
import type { ContainerLogEngine } from './task-log-reader.ts';
import { RaftLink } from './raft-link.ts';
import { RaftMembership } from './raft-membership.ts';
import { managerBundleIdentity, memberIdentity, verifyJoinRequest, verifyMember } from './trust.ts';
import { defaultAdvertiseAddress } from './addresses.ts';

export interface ClusterNodeOptions {
  dataDir: string;
  nodeId: string;
  identity: NodeIdentity;
  runtime: ContainerRuntime;
  description(): Promise<NodeDescription>;
  log: Logger;
  random: RandomSource;
  /** Daemon defaults for init and join when the request names none. */
  listenAddr?: string;
  advertiseAddr?: string;
  heartbeatMs?: number;
  downAfterMs?: number;
  /** Bounds on the routing mesh's published ports (the daemon's --mesh-* flags); limits.ts's defaults for the rest. */
  meshLimits?: Partial<MeshLimits>;
  /** Finds managers of a cluster (mDNS); returns `ip:port` addresses. */
  discoverManagers?(clusterDigest: string, timeoutMs: number): Promise<string[]>;
  /** Told whenever this node's role or addresses change, so discovery advertises the truth. */
  onMembershipChange?(membership: Membership | null): void;
  /** Where this node reads its tasks' logs, for `service logs`; without it they are reported unavailable. */
  logEngine?: ContainerLogEngine;
}

export interface InitRequest {
  advertiseAddr?: string;
  listenAddr?: string;
  forceNewCluster?: boolean;
  certExpiryNs?: number;
}

export interface JoinSwarmRequest {
  token: string;
  remoteAddrs: string[];
  advertiseAddr?: string;
  listenAddr?: string;
}

const NOT_A_MANAGER =
  "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";

/** The proposer of a worker: it holds no cluster state, and says where to go instead. */
class WorkerProposer extends NoClusterProposer {
  override propose(): Promise<void> {
    return Promise.reject(unavailable(NOT_A_MANAGER));
  }

  override read(): Promise<void> {
    return Promise.reject(unavailable(NOT_A_MANAGER));
  }
}

/** How often a node whose address was chosen for it checks whether the machine's address changed. */
const ADDRESS_CHECK_MS = 2_000;

const noCluster = new NoClusterProposer();
const workerProposer = new WorkerProposer();

/** `ip` or `ip:port` with the transport's default port. */
export function withPort(address: string, port = DEFAULT_TRANSPORT_PORT): string {
  return /:\d+$/.test(address) && !address.startsWith('[') ? address : `${address}:${port}`;
}

/**
 * Where overlay networks' DNS sends names that are not the cluster's: SWARMLET_DNS_UPSTREAMS (`ip[:port]`, comma
 * separated; empty for none, as the tests run) or, unset, the host's resolvers.
 */
function dnsUpstreams(): { upstreams?: string[] } {
  const configured = process.env.SWARMLET_DNS_UPSTREAMS;
  if (configured === undefined) return {};
  return { upstreams: configured.split(',').map((item) => item.trim()).filter(Boolean) };
}

export class ClusterNode {
  readonly #options: ClusterNodeOptions;
  readonly #file: MembershipFile;
  #membership: Membership | null;
  #manager: Manager | null;
  #peers: PeerNetwork | null = null;
  /** The mesh's streams: many over one multiplexed bulk channel per peer, not a channel and handshake each. */
  #streams: MuxPool | null = null;
  #session: NodeSession | null = null;
  #agent: Agent | null = null;
  #agentSource: AssignmentSource | null = null;
  /** The manager-only services (orchestration, dispatcher, admission, Raft membership), while this node manages. */
  #managerRoles: { stop(): Promise<void> } | null = null;
  #admission: Admission | null = null;
  /** The leader's own assignments, set once its manager has applied its log. */
  #localDispatcher: LocalDispatcher | null = null;
  #stopKeeper: (() => void) | null = null;
  #disposeWatch: (() => void) | null = null;
  /** Managers seen over mDNS, by node ID: their latest address. */
  #discovered = new Map<string, string>();
  #changingRole = false;
  #renewing = false;
  /** This node's role as the leader last said. */
  #sessionRole: 'manager' | 'worker' | null = null;
  #stopped = false;
  #followTimer: NodeJS.Timeout | undefined;
  /** Keeps the cluster's record of what this node is (images, labels, resources) current. */
  #reporter: NodeReporter | null = null;
  /** The last assignments pushed to this node, on disk: run when it restarts with no manager reachable. */
  #cache: AssignmentCache | null = null;
  /** Task log streams: served to managers on the peer network, and opened by this node's API when it manages. */
  readonly logStreams: LogStreams;
  /** The routing mesh: ingress listeners for published ports, and this node's tasks served to the others. */
  readonly #mesh: MeshController;

  private constructor(options: ClusterNodeOptions, file: MembershipFile, membership: Membership | null, manager: Manager | null) {
    this.#options = options;
    this.logStreams = new LogStreams({ selfId: options.nodeId, engine: options.logEngine ?? null, peers: () => this.#peers, log: options.log });
    this.#mesh = new MeshController({
      selfId: options.nodeId,
      peers: () => this.#streams,
      containerAddress: async (id) => (await options.runtime.inspectContainer(id))?.address || null,
      log: options.log,
      ...(options.meshLimits ? { limits: options.meshLimits } : {}),
      overlay: { engine: options.runtime, binder: ipAddressBinder, ...dnsUpstreams() },
    });
    this.#file = file;
    this.#membership = membership;
    this.#manager = manager;
  }

  /** The node as its data dir left it; `start` brings its roles up. */
  static async open(options: ClusterNodeOptions): Promise<ClusterNode> {
    const file = new MembershipFile(options.dataDir);
    const membership = await file.read();
    // With a membership, the manager is opened in start(), around the peer network its Raft messages need.
    const manager = membership ? null : await Manager.open(managerOptions(options));
    return new ClusterNode(options, file, membership, manager);
  }

  get proposer(): Proposer {
    if (this.#manager) return this.#manager.proposer;
    return this.#membership ? workerProposer : noCluster;
  }

  get membership(): Membership | null {
    return this.#membership;
  }

  get manager(): Manager | null {
    return this.#manager;
  }

  get peers(): PeerNetwork | null {
    return this.#peers;
  }

  /** Resumes whatever this node was. */
  async start(): Promise<void> {
    if (this.#membership) {
      // No role change while the node resumes its own: a session answer arriving meanwhile would otherwise start
      // a second manager on the same storage.
      this.#changingRole = true;
      try {
        await this.#startNetwork(this.#membership);
        if (this.#membership.role === 'manager') await this.#becomeManager(false);
        else this.#runAgent(this.#session!, this.#session!);
      } finally {
        this.#changingRole = false;
      }
      void this.#checkRole();
    } else if (this.#manager) {
      // A lone manager from before node security: no peers, as it always ran.
      this.#manager.start();
      await this.#startManagerRoles(this.#manager);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#followTimer);
    await this.#mesh.stop();
    await this.#stopRoles();
    await this.#cache?.flush();
    await this.#manager?.stop();
    await this.#streams?.stop();
    await this.#peers?.stop();
  }

  /** `swarmlet init`: a new cluster with this node as its first manager. */
  async init(request: InitRequest): Promise<string> {
    const { nodeId, identity, log } = this.#options;
    if (request.forceNewCluster) return this.#forceNewCluster();
    if (this.#manager || this.#membership) throw unavailable('This node is already part of a swarm. Use "swarmlet leave" to leave this swarm and join another one.');
    const listenAddr = withPort(request.listenAddr ?? this.#options.listenAddr ?? '0.0.0.0');
    const advertiseAddr = this.#advertise(request.advertiseAddr, listenAddr);
    const advertiseAuto = this.#isAuto(request.advertiseAddr, listenAddr);
    const now = Date.now();
    const command = initSwarmCommand({
      swarmId: newId(this.#options.random),
      nodeId,
      description: await this.#options.description(),
      addr: advertiseAddr.replace(/:\d+$/, ''),
      transportAddr: advertiseAddr,
      keys: { signingKey: toBase64url(identity.signing.publicKey), agreementKey: toBase64url(identity.agreement.publicKey) },
      now: new Date(now).toISOString(),
      random: this.#options.random,
      ...(request.certExpiryNs ? { certExpiryNs: request.certExpiryNs } : {}),
    });
    const root = activeRoot(command.security);
    const certificate = issueCertificate(
      rootSigner(root),
      { nodeId, role: 'manager', signingKey: toBase64url(identity.signing.publicKey), agreementKey: toBase64url(identity.agreement.publicKey), ttlMs: Math.floor(command.swarm.Spec.CAConfig.NodeCertExpiry / 1e6) },
      now,
    );
    const membership: Membership = {
      version: 1,
      certificate,
      roots: [root.publicKey],
      role: 'manager',
      clusterDigest: clusterDigest(command.security),
      listenAddr,
      advertiseAddr,
      advertiseAuto,
      managers: [{ nodeId, addr: advertiseAddr }],
      clockOffsetMs: 0,
    };
    this.#changingRole = true;
    try {
      this.#membership = membership;
      await this.#startNetwork(membership);
      const manager = await Manager.bootstrap({ ...managerOptions(this.#options), transport: new RaftLink(this.#peers!) });
      this.#manager = manager;
      manager.start();
      await manager.proposer.propose(command);
      await this.#file.write(membership);
    } catch (err) {
      // Leave no half-made cluster behind: the node stays out of any cluster, as before the call.
      await this.#teardown();
      throw err;
    } finally {
      this.#changingRole = false;
    }
    await this.#startManagerRoles(this.#manager);
    this.#changed();
    log.info(`cluster created; this node (${nodeId}) is its manager, reachable at ${advertiseAddr}`);
    return nodeId;
  }

  /** `swarmlet join`: admitted with a token, by a manager given by address or found over mDNS. */
  async join(request: JoinSwarmRequest): Promise<void> {
    const { nodeId, identity, log } = this.#options;
    if (this.#manager || this.#membership) throw unavailable('This node is already part of a swarm. Use "swarmlet leave" to leave this swarm and join another one.');
    const token = parseJoinToken(request.token);
    const listenAddr = withPort(request.listenAddr ?? this.#options.listenAddr ?? '0.0.0.0');
    const advertiseAddr = this.#advertise(request.advertiseAddr, listenAddr);
    const advertiseAuto = this.#isAuto(request.advertiseAddr, listenAddr);
    let managers = request.remoteAddrs.map((addr) => withPort(addr));
    if (managers.length === 0) {
      const found = (await this.#options.discoverManagers?.(token.rootDigest, 3_000)) ?? [];
      if (found.length === 0) {
        throw unavailable(
          'no manager of the cluster this token names answered over mDNS within 3 s (multicast may be blocked on this network). ' +
            'Give a manager\'s address: swarmlet join --token TOKEN MANAGER-IP[:PORT]',
        );
      }
      managers = found;
    }
    const answer = await requestJoin({ token, nodeId, identity, description: await this.#options.description(), advertiseAddr, managers, log });
    const membership: Membership = {
      version: 1,
      certificate: answer.certificate,
      roots: answer.roots,
      role: answer.role,
      clusterDigest: answer.clusterDigest,
      listenAddr,
      advertiseAddr,
      advertiseAuto,
      managers: answer.managers,
      clockOffsetMs: answer.now - Date.now(),
    };
    await this.#file.write(membership);
    this.#membership = membership;
    this.#changingRole = true;
    try {
      await this.#startNetwork(membership);
      if (answer.role === 'manager') await this.#becomeManager(true);
      else this.#runAgent(this.#session!, this.#session!);
    } finally {
      this.#changingRole = false;
    }
    this.#changed();
    log.info(`joined the cluster as a ${answer.role}`);
  }

  /** `swarmlet leave`: stop everything, remove this node's tasks, forget the cluster. */
  async leave(force: boolean): Promise<void> {
    if (!this.#manager && !this.#membership) throw unavailable('This node is not part of a swarm.');
    if (this.#manager && !force) {
      const voters = this.#manager.driver.node.conf.voters.length;
      const detail = voters > 1 ? ` Removing this node leaves ${voters - 1} managers out of ${voters}. Without a Raft quorum your swarm will be inaccessible.` : ' Removing the last manager erases all current state of the swarm.';
      throw unavailable(`You are attempting to leave the swarm on a node that is participating as a manager.${detail} Use \`--force\` to ignore this message.`);
    }
    await this.#teardown();
    const { runtime, nodeId, log } = this.#options;
    for (const container of await runtime.listContainers(nodeFilter(nodeId))) {
      await runtime.removeContainer(container.id, { force: true }).catch(() => {});
    }
    log.info('left the cluster; its tasks were removed from this node');
  }

  /** Raft's view for `node ls`: who leads, who votes, who answers. Null on a node that is not a manager. */
  managerView(): ManagerView | null {
    const manager = this.#manager;
    if (!manager) return null;
    const status = manager.driver.node.status();
    return {
      leader: status.leader,
      voters: status.conf.voters,
      learners: status.conf.learners,
      reachable: (id) => id === this.#options.nodeId || (this.#peers?.isConnected(id) ?? false),
    };
  }

  // --- roles --------------------------------------------------------------------------------------------------

  async #forceNewCluster(): Promise<string> {
    await this.#stopRoles();
    await this.#manager?.stop();
    this.#manager = null;
    const transport = this.#peers ? new RaftLink(this.#peers) : undefined;
    const recovered = await Manager.forceNewCluster({ ...managerOptions(this.#options), ...(transport ? { transport } : {}) });
    this.#manager = recovered;
    recovered.start();
    await this.#startManagerRoles(recovered);
    // The other managers are no longer members: their roles say worker from now on, so nothing re-adds them.
    const state = recovered.proposer.state;
    for (const node of Object.values(state.nodes)) {
      if (node.ID !== this.#options.nodeId && node.Spec.Role === 'manager') {
        await recovered.proposer
          .propose({ type: 'node.update', id: node.ID, version: recovered.proposer.state.nodes[node.ID]!.Version.Index, spec: { ...node.Spec, Role: 'worker' }, now: new Date().toISOString() })
          .catch((err: unknown) => this.#options.log.warn(`demoting lost manager ${node.ID}: ${describeError(err)}`));
      }
    }
    return this.#options.nodeId;
  }

  /** Starts the replicated state (joining Raft when `joining`), and the manager's services. */
  async #becomeManager(joining: boolean): Promise<void> {
    const options = { ...managerOptions(this.#options), transport: new RaftLink(this.#peers!) };
    // A manager resumes its log; one that is new to Raft (joined as or promoted to manager) starts empty.
    const manager = (joining ? null : await Manager.open(options)) ?? (await Manager.join(options));
    this.#manager = manager;
    manager.start();
    await this.#startManagerRoles(manager);
  }

  async #startManagerRoles(manager: Manager): Promise<void> {
    const { proposer, driver } = manager;
    const { nodeId, log, random } = this.#options;
    const isLeader = () => driver.node.status().role === 'leader';
    let dispatcher: Dispatcher | null = null;
    let raftMembership: RaftMembership | null = null;
    const reconciler = new Reconciler({ proposer, random, log, isLeader, liveness: () => dispatcher?.liveness() });
    reconciler.start();
    if (this.#peers) {
      dispatcher = new Dispatcher({
        selfId: nodeId,
        proposer,
        peers: this.#peers,
        isLeader,
        leaderId: () => driver.node.leader,
        log,
        onResponsive: () => reconciler.kick(),
        ...(this.#options.heartbeatMs ? { heartbeatMs: this.#options.heartbeatMs } : {}),
        ...(this.#options.downAfterMs ? { downAfterMs: this.#options.downAfterMs } : {}),
      });
      dispatcher.start();
      const admission = new Admission({ proposer, log });
      this.#peers.handle('renew', (_message, channel) => admission.renew(channel.peer.nodeId));
      raftMembership = new RaftMembership(driver, proposer, log);
      raftMembership.start();
      // Managers keep a channel to every other manager: an election then needs no dialling, and reachability in
      // `node ls` means what it says on every manager, not only on the leader.
      const peers = this.#peers;
      const keeper = setInterval(() => {
        for (const id of driver.node.conf.voters) if (id !== nodeId && !peers.isConnected(id)) peers.connect(id).catch(() => {});
      }, 1_000);
      keeper.unref();
      this.#stopKeeper = () => clearInterval(keeper);
      this.#admission = admission;
      // A manager's own role can change too (demotion): watch for it.
      // The leader's own mesh follows its state directly; the other nodes get the table pushed.
      const disposeMesh = proposer.watch(() => {
        if (isLeader()) void this.#mesh.update(meshTable(proposer.state));
      });
      const disposeRole = proposer.watch(() => this.#checkRole());
      this.#disposeWatch = () => {
        disposeMesh();
        disposeRole();
      };
    }
    if (this.#session) {
      // Assignments come from the leader, whichever manager leads: a manager that is still catching up holds a
      // stale or empty state, and reading "no tasks" from it would stop every container on the node.
      // The leader's own assignments are read locally, but only once this manager has applied its log: right
      // after a restart it leads before it has replayed anything, and an empty state would read as "no tasks".
      const local = new LocalDispatcher(proposer, nodeId);
      proposer.read().then(
        () => {
          if (this.#managerRoles && this.#manager?.proposer === proposer) this.#localDispatcher = local;
          this.#session?.notify();
        },
        (err: unknown) => log.debug(`local assignments wait for the leader: ${describeError(err)}`),
      );
      const disposeLocal = proposer.watch(() => this.#session?.notify());
      const previousDispose = this.#disposeWatch;
      this.#disposeWatch = () => {
        previousDispose?.();
        disposeLocal();
      };
      this.#runAgent(this.#session, this.#session);
    } else {
      const local = new LocalDispatcher(proposer, nodeId);
      this.#runAgent(local, local);
    }
    // The node reports what it is now (engine version, resources) once the manager has caught up.
    void (async () => {
      try {
        await proposer.read();
        const self = proposer.state.nodes[nodeId];
        if (self) await proposer.propose({ type: 'node.report', nodeId, description: await this.#describe(), addr: self.Status.Addr, now: new Date().toISOString() });
      } catch (err) {
        log.debug(`node report deferred: ${describeError(err)}`);
      }
    })();
    this.#managerRoles = {
      stop: async () => {
        this.#disposeWatch?.();
        this.#disposeWatch = null;
        this.#stopKeeper?.();
        this.#stopKeeper = null;
        dispatcher?.stop();
        await raftMembership?.stop();
        await reconciler.stop();
        this.#admission = null;
        this.#localDispatcher = null;
      },
    };
  }


  #runAgent(source: AssignmentSource, reporter: StatusReporter): void {
    if (this.#agent && this.#agentSource === source) return;
    this.#agentSource = source;
    const previous = this.#agent;
    const agent = new Agent({
      nodeId: this.#options.nodeId,
      runtime: this.#options.runtime,
      source,
      reporter,
      log: this.#options.log,
      drain: (taskId, graceMs) => this.#mesh.drainTask(taskId, graceMs),
      onContainerDied: (taskId) => this.#mesh.taskDied(taskId),
    });
    this.#agent = agent;
    void (previous ? previous.stop() : Promise.resolve()).then(() => {
      if (this.#agent === agent && !this.#stopped) agent.start();
    });
  }

  async #stopRoles(): Promise<void> {
    this.#session?.stop();
    this.#reporter?.stop();
    const agent = this.#agent;
    this.#agent = null;
    this.#agentSource = null;
    await agent?.stop();
    const roles = this.#managerRoles;
    this.#managerRoles = null;
    await roles?.stop();
  }

  /** Stops everything and forgets the cluster (failed init, leave). */
  async #teardown(): Promise<void> {
    await this.#stopRoles();
    const manager = this.#manager;
    this.#manager = null;
    if (manager) await manager.destroy();
    clearInterval(this.#followTimer);
    await this.#streams?.stop();
    this.#streams = null;
    await this.#peers?.stop();
    this.#peers = null;
    this.#session = null;
    this.#membership = null;
    await this.#cache?.remove();
    this.#cache = null;
    await this.#mesh.update({ services: [] });
    await this.#file.remove();
    this.#changed();
  }

  // --- network and session ------------------------------------------------------------------------------------

  async #startNetwork(membership: Membership): Promise<void> {
    const { nodeId, log } = this.#options;
    const peers = new PeerNetwork({
      selfId: nodeId,
      listenAddr: membership.listenAddr,
      log,
      serverSecurity: (kind) => this.#serverSecurity(kind),
      dialSecurity: () => this.#controlSecurity(),
      addressesOf: (id) => this.#addressesOf(id),
      onJoinChannel: (channel) => {
        if (this.#admission) this.#admission.serveJoin(channel);
        else channel.close('not a manager');
      },
    });
    this.logStreams.serve(peers);
    const streams = muxPoolOver(peers, { selfId: nodeId, log });
    // Served both ways: over the multiplexed link, and on a channel of their own for nodes that do not speak it.
    this.#mesh.serve({
      serveStreams: (type, handler) => {
        peers.serveStreams(type, handler);
        streams.serveStreams(type, handler);
      },
    });
    await peers.start();
    this.#peers = peers;
    this.#streams = streams;
    const cache = new AssignmentCache(this.#options.dataDir, log);
    this.#cache = cache;
    const cached = await cache.load();
    const session = new NodeSession({
      cache: { cached, save: (assignments) => cache.save(assignments) },
      selfId: nodeId,
      peers,
      managers: () => this.knownManagers(),
      advertiseAddr: () => this.#membership?.advertiseAddr ?? '',
      isLocalLeader: () => this.#manager?.driver.node.status().role === 'leader',
      local: () => (this.#manager ? this.#localDispatcher : null),
      onInfo: (info) => this.#onSessionInfo(info),
      onMesh: (table) => void this.#mesh.update(table),
      log,
    });
    this.#session = session;
    session.start();
    this.#reporter?.stop();
    this.#reporter = new NodeReporter({ describe: () => this.#describe(), send: (description) => session.describe(description), log });
    this.#reporter.start();
    clearInterval(this.#followTimer);
    this.#followTimer = setInterval(() => {
      void this.#followAddress().catch(() => {});
      void this.#rotationStep().catch((err: unknown) => this.#options.log.warn(`root key rotation: ${describeError(err)}`));
    }, ADDRESS_CHECK_MS);
    this.#followTimer.unref();
  }

  #serverSecurity(kind: ChannelKind): ChannelSecurity | null {
    if (kind === 'join') {
      const manager = this.#manager;
      const security = manager?.proposer.state.security;
      if (!this.#membership || !manager || !security) return null;
      return { identity: managerBundleIdentity(this.#membership.certificate, trustedRootKeys(security), this.#options.identity), verifyPeer: verifyJoinRequest };
    }
    return this.#membership ? this.#controlSecurity() : null;
  }

  #controlSecurity(): ChannelSecurity {
    const membership = this.#membership!;
    const manager = this.#manager;
    const security = () => manager?.proposer.state.security ?? null;
    return {
      identity: memberIdentity(membership.certificate, this.#options.identity),
      verifyPeer: verifyMember({
        roots: () => security() ? trustedRootKeys(security()!) : membership.roots.map((r) => fromBase64url(r, KEY_BYTES)!),
        now: () => (manager ? Date.now() : null),
        isRevoked: (id) => Boolean(security()?.revoked[id]),
        signingKeyOf: (id) => security()?.members[id]?.signingKey,
        // Workers take workers too, for the routing mesh (a task on one, a client on the other), but only those the
        // leader's last mesh table lists as members: a worker has no revocation list of its own.
        acceptRoles: ['manager', 'worker'],
        ...(manager || membership.role === 'manager' ? {} : { admitsWorker: (id: string) => this.#mesh.isMember(id) }),
      }),
    };
  }

  #addressesOf(nodeId: string): string[] {
    const addresses: string[] = [];
    const member = this.#manager?.proposer.state.security?.members[nodeId];
    if (member) addresses.push(member.addr);
    for (const known of this.#membership?.managers ?? []) if (known.nodeId === nodeId) addresses.push(known.addr);
    const discovered = this.#discovered.get(nodeId);
    if (discovered) addresses.push(discovered);
    // A worker reaching a task on another worker: the leader's mesh table says where that node is.
    const meshKnown = this.#mesh.nodeAddress(nodeId);
    if (meshKnown) addresses.push(meshKnown);
    return [...new Set(addresses)];
  }

  /** A manager found over mDNS, perhaps at a new address (DHCP): the next dial tries it. */
  noteDiscovered(nodeId: string, addr: string): void {
    this.#discovered.set(nodeId, addr);
  }

  #onSessionInfo(info: SessionInfo): void {
    const membership = this.#membership;
    if (!membership) return;
    const offset = info.now - Date.now();
    const managers = info.managers.length > 0 ? info.managers : membership.managers;
    const changed = JSON.stringify(managers) !== JSON.stringify(membership.managers) || JSON.stringify(info.roots) !== JSON.stringify(membership.roots);
    membership.clockOffsetMs = offset;
    if (changed) {
      membership.managers = managers;
      if (info.roots.length > 0) membership.roots = info.roots;
      this.#file.write(membership).catch((err: unknown) => this.#options.log.warn(`saving the manager list: ${describeError(err)}`));
    }
    this.#sessionRole = info.role;
    if (info.role && info.role !== membership.certificate.role) void this.#renew(`its role is now ${info.role}`);
    else if (this.#renewalDue(membership, offset)) void this.#renew('its certificate is due for renewal');
    else if (this.#issuedByOldRoot(membership.certificate, info.roots)) void this.#renew('the cluster is rotating its root key');
    void this.#checkRole();
  }

  /** Whether a newer root than the one that signed `certificate` is trusted (the last of `roots` is the newest). */
  #issuedByOldRoot(certificate: Certificate, roots: string[]): boolean {
    const newest = roots.at(-1);
    const key = newest ? fromBase64url(newest, KEY_BYTES) : undefined;
    return key !== undefined && rootKeyDigest(key) !== certificate.issuer;
  }

  /**
   * The leader renews its own certificate in a root rotation (it has no session to learn of it from), and
   * finishes the rotation once every member's certificate comes from the new root: the old root is then no
   * longer trusted. Run on the address-check timer.
   */
  async #rotationStep(): Promise<void> {
    const manager = this.#manager;
    const membership = this.#membership;
    const security = manager?.proposer.state.security;
    if (!manager || !membership || !security || security.roots.length < 2) return;
    if (manager.driver.node.status().role !== 'leader') return;
    if (this.#issuedByOldRoot(membership.certificate, security.roots.map((root) => root.publicKey))) {
      await this.#renew('the cluster is rotating its root key');
      return;
    }
    const digest = clusterDigest(security);
    const behind = Object.entries(security.members).filter(([, member]) => member.issuer !== digest);
    if (behind.length > 0) return;
    await manager.proposer.propose({ type: 'ca.finish', root: activeRoot(security).publicKey });
    this.#options.log.info('root key rotation finished: every node holds a certificate from the new root; the old root is no longer trusted');
  }

  #renewalDue(membership: Membership, offset: number): boolean {
    const { issuedAt, expiresAt } = membership.certificate;
    const clusterNow = Date.now() + offset;
    return expiresAt - clusterNow < (expiresAt - issuedAt) / 3;
  }


  async #renew(why: string): Promise<void> {
    const membership = this.#membership;
    if (!membership || this.#renewing) return;
    this.#renewing = true;
    try {
      const target = this.#session?.leader || membership.managers.find((m) => m.nodeId !== this.#options.nodeId)?.nodeId;
      const leading = this.#manager?.driver.node.status().role === 'leader';
      const answer = this.#admission && leading
        ? await this.#admission.renew(this.#options.nodeId)
        : ((await this.#peers!.request(target ?? '', { type: 'renew' }, 5_000)) as { certificate: Certificate; roots: string[] });
      if (typeof decodeCertificate(encodeCertificate(answer.certificate)) === 'string') throw new Error('the manager sent a malformed certificate');
      if (answer.certificate.nodeId !== this.#options.nodeId) throw new Error('the manager sent a certificate for another node');
      membership.certificate = answer.certificate;
      membership.roots = answer.roots;
      membership.role = answer.certificate.role;
      await this.#file.write(membership);
      this.#options.log.info(`certificate renewed (${why}); valid until ${new Date(answer.certificate.expiresAt).toISOString()}`);
      await this.#checkRole();
    } catch (err) {
      this.#options.log.warn(`certificate renewal (${why}) failed: ${describeError(err)}`);
    } finally {
      this.#renewing = false;
    }
  }

  /**
   * Moves between roles when the cluster changed this node's: a manager demoted and already out of Raft
   * becomes a worker; a worker whose certificate now says manager starts its replicated state.
   */
  async #checkRole(): Promise<void> {
    const membership = this.#membership;
    if (!membership || this.#changingRole || this.#stopped) return;
    this.#changingRole = true;
    try {
      const manager = this.#manager;
      if (manager) {
        // The leader's word (the session) says this node is a worker now; the leader takes it out of Raft.
        if (this.#sessionRole === 'worker' && manager.driver.node.status().role !== 'leader') {
          this.#options.log.info('demoted: leaving the managers, carrying on as a worker');
          await this.#managerRoles?.stop();
          this.#managerRoles = null;
          this.#manager = null;
          await manager.destroy();
          membership.role = 'worker';
          await this.#file.write(membership);
          this.#changed();
        }
      } else if (membership.certificate.role === 'manager') {
        this.#options.log.info('promoted: starting the replicated state; the leader adds this node to Raft');
        membership.role = 'manager';
        await this.#file.write(membership);
        await this.#becomeManager(true);
        this.#changed();
      }
    } catch (err) {
      this.#options.log.error(`changing role: ${describeError(err)}`);
    } finally {
      this.#changingRole = false;
    }
  }

  #advertise(requested: string | undefined, listenAddr: string): string {
    const port = splitAddress(listenAddr).port;
    const given = requested ?? this.#options.advertiseAddr;
    if (given) {
      try {
        return withPort(given, port);
      } catch (err) {
        throw invalidArgument(`invalid advertise address "${given}": give an IP address, optionally with a port`, err);
      }
    }
    const { host } = splitAddress(listenAddr);
    if (host !== '0.0.0.0') return listenAddr;
    const detected = defaultAdvertiseAddress();
    if (!detected) {
      throw new SwarmletError('invalid_argument', 'could not choose an address to advertise: this machine has none outside containers and loopback. Give one with --advertise-addr IP');
    }
    return `${detected}:${port}`;
  }

  #isAuto(requested: string | undefined, listenAddr: string): boolean {
    return !(requested ?? this.#options.advertiseAddr) && splitAddress(listenAddr).host === '0.0.0.0';
  }

  /** What this node is, as its engine says, with the published ports its routing mesh could not open. */
  async #describe(): Promise<NodeDescription> {
    return withMeshPortConflicts(await this.#options.description(), this.#mesh.portConflicts);
  }

  /**
   * A node whose address swarmlet chose follows the machine's: when DHCP hands out another one, the node
   * advertises it (mDNS), reports it with its next heartbeat, and a manager records it for the other managers.
   */
  async #followAddress(): Promise<void> {
    const membership = this.#membership;
    if (!membership?.advertiseAuto) return;
    const detected = defaultAdvertiseAddress();
    const { host, port } = splitAddress(membership.advertiseAddr);
    if (!detected || detected === host) return;
    const addr = `${detected}:${port}`;
    this.#options.log.info(`this node's address changed from ${host} to ${detected}; advertising ${addr}`);
    membership.advertiseAddr = addr;
    await this.#file.write(membership);
    this.#changed();
    if (this.#manager) {
      await this.#manager.proposer
        .propose({ type: 'member.update', nodeId: this.#options.nodeId, addr })
        .catch((err: unknown) => this.#options.log.warn(`recording the new address: ${describeError(err)}`));
    }
  }

  #changed(): void {
    this.#options.onMembershipChange?.(this.#membership);
  }

  /** Known managers, for discovery's TXT records and the API. */
  knownManagers(): KnownManager[] {
    const state = this.#manager?.proposer.state;
    return state ? managersOf(state) : (this.#membership?.managers ?? []);
  }
}

function managerOptions(options: ClusterNodeOptions) {
  return { dataDir: options.dataDir, nodeId: options.nodeId, random: options.random, log: options.log };
}

