/**
 * The narrow view of a container engine that the agent needs. The real implementation speaks the Docker
 * Engine API over a unix socket (dockerd, podman and balenaEngine all answer it); tests use an in-memory
 * fake. Both pass the same contract suite (test/runtime/contract.ts).
 */

import type { DeviceMapping, HealthConfig, Labels, Mount } from '../api/types.ts';

/** What the engine tells about its host; a node's description is made from it. */
export interface EngineInfo {
  ID: string;
  Name: string;
  ServerVersion: string;
  OSType: string;
  /** The engine's own spelling (x86_64, aarch64); callers normalise it. */
  Architecture: string;
  NCPU: number;
  MemTotal: number;
  /** False when the kernel's memory cgroup is off (common on Raspberry Pi OS): limits would not be enforced. */
  MemoryLimit: boolean;
  Labels: string[];
}

export interface ContainerCreateOptions {
  name: string;
  image: string;
  labels: Labels;
  env?: string[];
  /** Replaces the image's entrypoint when set. */
  entrypoint?: string[];
  cmd?: string[];
  hostname?: string;
  user?: string;
  workingDir?: string;
  tty?: boolean;
  openStdin?: boolean;
  /** Bytes; 0 or undefined means none. */
  memoryLimit?: number;
  memoryReservation?: number;
  nanoCpus?: number;
  stopSignal?: string;
  /** Seconds. */
  stopTimeout?: number;
  init?: boolean;
  healthcheck?: HealthConfig;
  mounts?: Mount[];
  capAdd?: string[];
  capDrop?: string[];
  devices?: DeviceMapping[];
  privileged?: boolean;
  /** Ports bound on the node's addresses (host-mode published ports); no `published` lets the engine pick one. */
  publish?: PortBinding[];
  /**
   * The engine networks the container joins, each at a fixed address (a task's address on an overlay network, given
   * by the managers); none leaves it on the engine's default bridge.
   */
  networks?: ContainerNetwork[];
  /** Name servers for the container; on a user-defined network the engine's resolver forwards to them. */
  dns?: string[];
}

export interface ContainerNetwork {
  /** The engine network's name. */
  name: string;
  /** `10.0.1.7`: no prefix length. */
  address: string;
  aliases?: string[];
}

/** A network of the node's engine, as swarmlet needs to know it. */
export interface EngineNetwork {
  id: string;
  name: string;
  driver: string;
  labels: Labels;
}

export interface NetworkCreateOptions {
  name: string;
  labels: Labels;
  subnet: string;
  gateway: string;
  /** The part of the subnet the engine gives out by itself (to containers joining with no address). */
  ipRange: string;
  /** The Linux bridge's interface name (at most 15 characters). */
  bridgeName: string;
  /**
   * No connectivity beyond the subnet (Docker's `--internal`): the engine drops what containers send outside it and
   * gives them no route out (engines from 25; older ones keep a default route to the bridge, whose forwarding they
   * drop). The bridge keeps its gateway address on the host (except on engines 25.0.0 to 25.0.3).
   */
  internal?: boolean;
}

export interface PortBinding {
  target: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  published?: number;
}

/** A container's health as the engine judges it: `none` when it has no healthcheck. */
export type ContainerHealth = 'none' | 'starting' | 'healthy' | 'unhealthy';

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  labels: Labels;
  /** created | restarting | running | removing | paused | exited | dead */
  state: string;
  health: ContainerHealth;
  /** The exit code of a container that exited, as the listing tells it; undefined otherwise. */
  exitCode?: number;
}

export interface ContainerDetails extends ContainerSummary {
  running: boolean;
  /** The container's IP address on its engine's network (the default bridge), or '' when it has none. */
  address: string;
  pid: number;
  exitCode: number;
  /** The ports bound on the node for it, as the engine bound them (the port it picked, when none was asked for). */
  ports: PortBinding[];
  /** The engine's error when the container could not start (e.g. a missing executable). */
  error: string;
  startedAt: string;
  finishedAt: string;
}

export interface ContainerEvent {
  /** Docker's action: create, start, die, kill, stop, destroy, oom, ... */
  action: string;
  id: string;
  labels: Labels;
  /** Nanoseconds since the epoch. */
  timeNano: number;
}

export interface ImageSummary {
  id: string;
  os: string;
  architecture: string;
  /** `v7` for 32-bit Raspberry Pi images, for example; empty when the image names none. */
  variant: string;
  repoTags: string[];
  repoDigests: string[];
  /** The ports its config exposes (EXPOSE), as `80/tcp`. */
  exposedPorts: string[];
}

/** An image as the engine lists it: enough to know whether it changed, without its platform. */
export type ImageListing = Pick<ImageSummary, 'id' | 'repoTags' | 'repoDigests'>;

export interface SubscribeOptions {
  /** Milliseconds since the epoch; events from this time on are replayed before live ones. */
  since?: number;
}

export interface Disposer {
  (): void;
}

export interface ContainerRuntime {
  info(): Promise<EngineInfo>;
  /** Containers (running or not) carrying every label given as `key` or `key=value`. */
  listContainers(labelFilters: string[]): Promise<ContainerSummary[]>;
  /** Returns the new container's ID. Fails with code `not_found` when the image is absent. */
  createContainer(options: ContainerCreateOptions): Promise<string>;
  startContainer(id: string): Promise<void>;
  /** Sends the stop signal, then SIGKILL after `timeoutSeconds`. Stopping a stopped container is not an error. */
  stopContainer(id: string, timeoutSeconds: number): Promise<void>;
  /** Removing a container that is already gone is not an error. */
  removeContainer(id: string, options?: { force?: boolean }): Promise<void>;
  /** Undefined when no such container exists. */
  inspectContainer(id: string): Promise<ContainerDetails | undefined>;
  /** Undefined when the engine has no such image locally. Never contacts a registry. */
  inspectImage(ref: string): Promise<ImageSummary | undefined>;
  /** Every image the engine holds (intermediate layers excepted). */
  listImages(): Promise<ImageListing[]>;
  /** Networks carrying every label given as `key` or `key=value`. */
  listNetworks(labelFilters: string[]): Promise<EngineNetwork[]>;
  /** A bridge network; returns its ID. */
  createNetwork(options: NetworkCreateOptions): Promise<string>;
  /** Removing a network that is gone is not an error; one with containers attached fails with code `conflict`. */
  removeNetwork(id: string): Promise<void>;
  /**
   * Streams container events matching the label filters until disposed. `onError` is called once if the stream
   * breaks (e.g. the engine restarted); the caller resubscribes. Events are only promised from some moment after
   * the call: pass `since` (ms since the epoch) to also replay those from that time on, so that a resubscription,
   * or a test that acts right after subscribing, misses nothing.
   */
  subscribeEvents(
    labelFilters: string[],
    onEvent: (event: ContainerEvent) => void,
    onError: (err: Error) => void,
    options?: SubscribeOptions,
  ): Disposer;
}
