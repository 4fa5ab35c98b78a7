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
}
