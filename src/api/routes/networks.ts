/**
 * /networks: the node engine's own networks and the swarm's networks behind one socket, as a Docker Swarm manager
 * answers them — so `docker network create -d overlay`, `ls`, `inspect` and `rm` work against swarmlet.
 *
 * - A swarm network is shown in the engine's NetworkResource shape with Scope `swarm` and Driver `overlay`.
 * - Lookups by ID, name or ID prefix try the swarm's networks first, then the engine's (`?scope=` narrows them).
 * - `POST /networks/create` with Driver `overlay` makes a swarm network; any other driver is the engine's business
 *   and the request goes to it as it came.
 * - The engine networks swarmlet's data plane makes on each node for a swarm network (labelled
 *   `com.swarmlet.network.id`) are hidden: they are that network's local side, and removing one by hand would cut
 *   the node's tasks off.
 *
 * The engine is reached through EngineClient (the client the runtime and /info use), behind the small
 * `EngineNetworks` interface so that tests give a fake.
 */

import type { Network, ServiceSpec } from '../../api/types.ts';
import { conflict, invalidArgument, notFound, SwarmletError } from '../../errors.ts';
import type { ClusterState } from '../../manager/state/cluster-state.ts';
import { isTerminal } from '../../manager/state/cluster-state.ts';
import {
  addressingOf,
  chooseAddressing,
  networkSpec,
  networkTargets,
  type NetworkRequest,
  OVERLAY_DRIVER,
  SWARMLET_NETWORK_LABEL,
  subnetsOverlap,
  withTaskNetworks,
} from '../../manager/state/networks.ts';
import { findNetwork, requireSwarm } from '../../manager/state/queries.ts';
import type { EngineClient } from '../../runtime/docker/engine-client.ts';
import { newId } from '../../util/ids.ts';
import type { ApiContext } from '../context.ts';
import { accepts, type Filters, labelMatches, parseFilters } from '../filters.ts';
import { readJson, sendJson } from '../http.ts';
import type { Router } from '../router.ts';
import { type NetworkCreateBody, parseNetworkCreate } from '../schemas.ts';

/** Docker's filters for GET /networks. */
const NETWORK_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;

/** Tries at picking a free subnet when another manager's request took the one picked in between. */
const SUBNET_ATTEMPTS = 3;

/** A network as the engine shows it (Docker's NetworkResource); only the fields read here are named. */
export interface EngineNetwork {
  Name: string;
  Id: string;
  Scope?: string;
  Driver?: string;
  Labels?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string; [field: string]: unknown }> | null; [field: string]: unknown } | null;
  Containers?: Record<string, unknown> | null;
  [field: string]: unknown;
}

/** What these routes need of the node's engine: its own /networks endpoints. */
export interface EngineNetworks {
  /** GET /networks with Docker's `filters` (JSON) as the client sent them. */
  list(filters?: string): Promise<EngineNetwork[]>;
  /** GET /networks/{ref}; undefined when the engine has no such network. */
  inspect(ref: string, query?: Record<string, string | undefined>): Promise<EngineNetwork | undefined>;
  /** POST /networks/create with the body as the client sent it; the engine's answer. */
  create(body: unknown): Promise<unknown>;
  remove(ref: string): Promise<void>;
}

/** EngineNetworks over the engine's API. */
export function engineNetworks(engine: EngineClient): EngineNetworks {
  const path = (ref: string) => `/networks/${encodeURIComponent(ref)}`;
  return {
    async list(filters) {
      return (await engine.getJson<EngineNetwork[] | null>('/networks', { filters })) ?? [];
    },
    async inspect(ref, query = {}) {
      try {
        return await engine.getJson<EngineNetwork>(path(ref), query);
      } catch (err) {
        if (err instanceof SwarmletError && err.code === 'not_found') return undefined;
        throw err;
      }
    },
    async create(body) {
      return (await engine.request('POST', '/networks/create', { body })).body;
    },
    async remove(ref) {
      await engine.request('DELETE', path(ref));
    },
  };
}

/** The swarm network an engine network is the local side of, if it is one. */
const swarmNetworkOf = (network: EngineNetwork) => network.Labels?.[SWARMLET_NETWORK_LABEL];

