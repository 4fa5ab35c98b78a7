/**
 * The pure manager state machine: `apply(command)` validates, then mutates. A command that fails validation
 * throws before touching anything, so a rejected command leaves the state exactly as it was — on every
 * manager, since validation depends only on the state and the command.
 *
 * Beside the state it keeps an index of the network addresses in use (networks.ts), rebuilt whenever the state is
 * replaced, and told of every change that gives out or frees an address: services' virtual IPs, and tasks'
 * addresses, given when a task is first stored and freed when it ends or is deleted.
 */

import type { Endpoint, Task, TaskState } from '../../api/types.ts';
import { TASK_STATES } from '../../api/types.ts';
import { conflict, notFound, unavailable } from '../../errors.ts';
import type { ClusterState } from './cluster-state.ts';
import { emptyClusterState, isDelivered, isTerminal, withDefaults } from './cluster-state.ts';
import type {
  Command,
  CreateNetwork,
  CreateService,
  JoinNode,
  PutTasks,
  RemoveNetwork,
  RemoveNode,
  ReportTaskStatus,
  RotateRoot,
  UpdateNode,
  SetUpdateStatus,
  UpdateService,
} from './commands.ts';
import { makeEndpoint } from './endpoints.ts';
import { checkAddressing, checkNetworkName, checkServiceNetworks, makeNetwork, NetworkAddresses, networkUsers, withTaskNetworks } from './networks.ts';
import type { ClusterSecurity } from './security.ts';

const stateRank = (state: TaskState) => TASK_STATES.indexOf(state);

export class StateMachine {
  private current: ClusterState;
  #addresses: NetworkAddresses;

  constructor(initial: ClusterState = emptyClusterState()) {
    this.current = withDefaults(initial);
    this.#addresses = new NetworkAddresses(this.current);
  }

  /** The live state. Callers must treat it as read-only; only `apply` changes it. */
  get state(): ClusterState {
    return this.current;
  }

  /** The network addresses in use, as an index over `state`; read-only for callers. */
  get addresses(): NetworkAddresses {
    return this.#addresses;
  }

  /** Replaces the whole state: after a failed save, or (with Raft) when a snapshot is installed. */
  reset(state: ClusterState): void {
    // States written before node security or networks existed have no such fields.
    this.current = withDefaults(state);
    this.#addresses = new NetworkAddresses(this.current);
  }

  apply(command: Command): void {
    if (command.type !== 'swarm.init' && !this.current.swarm) {
      throw unavailable('This node is not a swarm manager. Use "swarmlet init" to create a cluster and try again.');
    }
    switch (command.type) {
      case 'swarm.init':
        this.initSwarm(command.swarm, command.node);
        this.current.security = command.security;
        return;
      case 'swarm.leave':
        this.reset(emptyClusterState());
        return;
      case 'node.report':
        return this.nodeReport(command);
      case 'node.describe':
        return this.describeNode(command);
      case 'node.join':
        return this.joinNode(command);
      case 'node.update':
        return this.updateNode(command);
      case 'node.remove':
        return this.removeNode(command);
      case 'node.status':
        return this.nodeStatus(command);
      case 'member.update': {
        const member = this.security().members[command.nodeId];
        if (!member) throw notFound(`node ${command.nodeId} is not a member`);
        if (command.addr !== undefined) {
          member.addr = command.addr;
          const node = this.current.nodes[command.nodeId];
          if (node) {
            node.Status = { ...node.Status, Addr: command.addr.replace(/:\d+$/, '') };
            if (node.ManagerStatus) node.ManagerStatus = { ...node.ManagerStatus, Addr: command.addr };
          }
        }
        if (command.issuer !== undefined) member.issuer = command.issuer;
        this.bump();
        return;
      }
      case 'token.rotate':
        this.security().tokens[command.role] = command.token;
        this.bumpSwarm();
        return;
      case 'ca.rotate':
        return this.rotateRoot(command);
      case 'ca.finish': {
        const security = this.security();
        const keep = security.roots.filter((root) => root.publicKey === command.root);
        if (keep.length !== 1) throw notFound('that root key is not trusted by this cluster');
        security.roots = keep;
        this.current.swarm!.RootRotationInProgress = false;
        this.bumpSwarm();
        return;
      }
      case 'service.create':
        return this.createService(command);
      case 'service.update':
        return this.updateService(command);
      case 'service.status':
        return this.setUpdateStatus(command);
      case 'service.remove':
        return this.removeService(command.id, command.now);
      case 'network.create':
        return this.createNetwork(command);
      case 'network.remove':
        return this.removeNetwork(command);
      case 'tasks.put':
        return this.putTasks(command);
      case 'tasks.status':
        return this.reportStatus(command);
      case 'tasks.delete':
        for (const id of command.ids) {
          const task = this.current.tasks[id];
          if (task && !isTerminal(task.Status.State)) this.#addresses.release(task);
          delete this.current.tasks[id];
        }
        this.bump();
        return;
    }
  }

