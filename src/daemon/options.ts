import type { MeshLimits } from '../mesh/limits.ts';

/** What `swarmlet daemon` is told on its command line. */
export interface DaemonOptions {
  /** Where the state store and node identity live. */
  dataDir: string;
  /** The unix socket the swarmlet API (Docker Engine API, swarm subset) is served on. */
  socket: string;
  /** The container engine's API address, `unix:///path`. */
  engine: string;
  /** Overrides the hostname the node reports (tests run several nodes on one machine). */
  hostname?: string;
  /** Bytes of the host's memory kept back for the system and never reserved by tasks. */
  systemReserveMemory?: number;
  /** Default `ip:port` the node transport listens on once the node is in a cluster (init/join may say otherwise). */
  listenAddr?: string;
  /** Default address other nodes reach this one at (init/join may say otherwise). */
  advertiseAddr?: string;
  /** mDNS: `on` (the advertise address's interface), `off`, or interface names separated by commas. */
  discovery?: string;
  /** Dispatcher timings; shorter in tests, never longer than the defaults in practice. */
  heartbeatMs?: number;
  downAfterMs?: number;
  /** The routing mesh's limits the operator set (--mesh-*); the defaults of src/mesh/limits.ts for the rest. */
  meshLimits?: Partial<MeshLimits>;
}