/** A swarm network as GET /networks lists it: Docker's NetworkResource for a swarm-scoped overlay network. */
export function networkResource(network: Network): Record<string, unknown> {
  const { subnet, gateway } = addressingOf(network);
  return {
    Name: network.Spec.Name,
    Id: network.ID,
    Created: network.CreatedAt,
    Scope: 'swarm',
    Driver: OVERLAY_DRIVER,
    EnableIPv4: true,
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: subnet, Gateway: gateway }] },
    Internal: network.Spec.Internal ?? false,
    Attachable: network.Spec.Attachable ?? false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Options: network.DriverState.Options ?? {},
    Labels: network.Spec.Labels ?? {},
  };
}

/**
 * What `?verbose=true` adds on a swarm manager: per service on the network, its virtual IP and its tasks'
 * addresses, with the address of the node each runs on (Docker's `Services` section).
 */
export function networkServices(state: ClusterState, networkId: string): Record<string, unknown> {
  const services: Record<string, { VIP: string; Ports: string[]; LocalLBIndex: number; Tasks: Array<Record<string, unknown>> }> = {};
  for (const service of Object.values(state.services)) {
    if (!networkTargets(service.Spec).includes(networkId)) continue;
    const vip = service.Endpoint?.VirtualIPs?.find((each) => each.NetworkID === networkId)?.Addr ?? '';
    services[service.Spec.Name] = { VIP: vip.replace(/\/\d+$/, ''), Ports: [], LocalLBIndex: 0, Tasks: [] };
  }
  for (const task of Object.values(state.tasks)) {
    if (isTerminal(task.Status.State)) continue;
    const service = state.services[task.ServiceID];
    const address = task.NetworksAttachments?.find((each) => each.Network.ID === networkId)?.Addresses[0];
    if (!service || !address || !services[service.Spec.Name]) continue;
    services[service.Spec.Name]!.Tasks.push({
      Name: `${service.Spec.Name}.${task.Slot ?? task.NodeID}.${task.ID}`,
      EndpointID: '',
      EndpointIP: address.replace(/\/\d+$/, ''),
      Info: { 'Host IP': (task.NodeID && state.nodes[task.NodeID]?.Status.Addr) || '' },
    });
  }
  return services;
}

/** Whether a swarm network passes GET /networks's filters, by Docker's rules. */
export function networkMatches(state: ClusterState, network: Network, filters: Filters): boolean {
  const flag = (key: string, value: string) => {
    if (['true', '1'].includes(value)) return true;
    if (['false', '0'].includes(value)) return false;
    throw invalidArgument(`invalid filter '${key}=${value}': use true or false`);
  };
  const used = () => Object.values(state.services).some((service) => networkTargets(service.Spec).includes(network.ID));
  return (
    accepts(filters, 'id', (id) => network.ID.includes(id)) &&
    accepts(filters, 'name', (name) => network.Spec.Name.includes(name)) &&
    accepts(filters, 'driver', (driver) => driver === OVERLAY_DRIVER) &&
    accepts(filters, 'scope', (scope) => scope === 'swarm') &&
    accepts(filters, 'type', (type) => {
      if (type !== 'custom' && type !== 'builtin') throw invalidArgument(`invalid filter 'type=${type}': use custom or builtin`);
      return type === 'custom';
    }) &&
    accepts(filters, 'dangling', (value) => flag('dangling', value) === !used()) &&
    (filters.get('label') ?? []).every((label) => labelMatches(network.Spec.Labels, label))
  );
}

/** The swarm network `ref` names, undefined when none does (an ambiguous reference still fails). */
function swarmNetwork(state: ClusterState, ref: string): Network | undefined {
  try {
    return findNetwork(state, ref);
  } catch (err) {
    if (err instanceof SwarmletError && err.code === 'not_found') return undefined;
    throw err;
  }
}

