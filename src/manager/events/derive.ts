/**
 * Cluster events from applied commands, as a pure function: `touchedBy(state, command)` keeps, before the command
 * is applied, the records it may change; `deriveEvents(touched, command, state, now)` compares them with the
 * records after. Every manager applies the same commands to the same state, so every manager derives the same
 * events — a follower's stream carries what the leader's does.
 *
 * The state machine changes a record by replacing its top-level fields (`node.Spec = spec`, `task.Status = status`),
 * never by editing inside them, so a shallow copy taken before is an exact picture of the record as it was.
 */

import type { Network, Node, Service, Task } from '../../api/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import type { Command } from '../state/commands.ts';
import type { ClusterEvent, ClusterEventType } from './cluster-event.ts';

/** The records a command may change, as they were; undefined for one that did not exist yet. */
export interface Touched {
  nodes: Map<string, Node | undefined>;
  services: Map<string, Service | undefined>;
  tasks: Map<string, Task | undefined>;
  networks: Map<string, Network | undefined>;
}

const copy = <T extends object>(record: T | undefined): T | undefined => (record ? { ...record } : undefined);

/**
 * What `command` may change in `state`. Commands about the swarm object itself (token and root rotation, leave)
 * touch nothing here: Docker reports no events for them either.
 */
export function touchedBy(state: ClusterState, command: Command): Touched {
  const touched: Touched = { nodes: new Map(), services: new Map(), tasks: new Map(), networks: new Map() };
  const node = (id: string) => touched.nodes.set(id, copy(state.nodes[id]));
  const service = (id: string) => touched.services.set(id, copy(state.services[id]));
  const task = (id: string) => touched.tasks.set(id, copy(state.tasks[id]));
  const tasksWhere = (test: (task: Task) => boolean) => {
    for (const each of Object.values(state.tasks)) if (test(each)) task(each.ID);
  };
  switch (command.type) {
    case 'swarm.init':
    case 'node.join':
      node(command.node.ID);
      break;
    case 'node.update':
      node(command.id);
      break;
    case 'node.remove':
      node(command.id);
      // Its tasks are ended with it.
      tasksWhere((each) => each.NodeID === command.id);
      break;
    case 'node.status':
      for (const change of command.changes) node(change.nodeId);
      break;
    case 'node.report':
    case 'node.describe':
    case 'member.update':
      node(command.nodeId);
      break;
    case 'service.create':
    case 'service.update':
      service(command.id);
      break;
    case 'service.status':
      for (const update of command.updates) service(update.id);
      break;
    case 'service.remove':
      service(command.id);
      tasksWhere((each) => each.ServiceID === command.id);
      break;
    case 'tasks.put':
      for (const each of command.tasks) task(each.ID);
      break;
    case 'tasks.status':
      for (const update of command.updates) task(update.taskId);
      break;
    case 'tasks.delete':
      for (const id of command.ids) task(id);
      break;
    case 'network.create':
    case 'network.remove':
      touched.networks.set(command.id, copy(state.networks?.[command.id]));
      break;
    case 'swarm.leave':
    case 'token.rotate':
    case 'ca.rotate':
    case 'ca.finish':
      break;
  }
  return touched;
}

/** `field.old` / `field.new` when the value changed. */
function changed(attributes: Record<string, string>, field: string, before: string | undefined, after: string | undefined): void {
  if (before === after) return;
  attributes[`${field}.old`] = before ?? '';
  attributes[`${field}.new`] = after ?? '';
}

/** Whether the state machine wrote the record: it replaces a field it changes, so references tell. */
function written<T extends object>(before: T, after: T): boolean {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]) as Set<keyof T>;
  for (const key of keys) if (before[key] !== after[key]) return true;
  return false;
}

function event(Type: ClusterEventType, Action: ClusterEvent['Action'], ID: string, Attributes: Record<string, string>, at: number): ClusterEvent {
  return { Type, Action, Actor: { ID, Attributes }, at };
}

/** Docker names a node by its spec's name, else its hostname. */
const nodeName = (node: Node) => node.Spec.Name || node.Description.Hostname;

function nodeEvent(id: string, before: Node | undefined, after: Node | undefined, at: number): ClusterEvent | undefined {
  if (!before && after) return event('node', 'create', id, { name: nodeName(after) }, at);
  if (before && !after) return event('node', 'remove', id, { name: nodeName(before) }, at);
  if (!before || !after || !written(before, after)) return undefined;
  const attributes: Record<string, string> = { name: nodeName(after) };
  changed(attributes, 'availability', before.Spec.Availability, after.Spec.Availability);
  changed(attributes, 'role', before.Spec.Role, after.Spec.Role);
  changed(attributes, 'state', before.Status.State, after.Status.State);
  return event('node', 'update', id, attributes, at);
}

