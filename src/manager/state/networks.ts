/**
 * Swarm networks' addresses: which subnet a network gets, how a subnet is laid out, and which address each service
 * (its virtual IP) and each task holds on it.
 *
 * Subnets. A network created with `--subnet` gets that IPv4 subnet (/8 to /29), unless it overlaps another swarm
 * network. Without one, it gets the first free /24 of Swarm's default pool, 10.0.0.0/8 (the swarm object's
 * DefaultAddrPool and SubnetSize when set), from 10.0.1.0/24 on: Swarm keeps the pool's first subnet for its ingress
 * network, and so does swarmlet, so that addresses read the same on both. The gateway is the first host address
 * unless given; it must lie inside the subnet.
 *
 * Layout (`networkLayout`). The managers give out addresses from the bottom of the subnet — the cluster range, for
 * virtual IPs and task addresses — and leave its top block to the engine of each node, for standalone containers
 * joining an attachable network, so the two never collide. The top block is a quarter of the subnet, at most 4096
 * addresses, and a CIDR block so that it can be handed to the engine as it is (`--ip-range`):
 *
 *   /24 10.0.1.0/24   gateway .1, cluster .2–.191 (190), local 10.0.1.192/26 (.192–.254, 63)
 *   /16 10.1.0.0/16   gateway .0.1, cluster .0.2–.239.255 (61438), local 10.1.240.0/20 (4095)
 *   /29 10.0.9.0/29   gateway .1, cluster .2–.5 (4), local 10.0.9.6/31 (.6, 1)
 *
 * A gateway given inside the cluster range is skipped by the allocator.
 *
 * Addresses. Every service in vip mode holds one virtual IP on each network it is attached to, kept across updates
 * for as long as it stays attached; dnsrr services hold none. Every task whose spec names networks gets an address
 * on each when it is first stored, and holds it until it ends (a terminal state) or is deleted. Addresses are given
 * in turn from a cursor kept in the state (`ClusterState.addressCursors`), as Swarm's allocator gives them serially:
 * an address just freed is not handed out again at once, so a client that cached it (DNS round robin) does not
 * reach another service's task. Everything is a function of the state and the command, so every manager gives the
 * same addresses.
 *
 * Speed: `NetworkAddresses` is an index of the addresses in use, per network, kept in memory beside the state and
 * rebuilt from it whenever the state is replaced; the stored JSON stays the source of truth. Giving an address
 * out costs O(1) amortised, never a scan of the tasks.
 */

import type { Endpoint, Network, NetworkAttachment, NetworkAttachmentConfig, NetworkSpec, ServiceSpec, Swarm, Task } from '../../api/types.ts';
import { conflict, invalidArgument, notFound } from '../../errors.ts';
import type { ClusterState } from './cluster-state.ts';
import { isTerminal } from './cluster-state.ts';

/**
 * The label on the engine networks that swarmlet's data plane makes on each node for a swarm network (the value is
 * the swarm network's ID). The API hides them: they are the swarm network's local side, not networks of their own.
 */
export const SWARMLET_NETWORK_LABEL = 'com.swarmlet.network.id';

/**
 * The Linux interface of a swarm network's bridge on every node: `swl-` and the start of the network's ID (15
 * characters at most). The agent makes the bridge with it; the mesh binds addresses on it.
 */
export function bridgeName(networkId: string): string {
  return `swl-${networkId.slice(0, 11)}`;
}

/** The only driver of swarm networks. Traffic between nodes is always encrypted; `encrypted` is accepted as a no-op. */
export const OVERLAY_DRIVER = 'overlay';

/** Swarm's default address pool and subnet size (swarm init's --default-addr-pool and --default-addr-pool-mask-length). */
export const DEFAULT_ADDRESS_POOL = '10.0.0.0/8';
export const DEFAULT_SUBNET_SIZE = 24;

/** Prefix lengths a swarm network may have: /8 is the whole default pool, a /29 still holds four addresses for tasks. */
export const MIN_PREFIX = 8;
export const MAX_PREFIX = 29;

/** The engine's own networks: their names cannot be taken. */
export const PREDEFINED_NETWORKS = ['bridge', 'host', 'none'];

/** The engine's rule for network names. */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** The largest block left to each node's engine: 4096 addresses. */
const MAX_LOCAL_PREFIX = 20;

// IPv4 arithmetic on unsigned 32-bit values held in plain numbers.

