/**
 * The ContainerRuntime on a Docker Engine API socket (dockerd, podman, balenaEngine).
 *
 * Only translation lives here: swarmlet's narrow runtime shapes to the Engine API's v1.41 bodies and back.
 * Transport, deadlines and error codes are the EngineClient's. The idempotence the interface promises (stop a
 * stopped container, remove a removed one) is made here, from the engine's 304 and 404 answers.
 */

import { SwarmletError } from '../../errors.ts';
import type { Labels } from '../../api/types.ts';
import type {
  ContainerCreateOptions,
  ContainerDetails,
  ContainerEvent,
  ContainerHealth,
  ContainerNetwork,
  ContainerRuntime,
  ContainerSummary,
  Disposer,
  EngineInfo,
  ImageListing,
  ImageSummary,
  EngineNetwork,
  NetworkCreateOptions,
  PortBinding,
  SubscribeOptions,
} from '../runtime.ts';
import { EngineClient, jsonLines } from './engine-client.ts';

/** Extra time over a stop's grace period before the request itself is given up on. */
const STOP_DEADLINE_MARGIN_MS = 30_000;

/** Event attributes the engine adds beside the container's labels; what remains are the labels. */
const NON_LABEL_ATTRIBUTES = new Set(['image', 'name', 'exitCode', 'signal']);

interface EngineContainerSummary {
  Id: string;
  Names?: string[];
  Image: string;
  Labels?: Labels | null;
  State: string;
  /** `Up 3 seconds (healthy)`: the listing's only word on health. */
  Status?: string;
}

/** The default bridge's address, or else the first network's that has one. */
function containerAddress(settings: EngineContainerInspect['NetworkSettings']): string {
  if (settings?.IPAddress) return settings.IPAddress;
  return Object.values(settings?.Networks ?? {}).find((network) => network.IPAddress)?.IPAddress ?? '';
}

/** `{"80/tcp": [{HostPort: "8080"}]}` as bindings; an engine binding IPv4 and IPv6 lists the port twice, kept once. */
function boundPorts(ports: NonNullable<EngineContainerInspect['NetworkSettings']>['Ports']): PortBinding[] {
  const bound = new Map<string, PortBinding>();
  for (const [key, hosts] of Object.entries(ports ?? {})) {
    const [target, protocol] = key.split('/');
    if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'sctp') continue;
    for (const host of hosts ?? []) {
      const published = Number(host.HostPort);
      if (Number.isInteger(published) && published > 0) bound.set(`${key}:${published}`, { target: Number(target), protocol, published });
    }
  }
  return [...bound.values()];
}

const toHealth = (status: string | undefined): ContainerHealth =>
  status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : 'none';

/** The health the listing's status text ends with: `(healthy)`, `(unhealthy)`, `(health: starting)`. */
export function healthOf(status: string | undefined): ContainerHealth {
  const match = /\((healthy|unhealthy|health: starting)\)\s*$/.exec(status ?? '');
  return toHealth(match?.[1]?.replace('health: ', ''));
}