/** The request for an overlay network, with what a swarm network cannot be refused and the way out said. */
export function overlayRequest(body: NetworkCreateBody): NetworkRequest {
  if (body.Scope && body.Scope !== 'swarm') throw invalidArgument(`an overlay network is swarm-scoped, not ${body.Scope}: leave --scope out`);
  if (body.Ingress) throw invalidArgument('swarmlet has no ingress network: its routing mesh publishes ports without one. Leave --ingress out');
  if (body.ConfigOnly || body.ConfigFrom?.Network) throw invalidArgument('config-only networks (--config-only, --config-from) are not supported for swarm networks');
  if (body.EnableIPv6) throw invalidArgument("swarmlet's networks are IPv4 only: leave --ipv6 out");
  if (body.EnableIPv4 === false) throw invalidArgument('a swarm network needs IPv4: leave --ipv4=false out');
  const ipam = body.IPAM;
  if (ipam?.Driver && ipam.Driver !== 'default') throw invalidArgument(`IPAM driver ${ipam.Driver} is not supported for swarm networks: leave --ipam-driver out`);
  if (Object.keys(ipam?.Options ?? {}).length > 0) throw invalidArgument('IPAM options are not supported for swarm networks: leave --ipam-opt out');
  const configs = ipam?.Config ?? [];
  if (configs.length > 1) throw invalidArgument('a swarm network has one IPv4 subnet: give --subnet once');
  const config = configs[0];
  if (config?.IPRange) {
    throw invalidArgument(
      '--ip-range is not supported for swarm networks: the managers give addresses from the bottom of the subnet and leave its top block to each node\'s engine',
    );
  }
  if (Object.keys(config?.AuxiliaryAddresses ?? {}).length > 0) throw invalidArgument('--aux-address is not supported for swarm networks');
  if (config?.Gateway && !config.Subnet) {
    throw invalidArgument(`a gateway needs its subnet: give both, e.g. --subnet 10.0.9.0/24 --gateway ${config.Gateway}`);
  }
  return {
    name: body.Name,
    labels: body.Labels ?? {},
    options: body.Options ?? {},
    attachable: body.Attachable ?? false,
    internal: body.Internal ?? false,
    ...(config?.Subnet ? { subnet: config.Subnet } : {}),
    ...(config?.Gateway ? { gateway: config.Gateway } : {}),
  };
}

/** The IPv4 subnets of the engine's own networks (not swarmlet's), to keep clear of; none when the engine is away. */
async function engineSubnets(engine: EngineNetworks): Promise<Array<{ name: string; subnet: string }>> {
  const networks = await engine.list().catch(() => []);
  return networks
    .filter((network) => swarmNetworkOf(network) === undefined)
    .flatMap((network) => (network.IPAM?.Config ?? []).flatMap((config) => (config.Subnet ? [{ name: network.Name, subnet: config.Subnet }] : [])));
}

/** A warning when the subnet asked for overlaps one of the engine's own networks on this node. */
function overlapWarning(subnet: string, local: Array<{ name: string; subnet: string }>): string {
  const other = local.find((each) => subnetsOverlap(subnet, each.subnet));
  return other ? `subnet ${subnet} overlaps ${other.subnet} of the engine's network ${other.name} on this node: tasks there may not reach that network's hosts` : '';
}

/**
 * A service spec with its networks as the store keeps them: Docker's deprecated top-level Networks moved into the
 * task template, and each target (a name, ID or ID prefix) replaced by the swarm network's ID, read after every
 * change committed before. A target that is one of the engine's own networks is refused with what to use instead.
 */
export async function resolveServiceNetworks(ctx: Pick<ApiContext, 'proposer'>, spec: ServiceSpec, engine?: EngineNetworks): Promise<ServiceSpec> {
  const moved = withTaskNetworks(spec);
  const attachments = moved.TaskTemplate.Networks;
  if (!attachments?.length) return moved;
  // A network made through another manager a moment ago must be found here too.
  await ctx.proposer.read();
  const state = ctx.proposer.state;
  const resolved = [];
  for (const attachment of attachments) {
    const network = swarmNetwork(state, attachment.Target);
    if (!network) {
      const local = await engine?.inspect(attachment.Target).catch(() => undefined);
      if (local && swarmNetworkOf(local) === undefined) {
        throw invalidArgument(
          `network ${attachment.Target} is a local network of this node's engine (driver ${local.Driver ?? 'unknown'}) and cannot be used with services: ` +
            'only swarm networks can, such as one made with "swarmlet network create --driver overlay NAME"',
        );
      }
      throw notFound(`network ${attachment.Target} not found`);
    }
    resolved.push({ ...attachment, Target: network.ID });
  }
  return { ...moved, TaskTemplate: { ...moved.TaskTemplate, Networks: resolved } };
}

