/**
 * The swarm object model, in the JSON shapes of the Docker Engine API v1.41.
 *
 * swarmlet mirrors Swarm's objects instead of inventing its own: the stock docker CLI, `docker stack deploy`
 * and visualizers then work against swarmlet unchanged, and the model (spec vs. status, desired vs. observed
 * state, slots, versions) is one that has held up in production for years. Only the fields swarmlet reads or
 * writes are declared; unknown fields in a spec are kept as they came.
 */

/** Monotonic version of a stored object; updates must name the version they read (optimistic concurrency). */
export interface ObjectVersion {
  Index: number;
}

export interface Meta {
  ID: string;
  Version: ObjectVersion;
  /** RFC 3339 with nanoseconds, as Docker prints it. */
  CreatedAt: string;
  UpdatedAt: string;
}

export type Labels = Record<string, string>;

export interface ResourceSet {
  NanoCPUs?: number;
  MemoryBytes?: number;
}

export interface Resources {
  Limits?: ResourceSet;
  Reservations?: ResourceSet;
}

export type RestartCondition = 'none' | 'on-failure' | 'any';

export interface RestartPolicy {
  Condition?: RestartCondition;
  /** Nanoseconds between a task's end and its replacement's start. */
  Delay?: number;
  /** 0 means unlimited. */
  MaxAttempts?: number;
  /** Nanoseconds over which restarts are counted against MaxAttempts; 0 means forever. */
  Window?: number;
}

export interface Placement {
  Constraints?: string[];
  Preferences?: Array<{ Spread?: { SpreadDescriptor: string } }>;
  MaxReplicas?: number;
  Platforms?: Array<{ Architecture?: string; OS?: string }>;
}

export interface ContainerSpec {
  Image: string;
  Labels?: Labels;
  Command?: string[];
  Args?: string[];
  Hostname?: string;
  Env?: string[];
  Dir?: string;
  User?: string;
  TTY?: boolean;
  OpenStdin?: boolean;
  /** Nanoseconds the engine waits after SIGTERM before SIGKILL. */
  StopGracePeriod?: number;
  StopSignal?: string;
  Init?: boolean;
  /** Docker's healthcheck; `Test: ['NONE']` turns off the image's own. Durations in nanoseconds. */
  Healthcheck?: HealthConfig;
  Mounts?: Mount[];
  CapabilityAdd?: string[];
  CapabilityDrop?: string[];
  /**
   * swarmlet's addition: host devices passed into the container — GPIO, I2C, a USB radio. Swarm has no way to do
   * this (moby issue 24862).
   */
  Devices?: DeviceMapping[];
  /** swarmlet's addition: a privileged container (swarmkit issue 1030). */
  Privileged?: boolean;
}