interface EngineContainerInspect {
  Id: string;
  Name: string;
  NetworkSettings?: {
    IPAddress?: string;
    Networks?: Record<string, { IPAddress?: string }> | null;
    Ports?: Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | null;
  };
  Config: { Image: string; Labels?: Labels | null };
  State: {
    Status: string;
    Running: boolean;
    Health?: { Status?: string };
    Pid: number;
    ExitCode: number;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
}

interface EngineImageInspect {
  Id: string;
  Os: string;
  Architecture: string;
  Variant?: string;
  Config?: { ExposedPorts?: Record<string, unknown> | null } | null;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
}

interface EngineImageListing {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
}

interface EngineEvent {
  Type?: string;
  Action?: string;
  status?: string;
  id?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  timeNano?: number;
}

/** Docker prints names with a leading slash (its legacy link namespace); swarmlet never does. */
const bareName = (name: string | undefined) => (name ?? '').replace(/^\//, '');

/** Container IDs and names go into a path segment; image references may hold `/` and `:`, which the engine routes. */
const idSegment = (id: string) => encodeURIComponent(id);
const imageSegment = (ref: string) => encodeURI(ref);

/** Docker's `since` is seconds with an optional nanosecond fraction. */
function engineTime(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${seconds}.${String(Math.round((ms - seconds * 1000) * 1e6)).padStart(9, '0')}`;
}

/** A container's endpoint on a network: its fixed address, and the names it answers to there. */
function endpointConfig(network: ContainerNetwork): Record<string, unknown> {
  return { IPAMConfig: { IPv4Address: network.address }, ...(network.aliases?.length ? { Aliases: network.aliases } : {}) };
}

/** The Engine API's create body for swarmlet's options; unset options are left to the engine's defaults. */
export function createBody(options: ContainerCreateOptions): Record<string, unknown> {
  const hostConfig: Record<string, unknown> = {};
  if (options.memoryLimit) hostConfig.Memory = options.memoryLimit;
  if (options.memoryReservation) hostConfig.MemoryReservation = options.memoryReservation;
  if (options.nanoCpus) hostConfig.NanoCpus = options.nanoCpus;
  if (options.init !== undefined) hostConfig.Init = options.init;
  if (options.mounts?.length) hostConfig.Mounts = options.mounts;
  if (options.capAdd?.length) hostConfig.CapAdd = options.capAdd;
  if (options.capDrop?.length) hostConfig.CapDrop = options.capDrop;
  if (options.devices?.length) hostConfig.Devices = options.devices;
  if (options.privileged) hostConfig.Privileged = true;
  let exposed: Record<string, Record<string, never>> | undefined;
  if (options.publish?.length) {
    exposed = {};
    const bindings: Record<string, Array<{ HostPort: string }>> = {};
    for (const port of options.publish) {
      const key = `${port.target}/${port.protocol}`;
      exposed[key] = {};
      (bindings[key] ??= []).push({ HostPort: port.published ? String(port.published) : '' });
    }
    hostConfig.PortBindings = bindings;
  }
  if (options.dns?.length) hostConfig.Dns = options.dns;
  // The engine takes one network at create (API 1.41); the others are connected before the start (connectNetworks).
  const [first] = options.networks ?? [];
  if (first) hostConfig.NetworkMode = first.name;
  return {
    Image: options.image,
    Labels: options.labels,
    Env: options.env,
    Entrypoint: options.entrypoint,
    Cmd: options.cmd,
    Hostname: options.hostname,
    User: options.user,
    WorkingDir: options.workingDir,
    Tty: options.tty,
    OpenStdin: options.openStdin,
    StopSignal: options.stopSignal,
    StopTimeout: options.stopTimeout,
    ...(options.healthcheck ? { Healthcheck: options.healthcheck } : {}),
    ...(exposed ? { ExposedPorts: exposed } : {}),
    HostConfig: hostConfig,
    ...(first ? { NetworkingConfig: { EndpointsConfig: { [first.name]: endpointConfig(first) } } } : {}),
  };
}

function toEvent(raw: EngineEvent): ContainerEvent {
  const labels: Labels = {};
  for (const [key, value] of Object.entries(raw.Actor?.Attributes ?? {})) {
    if (!NON_LABEL_ATTRIBUTES.has(key)) labels[key] = value;
  }
  return { action: raw.Action ?? raw.status ?? '', id: raw.Actor?.ID ?? raw.id ?? '', labels, timeNano: raw.timeNano ?? 0 };
}

/**
 * The client is passed in, not made here, so the daemon shares one connection pool between the runtime and
 * its own engine calls (the API's /info), and closes it when it stops.
 */
export class DockerRuntime implements ContainerRuntime {
  readonly client: EngineClient;

  constructor(client: EngineClient) {
    this.client = client;
  }

  async info(): Promise<EngineInfo> {
    const { body } = await this.client.request<EngineInfo>('GET', '/info');
    return {
      ID: body.ID,
      Name: body.Name,
      ServerVersion: body.ServerVersion,
      OSType: body.OSType,
      Architecture: body.Architecture,
      NCPU: body.NCPU,
      MemTotal: body.MemTotal,
      MemoryLimit: body.MemoryLimit,
      Labels: body.Labels ?? [],
    };
  }

  async listContainers(labelFilters: string[]): Promise<ContainerSummary[]> {
    const { body } = await this.client.request<EngineContainerSummary[]>('GET', '/containers/json', {
      query: { all: true, filters: { label: labelFilters } },
    });
    return body.map((c) => {
      const exited = /^Exited \((-?\d+)\)/.exec(c.Status ?? '');
      return {
        id: c.Id,
        name: bareName(c.Names?.[0]),
        image: c.Image,
        labels: c.Labels ?? {},
        state: c.State,
        health: healthOf(c.Status),
        ...(exited ? { exitCode: Number(exited[1]) } : {}),
      };
    });
  }

  async createContainer(options: ContainerCreateOptions): Promise<string> {
    // The engine's 404 already reads "No such image: NAME"; create never pulls, so no registry is asked.
    const { body } = await this.client.request<{ Id: string }>('POST', '/containers/create', {
      query: { name: options.name },
      body: createBody(options),
    });
    try {
      for (const network of (options.networks ?? []).slice(1)) {
        await this.client.request('POST', `/networks/${idSegment(network.name)}/connect`, { body: { Container: body.Id, EndpointConfig: endpointConfig(network) } });
      }
    } catch (err) {
      // Half-made is not made: the task is rejected and retried from scratch.
      await this.removeContainer(body.Id, { force: true }).catch(() => {});
      throw err;
    }
    return body.Id;
  }

  async listNetworks(labelFilters: string[]): Promise<EngineNetwork[]> {
    const { body } = await this.client.request<Array<{ Id: string; Name: string; Driver: string; Labels?: Labels | null }>>('GET', '/networks', {
      query: { filters: { label: labelFilters } },
    });
    return body.map((n) => ({ id: n.Id, name: n.Name, driver: n.Driver, labels: n.Labels ?? {} }));
  }

  async createNetwork(options: NetworkCreateOptions): Promise<string> {
    const { body } = await this.client.request<{ Id: string }>('POST', '/networks/create', {
      body: {
        Name: options.name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Internal: options.internal ?? false,
        Labels: options.labels,
        IPAM: { Driver: 'default', Config: [{ Subnet: options.subnet, Gateway: options.gateway, IPRange: options.ipRange }] },
        Options: { 'com.docker.network.bridge.name': options.bridgeName },
      },
    });
    return body.Id;
  }

  async removeNetwork(id: string): Promise<void> {
    try {
      await this.client.request('DELETE', `/networks/${idSegment(id)}`);
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'not_found') return;
      // The engine answers 403 for a network still in use: it is a conflict with the containers attached.
      if (err instanceof SwarmletError && /active endpoints/.test(err.message)) throw new SwarmletError('conflict', err.message);
      throw err;
    }
  }

  async startContainer(id: string): Promise<void> {
    // 304 means it was already running: the goal is reached.
    await this.client.request('POST', `/containers/${idSegment(id)}/start`);
  }

  async stopContainer(id: string, timeoutSeconds: number): Promise<void> {
    await this.client.request('POST', `/containers/${idSegment(id)}/stop`, {
      query: { t: timeoutSeconds },
      timeoutMs: timeoutSeconds * 1000 + STOP_DEADLINE_MARGIN_MS,
    });
  }

  async removeContainer(id: string, options: { force?: boolean } = {}): Promise<void> {
    try {
      // v: anonymous volumes die with their task's container, as Swarm does.
      await this.client.request('DELETE', `/containers/${idSegment(id)}`, { query: { force: options.force ?? false, v: true } });
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'not_found') return;
      // Another caller is already removing it: the outcome is the one asked for.
      if (err instanceof SwarmletError && err.code === 'conflict' && /already in progress/.test(err.message)) return;
      throw err;
    }
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    try {
      const { body } = await this.client.request<EngineContainerInspect>('GET', `/containers/${idSegment(id)}/json`);
      const state = body.State;
      return {
        id: body.Id,
        name: bareName(body.Name),
        image: body.Config.Image,
        labels: body.Config.Labels ?? {},
        state: state.Status,
        health: toHealth(state.Health?.Status),
        running: state.Running,
        address: containerAddress(body.NetworkSettings),
        ports: boundPorts(body.NetworkSettings?.Ports),
        pid: state.Pid,
        exitCode: state.ExitCode,
        error: state.Error,
        startedAt: state.StartedAt,
        finishedAt: state.FinishedAt,
      };
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  async inspectImage(ref: string): Promise<ImageSummary | undefined> {
    try {
      const { body } = await this.client.request<EngineImageInspect>('GET', `/images/${imageSegment(ref)}/json`);
      return {
        id: body.Id,
        os: body.Os,
        architecture: body.Architecture,
        variant: body.Variant ?? '',
        repoTags: body.RepoTags ?? [],
        repoDigests: body.RepoDigests ?? [],
        exposedPorts: Object.keys(body.Config?.ExposedPorts ?? {}).sort(),
      };
    } catch (err) {
      if (err instanceof SwarmletError && err.code === 'not_found') return undefined;
      throw err;
    }
  }

  async listImages(): Promise<ImageListing[]> {
    const { body } = await this.client.request<EngineImageListing[]>('GET', '/images/json');
    // An image with neither tag nor digest shows `<none>:<none>` in old engines' listings: it is not a reference.
    const real = (refs: string[] | null | undefined) => (refs ?? []).filter((ref) => !ref.startsWith('<none>'));
    return body.map((image) => ({ id: image.Id, repoTags: real(image.RepoTags), repoDigests: real(image.RepoDigests) }));
  }

  /** `onEvent` must not throw: if it does, the stream ends and the error goes to `onError`. */
  subscribeEvents(
    labelFilters: string[],
    onEvent: (event: ContainerEvent) => void,
    onError: (err: Error) => void,
    options: SubscribeOptions = {},
  ): Disposer {
    const controller = new AbortController();
    const query = {
      filters: { type: ['container'], label: labelFilters },
      since: options.since === undefined ? undefined : engineTime(options.since),
    };
    const follow = async () => {
      const res = await this.client.stream('GET', '/events', { query, signal: controller.signal });
      for await (const raw of jsonLines(res)) onEvent(toEvent(raw as EngineEvent));
      throw new SwarmletError(
        'engine_unreachable',
        `the event stream of the container engine at unix://${this.client.socketPath} ended: the engine probably restarted`,
      );
    };
    follow().catch((err: unknown) => {
      if (!controller.signal.aborted) onError(err instanceof Error ? err : new Error(String(err)));
    });
    return () => controller.abort();
  }
}