/** `10.0.1.7` → its value, or undefined when it is not a dotted-quad IPv4 address. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(?:0|[1-9]\d{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return `${Math.floor(value / 2 ** 24) % 256}.${Math.floor(value / 2 ** 16) % 256}.${Math.floor(value / 256) % 256}.${value % 256}`;
}

/** An IPv4 subnet: its first address, prefix length and number of addresses. */
export interface Subnet {
  base: number;
  prefix: number;
  size: number;
}

const subnetText = (subnet: Subnet) => `${formatIPv4(subnet.base)}/${subnet.prefix}`;
const overlap = (a: Subnet, b: Subnet) => a.base < b.base + b.size && b.base < a.base + a.size;

/** Whether two subnets (CIDR text) share an address; false when either is not an IPv4 subnet. */
export function subnetsOverlap(a: string, b: string): boolean {
  try {
    return overlap(parseSubnet(a, { min: 0, max: 32 }), parseSubnet(b, { min: 0, max: 32 }));
  } catch {
    return false;
  }
}

/** `10.0.1.0/24` → a Subnet; throws a message that says what to write instead. */
export function parseSubnet(text: string, limits: { min: number; max: number } = { min: MIN_PREFIX, max: MAX_PREFIX }): Subnet {
  if (text.includes(':')) {
    throw invalidArgument(`invalid subnet "${text}": swarmlet's networks are IPv4 only; use an IPv4 subnet such as 10.0.9.0/24`);
  }
  const match = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const address = match ? parseIPv4(match[1]!) : undefined;
  const prefix = match ? Number(match[2]) : Number.NaN;
  if (address === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw invalidArgument(`invalid subnet "${text}": use an IPv4 subnet in CIDR notation, e.g. 10.0.9.0/24`);
  }
  if (prefix < limits.min || prefix > limits.max) {
    throw invalidArgument(`invalid subnet "${text}": the prefix length must be between /${limits.min} and /${limits.max}, e.g. 10.0.9.0/24`);
  }
  const size = 2 ** (32 - prefix);
  const base = address - (address % size);
  if (base !== address) throw invalidArgument(`invalid subnet "${text}": it has host bits set; use ${formatIPv4(base)}/${prefix}`);
  return { base, prefix, size };
}

/** Checks a gateway against its subnet; returns its value. */
function parseGateway(text: string, subnet: Subnet): number {
  const gateway = parseIPv4(text.trim());
  const inside = `use a host address of ${subnetText(subnet)}, such as ${formatIPv4(subnet.base + 1)}, or leave the gateway out`;
  if (gateway === undefined) throw invalidArgument(`invalid gateway "${text}": ${inside}`);
  if (gateway < subnet.base || gateway >= subnet.base + subnet.size) throw invalidArgument(`gateway ${text} is not in subnet ${subnetText(subnet)}: ${inside}`);
  if (gateway === subnet.base) throw invalidArgument(`gateway ${text} is the subnet's network address: ${inside}`);
  if (gateway === subnet.base + subnet.size - 1) throw invalidArgument(`gateway ${text} is the subnet's broadcast address: ${inside}`);
  return gateway;
}

/** How a network's subnet is shared out: see the module comment. Every address is dotted-quad text. */
export interface NetworkLayout {
  /** `10.0.1.0/24` */
  subnet: string;
  prefixLength: number;
  /** `10.0.1.1`: the address each node's side of the network answers on. */
  gateway: string;
  /** Where the managers give out virtual IPs and task addresses, inclusive; the gateway is skipped when inside. */
  cluster: { first: string; last: string; size: number };
  /** Left to each node's engine for standalone containers: `range` is a CIDR block, fit for `--ip-range`. */
  local: { range: string; first: string; last: string; size: number };
}

interface Bounds {
  subnet: Subnet;
  gateway: number;
  /** The cluster range, inclusive. */
  first: number;
  last: number;
  /** Addresses in the cluster range, the gateway excepted. */
  capacity: number;
  localBase: number;
  localPrefix: number;
}

function bounds(subnet: Subnet, gateway: number): Bounds {
  const localPrefix = Math.max(subnet.prefix + 2, MAX_LOCAL_PREFIX);
  const localBase = subnet.base + subnet.size - 2 ** (32 - localPrefix);
  let first = subnet.base + 1;
  if (gateway === first) first += 1;
  const last = localBase - 1;
  const capacity = last - first + 1 - (gateway >= first && gateway <= last ? 1 : 0);
  return { subnet, gateway, first, last, capacity, localBase, localPrefix };
}