export interface HealthConfig {
  /** `['CMD', ...]`, `['CMD-SHELL', 'cmd']`, or `['NONE']`. */
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface Mount {
  Type: 'bind' | 'volume' | 'tmpfs';
  /** The host path (bind) or the volume's name (volume); none for tmpfs or an anonymous volume. */
  Source?: string;
  Target: string;
  ReadOnly?: boolean;
  BindOptions?: { Propagation?: string };
  VolumeOptions?: { NoCopy?: boolean; Labels?: Labels; DriverConfig?: { Name?: string; Options?: Record<string, string> } };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface DeviceMapping {
  PathOnHost: string;
  PathInContainer: string;
  /** `rwm` by default, as `docker run --device` has it. */
  CgroupPermissions: string;
}

export interface TaskSpec {
  ContainerSpec: ContainerSpec;
  Resources?: Resources;
  RestartPolicy?: RestartPolicy;
  Placement?: Placement;
  /** Bumped to force a redeploy of otherwise identical tasks. */
  ForceUpdate?: number;
  Runtime?: string;
  /** The networks the tasks join: a name or ID as sent, the network's ID as stored (the API resolves it). */
  Networks?: NetworkAttachmentConfig[];
  LogDriver?: { Name: string; Options?: Record<string, string> };
}

export interface ServiceMode {
  Replicated?: { Replicas?: number };
  Global?: Record<string, never>;
}

export interface UpdateConfig {
  Parallelism?: number;
  Delay?: number;
  FailureAction?: 'continue' | 'pause' | 'rollback';
  Monitor?: number;
  MaxFailureRatio?: number;
  Order?: 'stop-first' | 'start-first';
}

/**
 * A port of a service's tasks published on the cluster's nodes (Docker's EndpointPortConfig). `ingress` is the
 * routing mesh: the published port is open on every node and forwarded to some task; `host` opens it only on the
 * nodes that run a task. Docker fills Protocol and PublishMode in when the client leaves them out (tcp, ingress).
 */
export interface EndpointPortConfig {
  Name?: string;
  Protocol?: 'tcp' | 'udp' | 'sctp';
  /** The port inside the container. */
  TargetPort: number;
  /** The port on the nodes; left out (or 0) in an ingress spec, the manager picks one from 30000-32767. */
  PublishedPort?: number;
  PublishMode?: 'ingress' | 'host';
}

export interface EndpointSpec {
  /** How the service's name resolves: a virtual IP in front of the tasks, or DNS round robin over them. */
  Mode?: 'vip' | 'dnsrr';
  Ports?: EndpointPortConfig[];
}

/**
 * The service's endpoint as the cluster made it: the spec it was made from, and its ports with every ingress port's
 * PublishedPort filled in (the ones the manager picked included), and in vip mode one virtual IP on each network the
 * service is attached to (`10.0.1.2/24`), kept across updates for as long as the network stays attached.
 */
export interface Endpoint {
  Spec: EndpointSpec;
  Ports?: EndpointPortConfig[];
  VirtualIPs?: Array<{ NetworkID: string; Addr: string }>;
}

export interface ServiceSpec {
  Name: string;
  Labels?: Labels;
  TaskTemplate: TaskSpec;
  /** Deprecated by Docker in favour of TaskTemplate.Networks; the API moves it there, so it is never stored. */
  Networks?: NetworkAttachmentConfig[];
  Mode?: ServiceMode;
  UpdateConfig?: UpdateConfig;
  RollbackConfig?: UpdateConfig;
  EndpointSpec?: EndpointSpec;
}

export interface ServiceStatus {
  RunningTasks: number;
  DesiredTasks: number;
  CompletedTasks: number;
}

/** Where a rolling update (or a rollback) of a service's tasks stands: Docker's UpdateStatus. */
export type UpdateState = 'updating' | 'paused' | 'completed' | 'rollback_started' | 'rollback_paused' | 'rollback_completed';

export interface UpdateStatus {
  State: UpdateState;
  StartedAt?: string;
  CompletedAt?: string;
  Message?: string;
}

export interface Service extends Meta {
  Spec: ServiceSpec;
  PreviousSpec?: ServiceSpec;
  /** Set while a change to the task template is rolled out, and kept once it ends; cleared by the next update. */
  UpdateStatus?: UpdateStatus;
  Endpoint?: Endpoint;
  /** Only filled when the caller asks with `?status=true`. */
  ServiceStatus?: ServiceStatus;
}

/** Swarm's task states, in lifecycle order; a task only ever moves forward through them. */
export const TASK_STATES = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'ready',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface ContainerStatus {
  ContainerID?: string;
  PID?: number;
  ExitCode?: number;
}

export interface TaskStatus {
  Timestamp: string;
  State: TaskState;
  Message: string;
  Err?: string;
  ContainerStatus?: ContainerStatus;
  /** The task's host-mode ports as its node bound them (the port the engine picked, when the spec left it out). */
  PortStatus?: { Ports?: EndpointPortConfig[] };
}

export interface Task extends Meta {
  Name?: string;
  Labels?: Labels;
  Spec: TaskSpec;
  ServiceID: string;
  /** Replicated services number their tasks' positions from 1; a replacement takes its predecessor's slot. */
  Slot?: number;
  NodeID?: string;
  Status: TaskStatus;
  DesiredState: TaskState;
  /**
   * When a manager first recorded the task running (healthy, for a task with a healthcheck): a swarmlet addition, in
   * the managers' clock, from which a rolling update times its delay and its monitor period.
   */
  ReadyAt?: string;
  /** Version of the service spec this task was made from; a mismatch marks the task for update. */
  SpecVersion?: ObjectVersion;
  /** The service's endpoint when the task was made, as Swarm copies it: the agent binds its host-mode ports. */
  Endpoint?: Endpoint;
  /**
   * The task's address on each network its spec names, in the spec's order, given by the manager when the task is
   * made (`10.0.1.7/24`). A task whose networks had no free address is rejected instead, and has none.
   */
  NetworksAttachments?: NetworkAttachment[];
}

/** How a service joins a network (Docker's NetworkAttachmentConfig). */
export interface NetworkAttachmentConfig {
  /** A network name or ID in a request; the network's ID once stored. */
  Target: string;
  /** More names the service answers to on this network, besides its own. */
  Aliases?: string[];
  DriverOpts?: Record<string, string>;
}

/** A network driver and its options (Swarm's Driver): `overlay`, with `encrypted` or an MTU. */
export interface NetworkDriver {
  Name: string;
  Options?: Record<string, string>;
}

export interface IPAMConfig {
  Subnet: string;
  Range?: string;
  Gateway?: string;
}

export interface IPAMOptions {
  Driver: NetworkDriver;
  Configs?: IPAMConfig[];
}

/** What a swarm network is asked to be (Swarm's NetworkSpec). */
export interface NetworkSpec {
  Name: string;
  Labels?: Labels;
  DriverConfiguration?: NetworkDriver;
  IPv6Enabled?: boolean;
  Internal?: boolean;
  /** Standalone containers (`docker run --network`) may join it too, not only services' tasks. */
  Attachable?: boolean;
  Ingress?: boolean;
  /** The addressing the user asked for, if any; the one in use is the network's own IPAMOptions. */
  IPAMOptions?: IPAMOptions;
  Scope?: string;
}

/**
 * A swarm network as Swarm's store holds it: the spec, the driver's state, and the addressing in use — one IPv4
 * subnet and its gateway in IPAMOptions.Configs[0].
 */
export interface Network extends Meta {
  Spec: NetworkSpec;
  DriverState: NetworkDriver;
  IPAMOptions: IPAMOptions & { Configs: Array<IPAMConfig & { Gateway: string }> };
}

/** A task's place on a network (Docker's NetworkAttachment): the network as it was, and the task's address on it. */
export interface NetworkAttachment {
  Network: Network;
  Addresses: string[];
}

export type NodeRole = 'worker' | 'manager';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';

export interface NodeSpec {
  Name?: string;
  Labels?: Labels;
  Role: NodeRole;
  Availability: NodeAvailability;
}

/** An image a node's engine holds: what the scheduler needs to know whether the node can run a task. */
export interface NodeImage {
  /** The image ID, `sha256:…`. */
  ID: string;
  RepoTags: string[];
  RepoDigests: string[];
  /** As the image's config says it (`amd64`, `arm64`), not the engine's spelling of the machine. */
  Platform: { OS: string; Architecture: string; Variant?: string };
  /** The ports its config exposes (EXPOSE), as `80/tcp`: what a service of it serves on an overlay network. */
  ExposedPorts?: string[];
}

export interface NodeDescription {
  Hostname: string;
  Platform: { Architecture: string; OS: string };
  Resources: { NanoCPUs: number; MemoryBytes: number };
  Engine: { EngineVersion: string; Labels?: Labels; Plugins?: Array<{ Type: string; Name: string }> };
  /**
   * swarmlet's addition: the images the node's engine holds. With no registry to pull from, a node can run only
   * these. Absent in descriptions written before it was reported: the scheduler then assumes nothing is missing.
   */
  Images?: NodeImage[];
  /** swarmlet's addition: false when the node's engine cannot enforce memory limits (its memory cgroup is off). */
  MemoryLimit?: boolean;
  /**
   * swarmlet's addition: the published ingress ports the node's routing mesh could not open (another program holds
   * them, or the node may not bind them). It keeps trying each; absent when every published port is open.
   */
  MeshPortConflicts?: MeshPortConflict[];
}

/** A published port a node's routing mesh could not open, as the node reports it (NodeDescription.MeshPortConflicts). */
export interface MeshPortConflict {
  Port: number;
  Protocol: 'tcp' | 'udp';
  /** The service that publishes it. */
  ServiceID: string;
  /** Why, in the system's words: MESH_PORT_ERRORS for the usual causes, the error's message otherwise. */
  Error: string;
}

/**
 * What a node says in MeshPortConflict.Error for the usual causes (strerror's words): another program holds the port,
 * the node may not bind it (a port below 1024 without the privilege), the listen address is not the node's.
 */
export const MESH_PORT_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EACCES: 'permission denied',
  EADDRNOTAVAIL: 'address not available',
};

export interface Node extends Meta {
  Spec: NodeSpec;
  Description: NodeDescription;
  Status: { State: NodeState; Message?: string; Addr: string };
  ManagerStatus?: { Leader?: boolean; Reachability: 'unknown' | 'unreachable' | 'reachable'; Addr: string };
}

export interface SwarmSpec {
  Name: string;
  Labels?: Labels;
  Orchestration: { TaskHistoryRetentionLimit: number };
  Raft: { SnapshotInterval: number; KeepOldSnapshots: number; LogEntriesForSlowFollowers: number; ElectionTick: number; HeartbeatTick: number };
  Dispatcher: { HeartbeatPeriod: number };
  CAConfig: { NodeCertExpiry: number; ForceRotate?: number };
  TaskDefaults: Record<string, unknown>;
  EncryptionConfig: { AutoLockManagers: boolean };
}

export interface Swarm extends Meta {
  Spec: SwarmSpec;
  JoinTokens: { Worker: string; Manager: string };
  RootRotationInProgress: boolean;
  DefaultAddrPool: string[];
  SubnetSize: number;
  DataPathPort: number;
}