  private bump(): number {
    this.current.index += 1;
    return this.current.index;
  }

  private initSwarm(swarm: ClusterState['swarm'], node: ClusterState['nodes'][string]): void {
    if (this.current.swarm) {
      throw unavailable('This node is already part of a swarm. Use "swarmlet leave --force" to leave it first.');
    }
    const index = this.bump();
    this.current.swarm = { ...swarm!, Version: { Index: index } };
    this.current.nodes[node.ID] = { ...node, Version: { Index: index } };
  }

  private security(): ClusterSecurity {
    if (!this.current.security) throw unavailable('this cluster was created before node security existed: recreate it with "swarmlet init --force-new-cluster"');
    return this.current.security;
  }

  private bumpSwarm(): void {
    const index = this.bump();
    this.current.swarm!.Version = { Index: index };
  }

  private joinNode(command: JoinNode): void {
    const security = this.security();
    const id = command.node.ID;
    if (security.revoked[id]) {
      throw conflict(
        `node ${id} was removed from this cluster and cannot join it again with the same identity. On that node, run ` +
          '"swarmlet leave --force", stop swarmlet and move its data directory away (it then starts as a new node), and join again.',
      );
    }
    const known = security.members[id];
    if (known && (known.signingKey !== command.member.signingKey || known.agreementKey !== command.member.agreementKey)) {
      throw conflict(`node ID ${id} already belongs to another node of this cluster; the joining node must get a new identity (stop swarmlet on it and move its data directory away) before joining`);
    }
    const index = this.bump();
    const existing = this.current.nodes[id];
    security.members[id] = { ...command.member };
    this.current.nodes[id] = existing
      ? { ...existing, Description: command.node.Description, Status: command.node.Status, UpdatedAt: command.node.UpdatedAt, Version: { Index: index } }
      : { ...command.node, Version: { Index: index } };
  }

  private updateNode(command: UpdateNode): void {
    const node = this.current.nodes[command.id];
    if (!node) throw notFound(`node ${command.id} not found`);
    if (node.Version.Index !== command.version) {
      throw conflict(`update out of sequence: node ${command.id} is at version ${node.Version.Index}, not ${command.version}; inspect it again and retry`);
    }
    if (node.Spec.Role === 'manager' && command.spec.Role === 'worker') {
      const managers = Object.values(this.current.nodes).filter((n) => n.Spec.Role === 'manager');
      if (managers.length === 1) throw conflict('attempting to demote the last manager of the swarm: promote another node first');
    }
    const index = this.bump();
    node.Spec = command.spec;
    node.UpdatedAt = command.now;
    node.Version = { Index: index };
  }

  private removeNode(command: RemoveNode): void {
    const node = this.current.nodes[command.id];
    if (!node) throw notFound(`node ${command.id} not found`);
    if (node.Spec.Role === 'manager') {
      throw conflict(`node ${command.id} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal`);
    }
    if (node.Status.State !== 'down' && !command.force) {
      throw conflict(`node ${command.id} is not down and can't be removed: stop it, or use --force`);
    }
    const security = this.security();
    const index = this.bump();
    delete this.current.nodes[command.id];
    delete security.members[command.id];
    security.revoked[command.id] = command.now;
    // Its tasks will never be reported on again: they end here, so their slots are filled elsewhere.
    for (const task of Object.values(this.current.tasks)) {
      if (task.NodeID !== command.id || isTerminal(task.Status.State)) continue;
      this.#addresses.release(task);
      task.Status = { Timestamp: command.now, State: 'orphaned', Message: 'node removed from the cluster' };
      task.DesiredState = 'shutdown';
      task.UpdatedAt = command.now;
      task.Version = { Index: index };
    }
  }

  private nodeStatus(command: Extract<Command, { type: 'node.status' }>): void {
    const changes = command.changes.filter((change) => this.current.nodes[change.nodeId]);
    if (changes.length === 0) return;
    // Status is observed, not specified: it moves the cluster's index (watchers see it) but not the node's
    // Version, so a `node update` read a moment earlier is not refused as out of sequence by a heartbeat.
    this.bump();
    for (const change of changes) {
      const node = this.current.nodes[change.nodeId]!;
      node.Status = { ...node.Status, State: change.state, Message: change.message };
      node.UpdatedAt = command.now;
    }
  }