const replicas = (service: Service) => (service.Spec.Mode?.Global ? undefined : String(service.Spec.Mode?.Replicated?.Replicas ?? 1));

function serviceEvent(id: string, before: Service | undefined, after: Service | undefined, at: number): ClusterEvent | undefined {
  if (!before && after) return event('service', 'create', id, { name: after.Spec.Name }, at);
  if (before && !after) return event('service', 'remove', id, { name: before.Spec.Name }, at);
  if (!before || !after || !written(before, after)) return undefined;
  const attributes: Record<string, string> = { name: after.Spec.Name };
  changed(attributes, 'image', before.Spec.TaskTemplate.ContainerSpec.Image, after.Spec.TaskTemplate.ContainerSpec.Image);
  changed(attributes, 'replicas', replicas(before), replicas(after));
  changed(attributes, 'updatestate', before.UpdateStatus?.State, after.UpdateStatus?.State);
  return event('service', 'update', id, attributes, at);
}

/**
 * A task's identity in its events: `web.2` as `service ps` names it, its service and, once placed, its node. The
 * service may be gone already (its tasks are forgotten after it): its ID then stands in for its name.
 */
function taskAttributes(task: Task, serviceName: string | undefined): Record<string, string> {
  const service = serviceName ?? task.ServiceID;
  return {
    name: `${service}.${task.Slot ?? task.NodeID ?? task.ID}`,
    'service.id': task.ServiceID,
    'service.name': service,
    ...(task.NodeID ? { 'node.id': task.NodeID } : {}),
    ...(task.Slot !== undefined ? { slot: String(task.Slot) } : {}),
  };
}

/**
 * A task's update is a change of its state, its desired state or its node; a re-sent report of the same state
 * is not an event.
 */
function taskEvent(id: string, before: Task | undefined, after: Task | undefined, serviceName: (id: string) => string | undefined, at: number): ClusterEvent | undefined {
  const current = after ?? before;
  if (!current) return undefined;
  const attributes = taskAttributes(current, serviceName(current.ServiceID));
  if (!before) return event('task', 'create', id, attributes, at);
  if (!after) return event('task', 'remove', id, attributes, at);
  if (before.Status.State === after.Status.State && before.DesiredState === after.DesiredState && before.NodeID === after.NodeID) return undefined;
  changed(attributes, 'state', before.Status.State, after.Status.State);
  changed(attributes, 'desiredstate', before.DesiredState, after.DesiredState);
  return event('task', 'update', id, attributes, at);
}

/** The time a command carries: its `now`, or for a node's arrival the node's own timestamp. */
function commandTime(command: Command): number | undefined {
  const carried = 'now' in command ? command.now : 'node' in command ? command.node.UpdatedAt : undefined;
  const at = carried === undefined ? Number.NaN : Date.parse(carried);
  return Number.isNaN(at) ? undefined : at;
}

/**
 * The events `command` caused, given what it touched before and the state after it was applied. `now` (ms) is
 * the time of commands that carry none. Nodes come first, then services, then tasks, so a service's creation
 * precedes its tasks' and a removal is followed by the ending of what it held.
 */
export function deriveEvents(touched: Touched, command: Command, state: ClusterState, now: number): ClusterEvent[] {
  const at = commandTime(command) ?? now;
  const events: ClusterEvent[] = [];
  const keep = (found: ClusterEvent | undefined) => {
    if (found) events.push(found);
  };
  for (const [id, before] of touched.nodes) keep(nodeEvent(id, before, state.nodes[id], at));
  for (const [id, before] of touched.services) keep(serviceEvent(id, before, state.services[id], at));
  for (const [id, before] of touched.networks) {
    const after = state.networks?.[id];
    // As Docker reports a swarm network's creation and removal: with its name and driver.
    if (!before && after) keep(event('network', 'create', id, { name: after.Spec.Name, type: 'overlay' }, at));
    if (before && !after) keep(event('network', 'remove', id, { name: before.Spec.Name, type: 'overlay' }, at));
  }
  const serviceName = (id: string) => (state.services[id] ?? touched.services.get(id))?.Spec.Name;
  for (const [id, before] of touched.tasks) keep(taskEvent(id, before, state.tasks[id], serviceName, at));
  return events;
}
