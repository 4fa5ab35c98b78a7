/**
 * /services: create, list, inspect, update and remove services. Every change is a committed command. The networks
 * a spec names (by name, ID or ID prefix) are stored by ID, resolved here against the state read at the request.
 */

import { MESH_PORT_ERRORS, type EndpointPortConfig, type EndpointSpec, type Service, type ServiceSpec } from '../../api/types.ts';
import { invalidArgument } from '../../errors.ts';
import { EXPOSE_LABEL, parseDeclaredPorts, PROXY_PROTOCOL_LABEL } from '../../manager/mesh-table.ts';
import { rollbackSpec } from '../../manager/orchestrator/updater.ts';
import type { ClusterState } from '../../manager/state/cluster-state.ts';
import { findService, requireSwarm } from '../../manager/state/queries.ts';
import { newId } from '../../util/ids.ts';
import { randomServiceName } from '../../util/names.ts';
import type { ApiContext } from '../context.ts';
import { accepts, labelMatches, parseFilters } from '../filters.ts';
import { readJson, sendJson } from '../http.ts';
import type { Router } from '../router.ts';
import { type EngineNetworks, resolveServiceNetworks } from './networks.ts';
import { parseServiceSpec } from '../schemas.ts';

const SERVICE_FILTERS = ['id', 'label', 'mode', 'name'] as const;

/** Fills what Docker fills when a client leaves it out, so stored specs are explicit. */
function withDefaults(spec: ServiceSpec, ctx: ApiContext): ServiceSpec {
  const mode = spec.Mode?.Global ? { Global: {} } : { Replicated: { Replicas: spec.Mode?.Replicated?.Replicas ?? 1 } };
  return { ...spec, Name: spec.Name || randomServiceName(ctx.random), Mode: mode, EndpointSpec: endpointDefaults(spec.EndpointSpec ?? {}) };
}

/** Docker stores an endpoint with its mode and each port's protocol and publish mode spelled out. */
function endpointDefaults({ Ports, ...spec }: EndpointSpec): EndpointSpec {
  const ports = (Ports ?? []).map(
    ({ PublishedPort, ...port }): EndpointPortConfig => ({
      ...port,
      Protocol: port.Protocol ?? 'tcp',
      ...(PublishedPort ? { PublishedPort } : {}),
      PublishMode: port.PublishMode ?? 'ingress',
    }),
  );
  return { ...spec, Mode: spec.Mode || 'vip', ...(ports.length > 0 ? { Ports: ports } : {}) };
}

/** Counts for `service ls`'s REPLICAS column (asked for with `?status=true`). */
export function serviceStatus(state: ClusterState, service: Service) {
  const tasks = Object.values(state.tasks).filter((task) => task.ServiceID === service.ID);
  const running = tasks.filter((task) => task.DesiredState === 'running' && task.Status.State === 'running').length;
  const desired = service.Spec.Mode?.Global
    ? tasks.filter((task) => task.DesiredState === 'running').length
    : (service.Spec.Mode?.Replicated?.Replicas ?? 1);
  const completed = tasks.filter((task) => task.Status.State === 'complete').length;
  return { RunningTasks: running, DesiredTasks: desired, CompletedTasks: completed };
}

function present(state: ClusterState, service: Service, withStatus: boolean): Service {
  return {
    ...service,
    // Services stored before endpoints were kept have none: theirs is their spec's, with nothing published.
    Endpoint: service.Endpoint ?? { Spec: service.Spec.EndpointSpec ?? { Mode: 'vip' } },
    ...(withStatus ? { ServiceStatus: serviceStatus(state, service) } : {}),
  };
}

async function imageWarnings(ctx: ApiContext, spec: ServiceSpec): Promise<string[]> {
  const image = spec.TaskTemplate.ContainerSpec.Image;
  const found = await ctx.runtime.inspectImage(image).catch(() => undefined);
  if (found || image.includes('@sha256:')) return [];
  return [`image ${image} is not present on this node's engine; swarmlet never pulls, so load it (docker load) or tasks stay rejected`];
}

/**
 * A service on an overlay network is reached through user-space listeners, which serve only the ports they know:
 * those its image exposes, its published target ports and those it declares (EXPOSE_LABEL). One with none is
 * unreachable by other services, which is worth saying at once. A malformed declaration is refused before anything
 * is stored. The image is looked up on this node's engine; absent here, it is not taken to expose anything.
 */