export function networkRoutes(router: Router, ctx: ApiContext, engine: EngineNetworks): void {
  /** The manager's state, read after every change committed before the request; null off a manager. */
  const swarmState = async (): Promise<ClusterState | null> => {
    if (!ctx.proposer.state.swarm) return null;
    await ctx.proposer.read();
    return ctx.proposer.state.swarm ? ctx.proposer.state : null;
  };

  router.add('GET', '/networks', async ({ res, query }) => {
    const raw = query.get('filters');
    const filters = parseFilters(raw, NETWORK_FILTERS);
    const state = await swarmState();
    const swarm = state ? Object.values(state.networks).filter((network) => networkMatches(state, network, filters)) : [];
    const local = (await engine.list(raw ?? undefined)).filter((network) => swarmNetworkOf(network) === undefined);
    sendJson(res, 200, [...local, ...swarm.map(networkResource)]);
  });

  router.add('GET', '/networks/{id}', async ({ res, params, query }) => {
    const ref = params.id!;
    const scope = query.get('scope');
    const verbose = query.get('verbose') === 'true' || query.get('verbose') === '1';
    const state = scope === 'local' ? null : await swarmState();
    const network = state ? swarmNetwork(state, ref) : undefined;
    if (state && network) {
      // The containers of this node on the network: those of its local side, once the data plane has made it.
      const side = (await engine.list(JSON.stringify({ label: [`${SWARMLET_NETWORK_LABEL}=${network.ID}`] })).catch(() => []))[0];
      const containers = side ? ((await engine.inspect(side.Id).catch(() => undefined))?.Containers ?? {}) : {};
      sendJson(res, 200, {
        ...networkResource(network),
        Containers: containers,
        ...(verbose ? { Services: networkServices(state, network.ID) } : {}),
      });
      return;
    }
    const local = scope === 'swarm' || scope === 'global' ? undefined : await engine.inspect(ref, { verbose: query.get('verbose') ?? undefined });
    if (!local || swarmNetworkOf(local) !== undefined) throw notFound(`network ${ref} not found`);
    sendJson(res, 200, local);
  });

  router.add('POST', '/networks/create', async ({ req, res }) => {
    const body = await readJson(req);
    // The engine judges its own requests: only an overlay network's is read here.
    if ((body as { Driver?: unknown } | null)?.Driver !== OVERLAY_DRIVER) {
      sendJson(res, 201, await engine.create(body));
      return;
    }
    requireSwarm(ctx.proposer.state);
    const request = overlayRequest(parseNetworkCreate(body));
    const spec = networkSpec(request);
    const local = await engineSubnets(engine);
    const id = newId(ctx.random);
    for (let attempt = 1; ; attempt++) {
      await ctx.proposer.read();
      const state = ctx.proposer.state;
      const addressing = chooseAddressing(Object.values(state.networks), request, { swarm: requireSwarm(state), avoid: local.map((each) => each.subnet) });
      try {
        await ctx.proposer.propose({ type: 'network.create', id, spec, ...addressing, now: new Date(ctx.now()).toISOString() });
      } catch (err) {
        // A subnet picked here and taken meanwhile through another manager: pick again.
        const taken = !request.subnet && err instanceof SwarmletError && err.code === 'conflict' && subnetTaken(ctx.proposer.state, addressing.subnet);
        if (taken && attempt < SUBNET_ATTEMPTS) continue;
        throw err;
      }
      sendJson(res, 201, { Id: id, Warning: request.subnet ? overlapWarning(addressing.subnet, local) : '' });
      return;
    }
  });

  router.add('DELETE', '/networks/{id}', async ({ res, params }) => {
    const ref = params.id!;
    const state = await swarmState();
    const network = state ? swarmNetwork(state, ref) : undefined;
    if (network) {
      await ctx.proposer.propose({ type: 'network.remove', id: network.ID, now: new Date(ctx.now()).toISOString() });
      res.writeHead(204).end();
      return;
    }
    const local = await engine.inspect(ref);
    if (!local) throw notFound(`network ${ref} not found`);
    const owner = swarmNetworkOf(local);
    if (owner !== undefined) {
      const name = state?.networks[owner]?.Spec.Name ?? owner;
      throw conflict(`network ${local.Name} is this node's side of the swarm network ${name}, which swarmlet manages: remove the swarm network instead (swarmlet network rm ${name})`);
    }
    await engine.remove(local.Id);
    res.writeHead(204).end();
  });
}

/** Whether some swarm network now overlaps `subnet`. */
function subnetTaken(state: ClusterState, subnet: string): boolean {
  return Object.values(state.networks).some((network) => subnetsOverlap(subnet, addressingOf(network).subnet));
}