/** The layout of a subnet and gateway as stored on a network (IPAMOptions.Configs[0]). */
export function networkLayout(subnet: string, gateway: string): NetworkLayout {
  const parsed = parseSubnet(subnet);
  const b = bounds(parsed, parseGateway(gateway, parsed));
  const broadcast = parsed.base + parsed.size - 1;
  return {
    subnet: subnetText(parsed),
    prefixLength: parsed.prefix,
    gateway: formatIPv4(b.gateway),
    cluster: { first: formatIPv4(b.first), last: formatIPv4(b.last), size: b.capacity },
    local: {
      range: `${formatIPv4(b.localBase)}/${b.localPrefix}`,
      first: formatIPv4(b.localBase),
      last: formatIPv4(broadcast - 1),
      size: broadcast - b.localBase - (b.gateway >= b.localBase ? 1 : 0),
    },
  };
}

/** A network's subnet and gateway, as the network holds them. */
export function addressingOf(network: Network): { subnet: string; gateway: string } {
  const config = network.IPAMOptions.Configs[0]!;
  return { subnet: config.Subnet, gateway: config.Gateway };
}

/** The layout of a stored network, for the data plane. */
export function layoutOf(network: Network): NetworkLayout {
  const { subnet, gateway } = addressingOf(network);
  return networkLayout(subnet, gateway);
}

/** The other swarm network whose subnet `subnet` overlaps, if any. */
function overlapping(networks: Iterable<Network>, subnet: Subnet): Network | undefined {
  for (const network of networks) {
    if (overlap(subnet, parseSubnet(addressingOf(network).subnet, { min: 0, max: 32 }))) return network;
  }
  return undefined;
}

/**
 * Checks a network's addressing against the others: a well-formed subnet and gateway, and no overlap. Throws what
 * is wrong and what to do; returns the normalised text.
 */
export function checkAddressing(networks: Iterable<Network>, subnet: string, gateway: string): { subnet: string; gateway: string } {
  const parsed = parseSubnet(subnet);
  const gw = parseGateway(gateway, parsed);
  const other = overlapping(networks, parsed);
  if (other) {
    throw conflict(
      `subnet ${subnetText(parsed)} overlaps the subnet ${addressingOf(other).subnet} of network ${other.Spec.Name}: ` +
        'choose a subnet outside the swarm\'s networks, or leave --subnet out to get a free one',
    );
  }
  return { subnet: subnetText(parsed), gateway: formatIPv4(gw) };
}

export interface AddressingRequest {
  subnet?: string;
  gateway?: string;
}

export interface PoolOptions {
  /** The swarm's address pools and subnet size (Swarm's DefaultAddrPool, SubnetSize); Swarm's defaults otherwise. */
  swarm?: Pick<Swarm, 'DefaultAddrPool' | 'SubnetSize'> | null;
  /** More subnets to keep clear of when picking one (the engine's own networks on this node). */
  avoid?: readonly string[];
}

/**
 * The subnet and gateway for a new network: the ones asked for, checked, or the first free subnet of the pools.
 * The caller puts the result in the command, so the choice is made once, by the manager that takes the request.
 */
export function chooseAddressing(networks: Iterable<Network>, asked: AddressingRequest, options: PoolOptions = {}): { subnet: string; gateway: string } {
  const list = [...networks];
  if (asked.subnet) {
    const subnet = parseSubnet(asked.subnet);
    return checkAddressing(list, subnetText(subnet), asked.gateway || formatIPv4(subnet.base + 1));
  }
  if (asked.gateway) {
    throw invalidArgument(`a gateway needs its subnet: give both, e.g. --subnet 10.0.9.0/24 --gateway ${asked.gateway}`);
  }
  const pools = options.swarm?.DefaultAddrPool?.length ? options.swarm.DefaultAddrPool : [DEFAULT_ADDRESS_POOL];
  const size = options.swarm?.SubnetSize || DEFAULT_SUBNET_SIZE;
  const blocked: Subnet[] = list.map((network) => parseSubnet(addressingOf(network).subnet, { min: 0, max: 32 }));
  for (const text of options.avoid ?? []) {
    try {
      blocked.push(parseSubnet(text, { min: 0, max: 32 }));
    } catch {
      // An engine network's IPv6 or odd subnet cannot collide with an IPv4 pool.
    }
  }
  for (const [i, poolText] of pools.entries()) {
    const pool = parseSubnet(poolText, { min: 0, max: size });
    const step = 2 ** (32 - size);
    // Swarm keeps the first subnet of its first pool for the ingress network.
    let candidate = pool.base + (i === 0 ? step : 0);
    while (candidate + step <= pool.base + pool.size) {
      const subnet: Subnet = { base: candidate, prefix: size, size: step };
      const blocker = blocked.find((other) => overlap(subnet, other));
      if (!blocker) return { subnet: subnetText(subnet), gateway: formatIPv4(candidate + 1) };
      // Jump past what blocks, to the next boundary of the subnet size.
      const end = blocker.base + blocker.size;
      candidate = Math.max(candidate + step, Math.ceil(end / step) * step);
    }
  }
  throw conflict(`no free /${size} subnet is left in the address pool ${pools.join(', ')}: remove networks you no longer need, or give one with --subnet`);
}

