/**
 * An in-memory ContainerRuntime for fast, deterministic tests of whatever drives containers (the agent,
 * simulations). It passes the same contract suite as DockerRuntime (test/runtime/contract.ts), so a test that
 * passes on it means the same thing on a real engine. Knobs let a test play what an engine does on its own:
 * a container exits, a create or start fails, the engine goes away.
 *
 * Determinism: IDs are hashed from a counter, time from an injected clock, and events are delivered in order on the
 * microtask queue (never synchronously inside the call that caused them, as with a real engine).
 */

import { createHash } from 'node:crypto';
import { SwarmletError } from '../../src/errors.ts';
import type { Labels } from '../../src/api/types.ts';
import type {
  ContainerCreateOptions,
  ContainerDetails,
  ContainerEvent,
  ContainerRuntime,
  ContainerSummary,
  Disposer,
  EngineInfo,
  EngineNetwork,
  ImageListing,
  ImageSummary,
  NetworkCreateOptions,
  SubscribeOptions,
} from '../../src/runtime/runtime.ts';

/** A container as the fake keeps it: what was asked for, and the state an engine would report. */
export interface FakeContainer extends ContainerDetails {
  options: ContainerCreateOptions;
}

export interface FakeRuntimeOptions {
  /** Milliseconds since the epoch; defaults to Date.now. Simulations pass their own clock. */
  clock?: () => number;
  /** Overrides of the engine description; defaults describe a 4-core, 4 GiB linux/x86_64 engine. */
  info?: Partial<EngineInfo>;
  /** Images present from the start, by reference. */
  images?: string[];
}

const NO_TIME = '0001-01-01T00:00:00Z';

/** Exit code of a process ended by SIGTERM (128 + 15), which is what a stop usually yields. */
const STOPPED_EXIT_CODE = 143;

interface Subscription {
  filters: string[];
  onEvent: (event: ContainerEvent) => void;
  onError: (err: Error) => void;
}

/** `key` or `key=value`, as Docker's label filters. */
export function matchesLabels(labels: Labels, filters: string[]): boolean {
  return filters.every((filter) => {
    const eq = filter.indexOf('=');
    if (eq < 0) return filter in labels;
    return labels[filter.slice(0, eq)] === filter.slice(eq + 1);
  });
}

export class FakeRuntime implements ContainerRuntime {
  readonly containers = new Map<string, FakeContainer>();
  readonly images = new Map<string, ImageSummary>();
  /** Networks by ID, with what they were made with. */
  readonly networks = new Map<string, EngineNetwork & { options: NetworkCreateOptions }>();
  /** Every event emitted so far, in order: tests may assert on it, `since` replays from it. */
  readonly events: ContainerEvent[] = [];

  private readonly clock: () => number;
  private engineInfo: EngineInfo;
  private readonly subscriptions = new Set<Subscription>();
  private nextId = 1;
  private createFailure: SwarmletError | undefined;
  private startFailure: SwarmletError | undefined;
  private unreachable = false;

  constructor(options: FakeRuntimeOptions = {}) {
    this.clock = options.clock ?? Date.now;
    this.engineInfo = {
      ID: 'FAKE:ENGINE',
      Name: 'fake-host',
      ServerVersion: '20.10.24-fake',
      OSType: 'linux',
      Architecture: 'x86_64',
      NCPU: 4,
      MemTotal: 4 * 1024 ** 3,
      MemoryLimit: true,
      Labels: [],
      ...options.info,
    };
    for (const ref of options.images ?? []) this.addImage(ref);
  }

  // ---- knobs ----

  /** Makes an image present, as `docker load` would. */
  addImage(ref: string, platform: { os?: string; architecture?: string; variant?: string; exposedPorts?: string[] } = {}): ImageSummary {
    const image: ImageSummary = {
      id: `sha256:${this.hex()}`,
      os: platform.os ?? 'linux',
      architecture: platform.architecture ?? 'amd64',
      variant: platform.variant ?? '',
      repoTags: [ref],
      repoDigests: [],
      exposedPorts: platform.exposedPorts ?? [],
    };
    this.images.set(ref, image);
    return image;
  }

  removeImage(ref: string): void {
    this.images.delete(ref);
  }

  setInfo(info: Partial<EngineInfo>): void {
    this.engineInfo = { ...this.engineInfo, ...info };
  }

  /** The container's healthcheck passes or fails, as the engine would judge it after its retries. */
  setHealth(id: string, health: 'healthy' | 'unhealthy'): void {
    const c = this.mustFind(id);
    c.health = health;
    this.emit(`health_status: ${health}`, c);
  }

  /** The container's process ends on its own (it finished, crashed, or was OOM-killed: pass `oom`). */
  exitContainer(id: string, exitCode = 0, options: { error?: string; oom?: boolean } = {}): void {
    const c = this.mustFind(id);
    if (!c.running) return;
    if (options.oom) this.emit('oom', c);
    this.halt(c, exitCode, options.error ?? '');
  }