async function portWarnings(ctx: ApiContext, spec: ServiceSpec): Promise<string[]> {
  const label = spec.Labels?.[EXPOSE_LABEL];
  const declared = label === undefined ? [] : parseDeclaredPorts(label);
  if (!spec.TaskTemplate.Networks?.length || declared.length > 0 || (spec.EndpointSpec?.Ports?.length ?? 0) > 0) return [];
  const image = await ctx.runtime.inspectImage(spec.TaskTemplate.ContainerSpec.Image).catch(() => undefined);
  if (image && image.exposedPorts.length > 0) return [];
  return [
    `service ${spec.Name} joins an overlay network but declares no port, so other services cannot reach it there: ` +
      `publish one (--publish), or declare the ports its tasks serve with --label ${EXPOSE_LABEL}=PORT[/udp],... (its image exposes none)`,
  ];
}

/** The PROXY protocol label takes one value; anything else is refused before it is stored. */
function checkProxyProtocol(spec: ServiceSpec): void {
  const value = spec.Labels?.[PROXY_PROTOCOL_LABEL];
  if (value === undefined || value === 'v2') return;
  throw invalidArgument(
    `invalid ${PROXY_PROTOCOL_LABEL} label "${value}": the one value is v2 (each TCP connection through the routing mesh then ` +
      'starts with a PROXY protocol v2 header carrying the client\'s address); remove the label to send none',
  );
}

/**
 * start-first runs a new task beside the one it replaces, on the same node for a global service and possibly so for a
 * replicated one: two tasks binding one host-mode port would collide, so the pair is refused, as Swarm refuses it.
 */
function checkUpdateOrder(spec: ServiceSpec): void {
  const hostPort = (spec.EndpointSpec?.Ports ?? []).find((port) => port.PublishMode === 'host' && port.PublishedPort);
  if (!hostPort) return;
  for (const [name, config] of [['update', spec.UpdateConfig], ['rollback', spec.RollbackConfig]] as const) {
    if (config?.Order !== 'start-first') continue;
    throw invalidArgument(
      `--${name}-order start-first cannot be used with host-mode published port ${hostPort.PublishedPort}: the new task would need the port ` +
        `while the old one holds it; use --${name}-order stop-first, or publish the port in ingress mode`,
    );
  }
}

/** Ingress ports the daemons hold themselves: 5353/udp is mDNS, which discovery listens on on every node. */
function reservedPortWarnings(spec: ServiceSpec): string[] {
  const mdns = (spec.EndpointSpec?.Ports ?? []).some((port) => port.PublishedPort === 5353 && port.Protocol === 'udp' && (port.PublishMode ?? 'ingress') === 'ingress');
  if (!mdns) return [];
  return [
    'published port 5353/udp is mDNS, which swarmlet\'s discovery listens on: the routing mesh cannot open it on nodes that run ' +
      'discovery; publish another port, or run those nodes with --discovery off',
  ];
}

/** Nodes named in one warning, at most; the rest are counted. */
const MAX_NODES_NAMED = 5;

/** What a user can do about a published port a node cannot open, by the cause the node reports. */
function conflictAdvice(port: string, error: string, nodes: string): string {
  if (error === MESH_PORT_ERRORS.EADDRINUSE) {
    return `published port ${port} is held by another program on node(s) ${nodes} (${error}): the routing mesh opens it there as soon as ` +
      'it is free; stop that program or move it to another port, or publish another port';
  }
  if (error === MESH_PORT_ERRORS.EACCES) {
    return `published port ${port} cannot be opened on node(s) ${nodes} (${error}): a port below 1024 needs the daemon to run as root ` +
      'or with CAP_NET_BIND_SERVICE; the routing mesh keeps trying there, or publish a port above 1023';
  }
  return `published port ${port} cannot be opened on node(s) ${nodes} (${error}): the routing mesh keeps trying there; see the daemon's ` +
    'log on those nodes, or publish another port';
}

/**
 * The spec's ingress ports that nodes report their routing mesh could not open (NodeDescription.MeshPortConflicts),
 * whichever service a report was for: what holds the port is another program on the node. One warning per port and
 * cause, naming the nodes (not those down: what they last said is stale). A port no service published before has
 * not been tried when this answers; nodes report it within seconds, and `node inspect --pretty` shows it.
 */