/** What `network create` asks for, once read from a request. */
export interface NetworkRequest {
  name: string;
  labels?: Record<string, string>;
  /** The driver's options, `encrypted` among them; kept as given. */
  options?: Record<string, string>;
  attachable?: boolean;
  internal?: boolean;
  subnet?: string;
  gateway?: string;
}

/** Checks a network name by the engine's rule, and that it is not one of the engine's own. */
export function checkNetworkName(name: string): void {
  if (!NETWORK_NAME.test(name)) {
    throw invalidArgument(`invalid network name "${name}": use letters, digits, "_", "." or "-", starting with a letter or digit`);
  }
  if (PREDEFINED_NETWORKS.includes(name)) {
    throw invalidArgument(`${name} is a pre-defined network of the engine and cannot be created: choose another name`);
  }
}

/** The spec stored for a request, in Swarm's shape. */
export function networkSpec(request: NetworkRequest): NetworkSpec {
  checkNetworkName(request.name);
  return {
    Name: request.name,
    Labels: request.labels ?? {},
    DriverConfiguration: { Name: OVERLAY_DRIVER, Options: request.options ?? {} },
    Scope: 'swarm',
    Attachable: request.attachable ?? false,
    Internal: request.internal ?? false,
    Ingress: false,
    ...(request.subnet
      ? { IPAMOptions: { Driver: { Name: 'default' }, Configs: [{ Subnet: request.subnet, ...(request.gateway ? { Gateway: request.gateway } : {}) }] } }
      : {}),
  };
}

/** The network a `network.create` command makes. */
export function makeNetwork(input: { id: string; spec: NetworkSpec; subnet: string; gateway: string; now: string; index: number }): Network {
  return {
    ID: input.id,
    Version: { Index: input.index },
    CreatedAt: input.now,
    UpdatedAt: input.now,
    Spec: input.spec,
    DriverState: { Name: OVERLAY_DRIVER, Options: { ...(input.spec.DriverConfiguration?.Options ?? {}) } },
    IPAMOptions: { Driver: { Name: 'default' }, Configs: [{ Subnet: input.subnet, Gateway: input.gateway }] },
  };
}

/**
 * A spec with Docker's deprecated top-level Networks moved to TaskTemplate.Networks, as Docker's daemon moves them.
 * Both at once is refused: which list was meant is not known.
 */
export function withTaskNetworks(spec: ServiceSpec): ServiceSpec {
  const { Networks: legacy, ...rest } = spec;
  if (!legacy?.length) return rest;
  if (spec.TaskTemplate.Networks?.length) {
    throw invalidArgument('networks are given both in Networks and in TaskTemplate.Networks: give them in TaskTemplate.Networks only');
  }
  return { ...rest, TaskTemplate: { ...rest.TaskTemplate, Networks: legacy } };
}

/** The networks a service's tasks join, in its spec's order. */
export function networkTargets(spec: { TaskTemplate: { Networks?: NetworkAttachmentConfig[] } }): string[] {
  return (spec.TaskTemplate.Networks ?? []).map((attachment) => attachment.Target);
}

/**
 * Checks a stored spec's networks: each an existing swarm network's ID (the API resolved names before), each once.
 */
export function checkServiceNetworks(networks: Record<string, Network>, spec: ServiceSpec): void {
  const seen = new Set<string>();
  for (const target of networkTargets(spec)) {
    const network = networks[target];
    if (!network) throw notFound(`network ${target} not found`);
    if (seen.has(target)) throw invalidArgument(`network ${network.Spec.Name} is attached to service ${spec.Name} twice: list each network once`);
    seen.add(target);
  }
}