  /** The next createContainer fails with this error (default: an engine_error), then creates work again. */
  failNextCreate(error: SwarmletError = new SwarmletError('engine_error', 'fake engine: create failed')): void {
    this.createFailure = error;
  }

  /**
   * The next startContainer fails, as when the command is missing from the image: the container stays
   * behind, exited with code 127 and the error recorded, as Docker leaves it.
   */
  failNextStart(error: SwarmletError = new SwarmletError('engine_error', 'fake engine: exec: "nope": executable file not found in $PATH')): void {
    this.startFailure = error;
  }

  /**
   * The engine stops answering: every call fails with `engine_unreachable`, and open event streams break.
   * Containers keep their state (a restarted dockerd finds them again).
   */
  setUnreachable(unreachable: boolean): void {
    this.unreachable = unreachable;
    if (!unreachable) return;
    const subscriptions = [...this.subscriptions];
    this.subscriptions.clear();
    const err = this.unreachableError();
    for (const sub of subscriptions) queueMicrotask(() => sub.onError(err));
  }

  // ---- ContainerRuntime ----

  async info(): Promise<EngineInfo> {
    this.checkReachable();
    return { ...this.engineInfo, Labels: [...this.engineInfo.Labels] };
  }

  async listContainers(labelFilters: string[]): Promise<ContainerSummary[]> {
    this.checkReachable();
    return [...this.containers.values()]
      .filter((c) => matchesLabels(c.labels, labelFilters))
      .map((c) => ({ id: c.id, name: c.name, image: c.image, labels: { ...c.labels }, state: c.state, health: c.health, ...(c.state === 'exited' ? { exitCode: c.exitCode } : {}) }));
  }