  private rotateRoot(command: RotateRoot): void {
    const security = this.security();
    if (security.roots.length > 1) throw conflict('a root key rotation is already in progress; wait for it to finish');
    security.roots.push(command.root);
    security.tokens = command.tokens;
    this.current.swarm!.RootRotationInProgress = true;
    if (command.forceRotate !== undefined) this.current.swarm!.Spec.CAConfig.ForceRotate = command.forceRotate;
    this.bumpSwarm();
  }

  private nodeReport(command: Extract<Command, { type: 'node.report' }>): void {
    const node = this.current.nodes[command.nodeId];
    if (!node) throw notFound(`node ${command.nodeId} not found`);
    // Like a status change, a report of what the node is leaves its Version (the spec's) alone.
    this.bump();
    node.Description = command.description;
    node.Status = { State: 'ready', Addr: command.addr };
    node.UpdatedAt = command.now;
  }

  private describeNode(command: Extract<Command, { type: 'node.describe' }>): void {
    const node = this.current.nodes[command.nodeId];
    // A node removed while its report was on the way: nothing to describe.
    if (!node) return;
    this.bump();
    node.Description = command.description;
    node.UpdatedAt = command.now;
  }

  private serviceNamed(name: string) {
    return Object.values(this.current.services).find((service) => service.Spec.Name === name);
  }