/** The first service, and the first task still running or about to, that use a network; for `network rm`. */
export function networkUsers(state: ClusterState, networkId: string): { service?: string; task?: string } {
  const service = Object.values(state.services).find((each) => networkTargets(each.Spec).includes(networkId));
  if (service) return { service: service.Spec.Name };
  const task = Object.values(state.tasks).find(
    (each) => !isTerminal(each.Status.State) && each.NetworksAttachments?.some((attachment) => attachment.Network.ID === networkId),
  );
  if (!task) return {};
  const serviceName = state.services[task.ServiceID]?.Spec.Name ?? task.ServiceID;
  return { task: `${serviceName}.${task.Slot ?? task.NodeID ?? task.ID} (${task.ID})` };
}

type VirtualIP = NonNullable<Endpoint['VirtualIPs']>[number];

/** What a service's virtual IPs become: computed (and checked) first, applied by `NetworkAddresses.commitVips`. */
export interface VipPlan {
  /** One entry per network, in the spec's order: a kept virtual IP, or the network to give one on. */
  wanted: Array<{ keep: VirtualIP } | { networkId: string }>;
  /** Virtual IPs of networks the service left, freed on commit. */
  release: VirtualIP[];
}

/** One network's addresses in use, and where its allocator looks next. */
interface Pool {
  network: Network;
  bounds: Bounds;
  used: Set<number>;
  /** Addresses held by tasks that have not ended; `network rm` waits for none. */
  taskAddresses: number;
  next: number;
}

/** The address part of `10.0.1.7/24`. */
const addressOf = (cidr: string) => parseIPv4(cidr.slice(0, cidr.indexOf('/') < 0 ? undefined : cidr.indexOf('/')));

/**
 * The addresses in use on every network, beside a state it is built from. The state machine tells it about every
 * change that gives or frees an address; `check(state)` in tests compares it with one rebuilt from scratch.
 */
export class NetworkAddresses {
  readonly #state: ClusterState;
  readonly #pools = new Map<string, Pool>();