  async createContainer(options: ContainerCreateOptions): Promise<string> {
    this.checkReachable();
    const failure = this.createFailure;
    this.createFailure = undefined;
    if (failure) throw failure;
    if (!this.images.has(options.image)) throw new SwarmletError('not_found', `No such image: ${options.image}`);
    const holder = this.findByName(options.name);
    if (holder) {
      throw new SwarmletError(
        'conflict',
        `Conflict. The container name "/${options.name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
      );
    }
    const id = this.hex();
    const container: FakeContainer = {
      id,
      name: options.name,
      image: options.image,
      labels: { ...options.labels },
      state: 'created',
      health: 'none',
      running: false,
      address: '',
      // As an engine binds them: a port left out is picked from the ephemeral range.
      ports: (options.publish ?? []).map((port, i) => ({ ...port, published: port.published ?? 32768 + i })),
      pid: 0,
      exitCode: 0,
      error: '',
      startedAt: NO_TIME,
      finishedAt: NO_TIME,
      options: structuredClone(options),
    };
    this.containers.set(id, container);
    this.emit('create', container);
    return id;
  }

  async startContainer(id: string): Promise<void> {
    this.checkReachable();
    const c = this.mustFind(id);
    if (c.running) return;
    const failure = this.startFailure;
    this.startFailure = undefined;
    if (failure) {
      Object.assign(c, { state: c.state === 'created' ? 'created' : 'exited', exitCode: 127, error: failure.message });
      throw failure;
    }
    // A container with a healthcheck starts out "starting" until the test says how its checks go (setHealth).
    const test = c.options.healthcheck?.Test;
    const health = test && test.length > 0 && test[0] !== 'NONE' ? 'starting' : 'none';
    const pid = 1000 + this.nextId++;
    Object.assign(c, { state: 'running', running: true, health, pid, address: c.options.networks?.[0]?.address ?? `172.31.${(pid >> 8) & 255}.${pid & 255}`, exitCode: 0, error: '', startedAt: this.now() });
    this.emit('start', c);
  }

  async stopContainer(id: string, _timeoutSeconds: number): Promise<void> {
    this.checkReachable();
    const c = this.mustFind(id);
    if (!c.running) return;
    this.emit('kill', c);
    this.halt(c, STOPPED_EXIT_CODE, '');
    this.emit('stop', c);
  }

  async removeContainer(id: string, options: { force?: boolean } = {}): Promise<void> {
    this.checkReachable();
    const c = this.find(id);
    if (!c) return;
    if (c.running && !options.force) {
      throw new SwarmletError(
        'conflict',
        `You cannot remove a running container ${c.id}. Stop the container before attempting removal or force remove`,
      );
    }
    if (c.running) {
      this.emit('kill', c);
      this.halt(c, 137, '');
    }
    this.containers.delete(c.id);
    this.emit('destroy', c);
  }

  async inspectContainer(id: string): Promise<ContainerDetails | undefined> {
    this.checkReachable();
    const c = this.find(id);
    if (!c) return undefined;
    const { options: _options, ...details } = c;
    return { ...details, labels: { ...c.labels } };
  }

  async inspectImage(ref: string): Promise<ImageSummary | undefined> {
    this.checkReachable();
    const image = this.images.get(ref) ?? [...this.images.values()].find((i) => i.id === ref || i.id === `sha256:${ref}`);
    return image && structuredClone(image);
  }

  async listNetworks(labelFilters: string[]): Promise<EngineNetwork[]> {
    this.checkReachable();
    return [...this.networks.values()].filter((n) => matchesLabels(n.labels, labelFilters)).map(({ id, name, driver, labels }) => ({ id, name, driver, labels: { ...labels } }));
  }

  async createNetwork(options: NetworkCreateOptions): Promise<string> {
    this.checkReachable();
    if ([...this.networks.values()].some((n) => n.name === options.name)) throw new SwarmletError('conflict', `network with name ${options.name} already exists`);
    const id = this.hex();
    this.networks.set(id, { id, name: options.name, driver: 'bridge', labels: { ...options.labels }, options: structuredClone(options) });
    return id;
  }

  async removeNetwork(id: string): Promise<void> {
    this.checkReachable();
    const network = this.networks.get(id) ?? [...this.networks.values()].find((n) => n.name === id);
    if (!network) return;
    const attached = [...this.containers.values()].some((c) => c.options.networks?.some((n) => n.name === network.name));
    if (attached) throw new SwarmletError('conflict', `error while removing network: network ${network.name} id ${network.id} has active endpoints`);
    this.networks.delete(network.id);
  }

  async listImages(): Promise<ImageListing[]> {
    this.checkReachable();
    return [...this.images.values()].map(({ id, repoTags, repoDigests }) => ({ id, repoTags: [...repoTags], repoDigests: [...repoDigests] }));
  }

  subscribeEvents(
    labelFilters: string[],
    onEvent: (event: ContainerEvent) => void,
    onError: (err: Error) => void,
    options: SubscribeOptions = {},
  ): Disposer {
    const sub: Subscription = { filters: [...labelFilters], onEvent, onError };
    if (this.unreachable) {
      const err = this.unreachableError();
      queueMicrotask(() => onError(err));
      return () => {};
    }
    this.subscriptions.add(sub);
    if (options.since !== undefined) {
      const sinceNano = options.since * 1e6;
      const replay = this.events.filter((e) => e.timeNano >= sinceNano && matchesLabels(e.labels, sub.filters));
      for (const event of replay) queueMicrotask(() => this.subscriptions.has(sub) && sub.onEvent(structuredClone(event)));
    }
    return () => {
      this.subscriptions.delete(sub);
    };
  }

  // ---- internals ----

  private halt(c: FakeContainer, exitCode: number, error: string): void {
    Object.assign(c, { state: 'exited', running: false, health: 'none', address: '', pid: 0, exitCode, error, finishedAt: this.now() });
    this.emit('die', c);
  }

  private emit(action: string, c: FakeContainer): void {
    const event: ContainerEvent = { action, id: c.id, labels: { ...c.labels }, timeNano: this.clock() * 1e6 };
    this.events.push(event);
    for (const sub of this.subscriptions) {
      if (!matchesLabels(event.labels, sub.filters)) continue;
      queueMicrotask(() => this.subscriptions.has(sub) && sub.onEvent(structuredClone(event)));
    }
  }

  /** Docker resolves a full ID, a unique ID prefix, or a name. */
  private find(ref: string): FakeContainer | undefined {
    const exact = this.containers.get(ref) ?? this.findByName(ref.replace(/^\//, ''));
    if (exact) return exact;
    const byPrefix = [...this.containers.values()].filter((c) => c.id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }

  private findByName(name: string): FakeContainer | undefined {
    return [...this.containers.values()].find((c) => c.name === name);
  }

  private mustFind(ref: string): FakeContainer {
    const c = this.find(ref);
    if (!c) throw new SwarmletError('not_found', `No such container: ${ref}`);
    return c;
  }

  private checkReachable(): void {
    if (this.unreachable) throw this.unreachableError();
  }

  private unreachableError(): SwarmletError {
    return new SwarmletError(
      'engine_unreachable',
      'cannot reach the container engine at unix:///fake/docker.sock (connect ECONNREFUSED): is dockerd running? start it, or point swarmlet at another engine with --engine unix:///path',
    );
  }

  private now(): string {
    return new Date(this.clock()).toISOString();
  }

  /** 64 hex digits hashed from a counter: stable across runs, unique within one fake, distinct in 12-digit prefixes. */
  private hex(): string {
    return createHash('sha256').update(`fake-runtime:${this.nextId++}`).digest('hex');
  }
}