export function meshPortWarnings(state: ClusterState, spec: ServiceSpec): string[] {
  const warnings: string[] = [];
  for (const port of spec.EndpointSpec?.Ports ?? []) {
    if (!port.PublishedPort || (port.PublishMode ?? 'ingress') !== 'ingress') continue;
    const protocol = port.Protocol ?? 'tcp';
    const byError = new Map<string, string[]>();
    for (const node of Object.values(state.nodes)) {
      if (node.Status.State === 'down') continue;
      const conflict = node.Description.MeshPortConflicts?.find((c) => c.Port === port.PublishedPort && c.Protocol === protocol);
      if (!conflict) continue;
      byError.set(conflict.Error, [...(byError.get(conflict.Error) ?? []), node.Description.Hostname || node.ID]);
    }
    for (const [error, names] of byError) {
      names.sort();
      const shown = names.slice(0, MAX_NODES_NAMED).join(', ') + (names.length > MAX_NODES_NAMED ? ` and ${names.length - MAX_NODES_NAMED} more` : '');
      warnings.push(conflictAdvice(`${port.PublishedPort}/${protocol}`, error, shown));
    }
  }
  return warnings;
}

/** `engine`, when given, lets a spec naming one of the engine's own networks be refused with what to use instead. */
export function serviceRoutes(router: Router, ctx: ApiContext, engine?: EngineNetworks): void {
  router.add('GET', '/services', async ({ res, query }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    requireSwarm(state);
    const filters = parseFilters(query.get('filters'), SERVICE_FILTERS);
    const withStatus = query.get('status') === 'true' || query.get('status') === '1';
    const services = Object.values(state.services).filter(
      (service) =>
        accepts(filters, 'id', (id) => service.ID.startsWith(id)) &&
        accepts(filters, 'name', (name) => service.Spec.Name.startsWith(name)) &&
        accepts(filters, 'mode', (mode) => (service.Spec.Mode?.Global ? 'global' : 'replicated') === mode) &&
        (filters.get('label') ?? []).every((label) => labelMatches(service.Spec.Labels, label)),
    );
    sendJson(res, 200, services.map((service) => present(state, service, withStatus)));
  });

  router.add('POST', '/services/create', async ({ req, res }) => {
    requireSwarm(ctx.proposer.state);
    const spec = await resolveServiceNetworks(ctx, withDefaults(parseServiceSpec(await readJson(req)), ctx), engine);
    checkProxyProtocol(spec);
    checkUpdateOrder(spec);
    const portNotes = [...(await portWarnings(ctx, spec)), ...reservedPortWarnings(spec), ...meshPortWarnings(ctx.proposer.state, spec)];
    const id = newId(ctx.random);
    await ctx.proposer.propose({ type: 'service.create', id, spec, now: new Date(ctx.now()).toISOString() });
    const warnings = [...(await imageWarnings(ctx, spec)), ...portNotes];
    sendJson(res, 201, warnings.length > 0 ? { ID: id, Warnings: warnings } : { ID: id });
  });

  router.add('GET', '/services/{id}', async ({ res, params }) => {
    await ctx.proposer.read();
    const state = ctx.proposer.state;
    sendJson(res, 200, present(state, findService(state, params.id!), false));
  });

  router.add('POST', '/services/{id}/update', async ({ req, res, params, query }) => {
    const service = findService(ctx.proposer.state, params.id!);
    const version = Number(query.get('version'));
    if (!query.get('version') || !Number.isInteger(version)) {
      throw invalidArgument('invalid service version: pass ?version= with the Version.Index you inspected');
    }
    let spec = await resolveServiceNetworks(ctx, withDefaults(parseServiceSpec(await readJson(req)), ctx), engine);
    const rollback = query.get('rollback');
    if (rollback !== null && rollback !== '' && rollback !== 'previous') {
      throw invalidArgument(`invalid rollback "${rollback}": the one value is previous (put back the spec before the last update)`);
    }
    if (rollback === 'previous') {
      const previous = rollbackSpec(service);
      if (!previous) throw invalidArgument(`service ${service.Spec.Name} does not have a previous spec to roll back to: it was never updated`);
      spec = previous;
    }
    checkProxyProtocol(spec);
    checkUpdateOrder(spec);
    const portNotes = [...(await portWarnings(ctx, spec)), ...reservedPortWarnings(spec), ...meshPortWarnings(ctx.proposer.state, spec)];
    await ctx.proposer.propose({
      type: 'service.update',
      id: service.ID,
      version,
      spec,
      now: new Date(ctx.now()).toISOString(),
      ...(rollback === 'previous' ? { rollback: 'manually requested rollback' } : {}),
    });
    sendJson(res, 200, { Warnings: [...(await imageWarnings(ctx, spec)), ...portNotes] });
  });

  router.add('DELETE', '/services/{id}', async ({ res, params }) => {
    const service = findService(ctx.proposer.state, params.id!);
    await ctx.proposer.propose({ type: 'service.remove', id: service.ID, now: new Date(ctx.now()).toISOString() });
    res.writeHead(200).end();
  });
}