  constructor(state: ClusterState) {
    this.#state = state;
    for (const network of Object.values(state.networks)) this.add(network);
    for (const service of Object.values(state.services)) {
      for (const vip of service.Endpoint?.VirtualIPs ?? []) this.#claim(vip.NetworkID, vip.Addr);
    }
    for (const task of Object.values(state.tasks)) {
      if (isTerminal(task.Status.State)) continue;
      for (const attachment of task.NetworksAttachments ?? []) {
        for (const address of attachment.Addresses) {
          if (this.#claim(attachment.Network.ID, address)) this.#pools.get(attachment.Network.ID)!.taskAddresses += 1;
        }
      }
    }
  }

  /** A network was created: its addresses are all free. */
  add(network: Network): void {
    const { subnet, gateway } = addressingOf(network);
    const parsed = parseSubnet(subnet, { min: 0, max: 32 });
    const b = bounds(parsed, parseIPv4(gateway)!);
    const cursor = parseIPv4(this.#state.addressCursors[network.ID] ?? '');
    const next = cursor !== undefined && cursor >= b.first && cursor <= b.last ? cursor : b.first;
    this.#pools.set(network.ID, { network, bounds: b, used: new Set(), taskAddresses: 0, next });
  }

  /** A network was removed. */
  remove(networkId: string): void {
    this.#pools.delete(networkId);
    delete this.#state.addressCursors[networkId];
  }

  /** Addresses on the network held by tasks that have not ended. */
  taskAddresses(networkId: string): number {
    return this.#pools.get(networkId)?.taskAddresses ?? 0;
  }

  /** Addresses in use on the network: virtual IPs and tasks' addresses. */
  inUse(networkId: string): number {
    return this.#pools.get(networkId)?.used.size ?? 0;
  }

  /**
   * The virtual IPs a service in `spec` should hold: the ones it holds on networks it stays on, and a new one on
   * each network it joins — none in dnsrr mode. Throws, changing nothing, when a network it joins has no free
   * address. The spec's networks must exist (checkServiceNetworks).
   */
  planVips(serviceName: string, spec: ServiceSpec, previous: Endpoint | undefined): VipPlan {
    const held = previous?.VirtualIPs ?? [];
    const targets = (spec.EndpointSpec?.Mode ?? 'vip') === 'vip' ? networkTargets(spec) : [];
    const wanted: VipPlan['wanted'] = targets.map((networkId) => {
      const kept = held.find((vip) => vip.NetworkID === networkId);
      if (kept) return { keep: kept };
      const pool = this.#pools.get(networkId)!;
      if (pool.used.size >= pool.bounds.capacity) throw this.#full(pool, `service ${serviceName}'s virtual IP`);
      return { networkId };
    });
    return { wanted, release: held.filter((vip) => !targets.includes(vip.NetworkID)) };
  }

  /** Applies a plan from `planVips`; returns the service's virtual IPs. */
  commitVips(plan: VipPlan): VirtualIP[] {
    const vips = plan.wanted.map((entry) => {
      if ('keep' in entry) return entry.keep;
      const pool = this.#pools.get(entry.networkId)!;
      return { NetworkID: entry.networkId, Addr: this.#cidr(pool, this.#allocate(pool)!) };
    });
    this.releaseVips(plan.release);
    return vips;
  }

  releaseVips(vips: readonly VirtualIP[]): void {
    for (const vip of vips) this.#free(vip.NetworkID, vip.Addr);
  }

  /**
   * Addresses for a new task on each network its spec names, or why there are none (a network with no free
   * address, or one removed since the task was made); then nothing is held.
   */
  attach(task: Task): NetworkAttachment[] | { error: string } {
    const targets = task.Spec.Networks ?? [];
    const attachments: NetworkAttachment[] = [];
    for (const target of targets) {
      const pool = this.#pools.get(target.Target);
      const address = pool ? this.#allocate(pool) : undefined;
      if (address === undefined) {
        this.#releaseAttachments(attachments);
        return { error: pool ? this.#full(pool, 'the task').message : `network ${target.Target} not found: it was removed after the task was made` };
      }
      pool!.taskAddresses += 1;
      attachments.push({ Network: pool!.network, Addresses: [this.#cidr(pool!, address)] });
    }
    return attachments;
  }

  /** A task ended or was deleted while it had not: its addresses are free. */
  release(task: Task): void {
    this.#releaseAttachments(task.NetworksAttachments ?? []);
  }

  #releaseAttachments(attachments: readonly NetworkAttachment[]): void {
    for (const attachment of attachments) {
      for (const address of attachment.Addresses) {
        if (this.#free(attachment.Network.ID, address)) this.#pools.get(attachment.Network.ID)!.taskAddresses -= 1;
      }
    }
  }

  /** The index as plain data, for comparing one kept up to date with one rebuilt from the state. */
  snapshot(): Record<string, { used: string[]; taskAddresses: number; next: string }> {
    const out: Record<string, { used: string[]; taskAddresses: number; next: string }> = {};
    for (const [id, pool] of [...this.#pools].sort(([a], [b]) => (a < b ? -1 : 1))) {
      out[id] = { used: [...pool.used].sort((a, b) => a - b).map(formatIPv4), taskAddresses: pool.taskAddresses, next: formatIPv4(pool.next) };
    }
    return out;
  }

  #cidr(pool: Pool, address: number): string {
    return `${formatIPv4(address)}/${pool.bounds.subnet.prefix}`;
  }

  #full(pool: Pool, what: string) {
    const { subnet } = addressingOf(pool.network);
    return conflict(
      `network ${pool.network.Spec.Name} (${subnet}) has no free address left for ${what}: all ${pool.bounds.capacity} are in use. ` +
        'Remove services or scale them down, or attach them to a network with a larger subnet (e.g. --subnet 10.1.0.0/16)',
    );
  }

  /** The next free address from the pool's cursor, now held; undefined when the range is full. */
  #allocate(pool: Pool): number | undefined {
    const { first, last, gateway, capacity } = pool.bounds;
    if (pool.used.size >= capacity) return undefined;
    let address = pool.next;
    while (address === gateway || pool.used.has(address)) address = address === last ? first : address + 1;
    pool.used.add(address);
    pool.next = address === last ? first : address + 1;
    this.#state.addressCursors[pool.network.ID] = formatIPv4(pool.next);
    return address;
  }

  /** Marks an address read from the state as held; false when its network is gone or it is not one given out here. */
  #claim(networkId: string, cidr: string): boolean {
    const pool = this.#pools.get(networkId);
    const address = addressOf(cidr);
    if (!pool || address === undefined || address < pool.bounds.first || address > pool.bounds.last || address === pool.bounds.gateway) return false;
    pool.used.add(address);
    return true;
  }

  /** Frees an address; false when it was not held (or its network is gone). */
  #free(networkId: string, cidr: string): boolean {
    const address = addressOf(cidr);
    return address !== undefined && (this.#pools.get(networkId)?.used.delete(address) ?? false);
  }
}