  private createService(command: CreateService): void {
    if (this.current.services[command.id]) throw conflict(`service ${command.id} already exists`);
    const spec = withTaskNetworks(command.spec);
    if (this.serviceNamed(spec.Name)) {
      throw conflict(`service ${spec.Name} already exists: choose another --name, or remove it first`);
    }
    checkServiceNetworks(this.current.networks, spec);
    const endpoint = makeEndpoint(command.id, spec, undefined, Object.values(this.current.services));
    const vips = this.#addresses.planVips(spec.Name, spec, undefined);
    const index = this.bump();
    this.current.services[command.id] = {
      ID: command.id,
      Version: { Index: index },
      CreatedAt: command.now,
      UpdatedAt: command.now,
      Spec: spec,
      Endpoint: withVips(endpoint, this.#addresses.commitVips(vips)),
    };
  }

  private updateService(command: UpdateService): void {
    const service = this.current.services[command.id];
    if (!service) throw notFound(`service ${command.id} not found`);
    if (service.Version.Index !== command.version) {
      throw conflict(
        `update out of sequence: service ${service.Spec.Name} is at version ${service.Version.Index}, not ${command.version}; inspect it again and retry`,
      );
    }
    if (command.spec.Name !== service.Spec.Name) {
      throw conflict(`renaming a service is not supported (from ${service.Spec.Name} to ${command.spec.Name})`);
    }
    const mode = (spec: typeof command.spec) => (spec.Mode?.Global ? 'global' : 'replicated');
    if (mode(command.spec) !== mode(service.Spec)) {
      throw conflict(`service mode change is not allowed: ${service.Spec.Name} stays ${mode(service.Spec)}`);
    }
    const spec = withTaskNetworks(command.spec);
    checkServiceNetworks(this.current.networks, spec);
    const endpoint = makeEndpoint(service.ID, spec, service.Endpoint, Object.values(this.current.services));
    const vips = this.#addresses.planVips(spec.Name, spec, service.Endpoint);
    const index = this.bump();
    service.PreviousSpec = service.Spec;
    service.Spec = spec;
    service.Endpoint = withVips(endpoint, this.#addresses.commitVips(vips));
    service.UpdatedAt = command.now;
    service.Version = { Index: index };
    if (command.rollback !== undefined) {
      service.UpdateStatus = { State: 'rollback_started', StartedAt: command.now, Message: command.rollback };
    } else {
      delete service.UpdateStatus;
    }
  }

  private setUpdateStatus(command: SetUpdateStatus): void {
    const current = command.updates.filter(({ id, version }) => this.current.services[id]?.Version.Index === version);
    if (current.length === 0) return;
    this.bump();
    for (const { id, status } of current) this.current.services[id]!.UpdateStatus = status;
  }

  private removeService(id: string, now: string): void {
    const service = this.current.services[id];
    if (!service) throw notFound(`service ${id} not found`);
    const index = this.bump();
    delete this.current.services[id];
    this.#addresses.releaseVips(service.Endpoint?.VirtualIPs ?? []);
    for (const task of Object.values(this.current.tasks)) {
      if (task.ServiceID !== id || task.DesiredState === 'remove') continue;
      task.DesiredState = 'remove';
      // No agent will ever report on a task it was never given: it ends here.
      if (!isDelivered(task) && !isTerminal(task.Status.State)) {
        this.#addresses.release(task);
        task.Status = { Timestamp: now, State: 'shutdown', Message: 'removed before scheduling' };
      }
      task.UpdatedAt = now;
      task.Version = { Index: index };
    }
  }

  private createNetwork(command: CreateNetwork): void {
    if (this.current.networks[command.id]) throw conflict(`network ${command.id} already exists`);
    checkNetworkName(command.spec.Name);
    if (Object.values(this.current.networks).some((network) => network.Spec.Name === command.spec.Name)) {
      throw conflict(`network with name ${command.spec.Name} already exists: choose another name, or remove it first`);
    }
    const { subnet, gateway } = checkAddressing(Object.values(this.current.networks), command.subnet, command.gateway);
    const index = this.bump();
    const network = makeNetwork({ id: command.id, spec: command.spec, subnet, gateway, now: command.now, index });
    this.current.networks[command.id] = network;
    this.#addresses.add(network);
  }

  private removeNetwork(command: RemoveNetwork): void {
    const network = this.current.networks[command.id];
    if (!network) throw notFound(`network ${command.id} not found`);
    const name = network.Spec.Name;
    const users = networkUsers(this.current, command.id);
    if (users.service) {
      throw conflict(
        `network ${name} is in use by service ${users.service}: remove the service, or detach it with ` +
          `"swarmlet service update --network-rm ${name} ${users.service}", first`,
      );
    }
    if (users.task) {
      throw conflict(`network ${name} is in use by task ${users.task}, which has not stopped yet: wait for it to stop and try again`);
    }
    this.bump();
    delete this.current.networks[command.id];
    this.#addresses.remove(command.id);
  }

  /**
   * Decisions are computed from a snapshot and may arrive after other changes to the same tasks: a task whose
   * version moved on since it was read is skipped (the next pass decides again), so a stale decision never
   * overwrites a newer observation — Swarm's store does the same check.
   *
   * A new task gets its network addresses here; a task whose networks have no free address is stored rejected,
   * with the reason, rather than left pending: it may already be assigned to a node in this very batch, and a task
   * left there without its address would run cut off from its network. Its restart policy then retries after the
   * restart delay, which is Swarm's pace for a task that could not start. A task already stored keeps the
   * addresses it holds (the ones a decision carries are ignored) and frees them when it ends.
   */
  private putTasks(command: PutTasks): void {
    const fresh = command.tasks.filter((task) => {
      const existing = this.current.tasks[task.ID];
      if (existing) return existing.Version.Index === task.Version.Index;
      return this.current.services[task.ServiceID] !== undefined;
    });
    if (fresh.length === 0) return;
    const index = this.bump();
    for (const task of fresh) {
      const existing = this.current.tasks[task.ID];
      const stored: Task = { ...task, UpdatedAt: command.now, Version: { Index: index } };
      delete stored.NetworksAttachments;
      const live = !isTerminal(stored.Status.State);
      if (existing && !isTerminal(existing.Status.State)) {
        if (existing.NetworksAttachments) stored.NetworksAttachments = existing.NetworksAttachments;
        if (!live) this.#addresses.release(existing);
      } else if (live && stored.Spec.Networks?.length) {
        const attached = this.#addresses.attach(stored);
        if ('error' in attached) {
          stored.Status = { Timestamp: command.now, State: 'rejected', Message: 'network attachment failed', Err: attached.error };
        } else {
          stored.NetworksAttachments = attached;
        }
      } else if (existing?.NetworksAttachments) {
        stored.NetworksAttachments = existing.NetworksAttachments;
      }
      this.current.tasks[task.ID] = stored;
    }
  }

  /**
   * Agents report what they observe. A report only moves a task forward (a late "running" never undoes a
   * "failed"), and only the node the task is assigned to may report on it; stale reports are dropped, not errors,
   * because they are normal after reconnects and restarts.
   */
  private reportStatus(command: ReportTaskStatus): void {
    const accepted: Array<[Task, ReportTaskStatus['updates'][number]]> = [];
    for (const update of command.updates) {
      const task = this.current.tasks[update.taskId];
      if (!task || task.NodeID !== command.nodeId) continue;
      if (stateRank(update.status.State) < stateRank(task.Status.State)) continue;
      accepted.push([task, update]);
    }
    if (accepted.length === 0) return;
    const index = this.bump();
    for (const [task, update] of accepted) {
      if (!isTerminal(task.Status.State) && isTerminal(update.status.State)) this.#addresses.release(task);
      if (update.status.State === 'running' && task.ReadyAt === undefined) task.ReadyAt = command.now;
      task.Status = update.status;
      task.UpdatedAt = command.now;
      task.Version = { Index: index };
    }
  }
}

/** An endpoint with the service's virtual IPs, or without the field when it holds none. */
function withVips(endpoint: Endpoint, vips: NonNullable<Endpoint['VirtualIPs']>): Endpoint {
  return vips.length > 0 ? { ...endpoint, VirtualIPs: vips } : endpoint;
}
