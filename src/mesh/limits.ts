/**
 * The bounds that keep a published port's clients — slow, stuck, half-open or hostile — from costing a node more
 * than a bounded share of memory and sockets, and from touching other services: each listener has its own.
 * The counts and timeouts an operator may need to change — clients behind one NAT share one address — are the
 * daemon's --mesh-* flags (src/cli/daemon.ts); the rest are set here.
 */

import { invalidArgument } from '../errors.ts';

export interface MeshLimits {
  /** How long reaching a backend may take (a TCP connect, or a stream to another node accepted), per attempt. */
  connectTimeoutMs: number;
  /** Backends tried for one client connection before it is closed. */
  maxAttempts: number;
  /** A connection with no bytes either way for this long is closed: a client that vanished without a FIN. */
  idleTimeoutMs: number;
  /**
   * Bytes one direction of a connection may hold in memory. Readers are paused long before (at the streams'
   * high-water marks); a connection whose buffer still grows past this has a peer that ignores pauses, and is closed.
   */
  maxBufferedBytes: number;
  /** Open client connections on one published port; more are refused at accept. */
  maxConnections: number;
  /** Open client connections from one client address on one published port. */
  maxConnectionsPerClient: number;
  /**
   * A UDP flow ends after this long without a datagram either way, unless it became a stream (below): a flow that
   * was never answered (a probe, a spoofed source) or answered within its first 2 s (a DNS-style exchange). As
   * Linux conntrack's nf_conntrack_udp_timeout, so a flow here lives as long as the NAT mapping in front of it.
   */
  udpFlowTimeoutMs: number;
  /**
   * The same for a flow that was answered and still active 2 s after it began (a VPN, a game, a media session),
   * as conntrack's nf_conntrack_udp_timeout_stream. The task's node keeps its end a little longer than this.
   */
  udpStreamTimeoutMs: number;
  /** Open UDP flows on one published port; datagrams that would start another are dropped. */
  udpMaxFlows: number;
  /** Open UDP flows from one client address (any of its ports) on one published port. */
  udpMaxFlowsPerClient: number;
  /**
   * Datagrams one flow holds while its backend is being reached — sent when it is, or to the next backend if the
   * first turns out to be gone before it answered. More are dropped, as a full socket buffer would drop them.
   */
  udpFlowQueue: number;
  /** Bytes all the flows of one published port may hold that way, together. */
  udpQueuedBytes: number;
}

export const DEFAULT_MESH_LIMITS: Readonly<MeshLimits> = Object.freeze({
  connectTimeoutMs: 3_000,
  maxAttempts: 3,
  idleTimeoutMs: 5 * 60_000,
  maxBufferedBytes: 4 << 20,
  maxConnections: 4_096,
  maxConnectionsPerClient: 512,
  udpFlowTimeoutMs: 30_000,
  udpStreamTimeoutMs: 120_000,
  udpMaxFlows: 4_096,
  udpMaxFlowsPerClient: 512,
  udpFlowQueue: 16,
  udpQueuedBytes: 4 << 20,
});

/**
 * The longest timeout a limit may name: a week. Node's timers hold a signed 32-bit count of milliseconds (24.8
 * days) and one set longer fires at once, so an idle timeout of "30 days" would close every connection the moment
 * it opened; a week leaves room for the waits made from these (a connect timeout times the attempts, the task's
 * node's margin on a UDP stream).
 */
export const MAX_TIMEOUT_MS = 7 * 24 * 3_600_000;

/** Node's timer ceiling, which no wait derived from the limits may pass. */
const TIMER_CEILING_MS = 2 ** 31 - 1;

/** The limits that count per client address, each with the per-port limit it lives within. */
export const PER_CLIENT_LIMITS = [
  { perClient: 'maxConnectionsPerClient', perPort: 'maxConnections' },
  { perClient: 'udpMaxFlowsPerClient', perPort: 'udpMaxFlows' },
] as const satisfies ReadonlyArray<{ perClient: keyof MeshLimits; perPort: keyof MeshLimits }>;

/**
 * Defaults filled in and every value checked: a NaN, a fraction or a 0 here would silently remove a protection.
 * A per-client limit may not exceed its port's: given both, that is an error; a per-client limit left to its
 * default follows a port limit lowered below it (one client may then hold the whole port, as it could before).
 */
export function resolveMeshLimits(partial: Partial<MeshLimits> = {}): MeshLimits {
  const limits = { ...DEFAULT_MESH_LIMITS, ...partial };
  for (const [name, value] of Object.entries(limits)) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) throw invalidArgument(`mesh limit ${name} must be a whole number ≥ 1, got ${String(value)}`);
    if (name.endsWith('Ms') && value > MAX_TIMEOUT_MS) throw invalidArgument(`mesh limit ${name} must be at most ${MAX_TIMEOUT_MS} ms (a week), got ${value}`);
  }
  // The ingress gives a client's connection this long to reach a backend, over all its attempts.
  if (limits.connectTimeoutMs * limits.maxAttempts > TIMER_CEILING_MS) {
    throw invalidArgument(`mesh limits connectTimeoutMs × maxAttempts must be at most ${TIMER_CEILING_MS} ms, got ${limits.connectTimeoutMs} × ${limits.maxAttempts}`);
  }
  for (const { perClient, perPort } of PER_CLIENT_LIMITS) {
    if (limits[perClient] <= limits[perPort]) continue;
    if (partial[perClient] !== undefined) throw invalidArgument(`mesh limit ${perClient} (${limits[perClient]}) may not exceed ${perPort} (${limits[perPort]})`);
    limits[perClient] = limits[perPort];
  }
  return limits;
}

/** The limits an operator sets, in one line for the daemon's log: what the node runs with, flags and defaults merged. */
export function describeMeshLimits(limits: MeshLimits): string {
  const seconds = (ms: number) => `${ms / 1000}s`;
  return (
    `${limits.maxConnections} TCP connections per published port (${limits.maxConnectionsPerClient} per client address), ` +
    `${limits.udpMaxFlows} UDP flows (${limits.udpMaxFlowsPerClient} per client address); ` +
    `connect timeout ${seconds(limits.connectTimeoutMs)}, idle timeout ${seconds(limits.idleTimeoutMs)}, ` +
    `UDP flow timeout ${seconds(limits.udpFlowTimeoutMs)} (${seconds(limits.udpStreamTimeoutMs)} once a stream)`
  );
}
