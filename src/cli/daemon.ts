/**
 * `swarmlet daemon`: run this node. Flags become DaemonOptions; the daemon itself is loaded only here, so client
 * commands never load the manager, the agent or the store.
 *
 * The routing mesh's limits are flags too (--mesh-*), for the node's operator to raise: clients behind one NAT share
 * one address, and a busy node needs more connections per port. Each is checked here, naming its flag, and a
 * per-client limit above its port's is refused; the mesh checks the whole set again when it starts (limits.ts).
 */

import { invalidArgument } from '../errors.ts';
import type { DaemonOptions } from '../daemon/options.ts';
import { DEFAULT_MESH_LIMITS, MAX_TIMEOUT_MS, PER_CLIENT_LIMITS, type MeshLimits } from '../mesh/limits.ts';
import { DEFAULT_ENGINE, defaultDataDir, defaultSocketPath, socketPathFromUrl } from '../paths.ts';
import { parseMemorySize } from '../util/units.ts';
import { formatDuration, parseDuration } from '../util/duration.ts';
import type { CommandSpec } from './command.ts';
import { type OptionSpec, type ParsedArgs, stringOption } from './flags.ts';

type MeshLimitName = keyof MeshLimits;

interface MeshLimitFlag {
  flag: string;
  limit: MeshLimitName;
  /** A count of connections or flows, or a duration (the limit holds milliseconds). */
  kind: 'count' | 'duration';
  /** The help text, before the default. */
  description: string;
}

/** The mesh limits an operator may set, one flag each; the others stay as limits.ts has them. */
export const MESH_LIMIT_FLAGS: readonly MeshLimitFlag[] = [
  { flag: 'mesh-max-connections', limit: 'maxConnections', kind: 'count', description: 'Open TCP connections per published port on this node' },
  { flag: 'mesh-max-connections-per-client', limit: 'maxConnectionsPerClient', kind: 'count', description: 'Open TCP connections per client address on one published port' },
  { flag: 'mesh-udp-max-flows', limit: 'udpMaxFlows', kind: 'count', description: 'UDP flows per published port on this node' },
  { flag: 'mesh-udp-max-flows-per-client', limit: 'udpMaxFlowsPerClient', kind: 'count', description: 'UDP flows per client address on one published port' },
  { flag: 'mesh-connect-timeout', limit: 'connectTimeoutMs', kind: 'duration', description: "How long reaching a service's task may take, per attempt" },
  { flag: 'mesh-idle-timeout', limit: 'idleTimeoutMs', kind: 'duration', description: 'A TCP connection with no bytes either way for this long is closed' },
  { flag: 'mesh-udp-flow-timeout', limit: 'udpFlowTimeoutMs', kind: 'duration', description: 'A UDP flow with no datagram either way for this long ends' },
  { flag: 'mesh-udp-stream-timeout', limit: 'udpStreamTimeoutMs', kind: 'duration', description: 'The same for a flow answered and still active after 2s' },
];

/** A limit's default as its flag is written: `4096`, `5m0s`. */
const defaultText = ({ limit, kind }: MeshLimitFlag) => (kind === 'count' ? String(DEFAULT_MESH_LIMITS[limit]) : formatDuration(DEFAULT_MESH_LIMITS[limit] * 1e6));

const flagOf = (limit: MeshLimitName) => MESH_LIMIT_FLAGS.find((spec) => spec.limit === limit)!.flag;

function parseMeshLimit(spec: MeshLimitFlag, text: string): number {
  if (spec.kind === 'count') {
    const count = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
    if (!Number.isSafeInteger(count) || count < 1) throw invalidArgument(`invalid --${spec.flag} "${text}": give a whole number ≥ 1 (default ${defaultText(spec)})`);
    return count;
  }
  const fail = (err?: unknown) =>
    invalidArgument(`invalid --${spec.flag} "${text}": give a duration between 1ms and ${formatDuration(MAX_TIMEOUT_MS * 1e6)} (e.g. 10s, 5m; default ${defaultText(spec)})`, err);
  let ms: number;
  try {
    ms = Math.floor(parseDuration(text) / 1e6);
  } catch (err) {
    throw fail(err);
  }
  if (ms < 1 || ms > MAX_TIMEOUT_MS) throw fail();
  return ms;
}

/**
 * The --mesh-* flags given, as limits; undefined when none was. A per-client limit above its port's — the port's
 * flag or its default — is refused: no client could reach it.
 */
export function meshLimitsFromFlags(options: ParsedArgs['options']): Partial<MeshLimits> | undefined {
  const limits: Partial<MeshLimits> = {};
  for (const spec of MESH_LIMIT_FLAGS) {
    const text = stringOption(options, spec.flag);
    if (text !== undefined) limits[spec.limit] = parseMeshLimit(spec, text);
  }
  for (const { perClient, perPort } of PER_CLIENT_LIMITS) {
    const client = limits[perClient];
    const port = limits[perPort] ?? DEFAULT_MESH_LIMITS[perPort];
    if (client === undefined || client <= port) continue;
    const portText = limits[perPort] === undefined ? `its default ${port}` : String(port);
    throw invalidArgument(`invalid --${flagOf(perClient)} ${client}: above --${flagOf(perPort)} (${portText}), which bounds every client of the port together; raise --${flagOf(perPort)} to at least ${client} too`);
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}

const meshLimitOptions: OptionSpec[] = MESH_LIMIT_FLAGS.map((spec) => ({
  name: spec.flag,
  value: spec.kind === 'count' ? 'N' : 'DURATION',
  description: `${spec.description} (default ${defaultText(spec)})`,
}));

/** Builds the daemon's options from its flags, with the defaults from src/paths.ts. */
export function daemonOptions({ options }: ParsedArgs): DaemonOptions {
  const engine = stringOption(options, 'engine') ?? DEFAULT_ENGINE;
  try {
    socketPathFromUrl(engine);
  } catch (err) {
    throw invalidArgument(`invalid --engine "${engine}": use unix:///path/to/engine.sock (e.g. ${DEFAULT_ENGINE})`, err);
  }
  const reserve = stringOption(options, 'reserve-system-memory');
  const hostname = stringOption(options, 'hostname');
  const listenAddr = stringOption(options, 'listen-addr');
  const advertiseAddr = stringOption(options, 'advertise-addr');
  const discovery = stringOption(options, 'discovery');
  const heartbeat = stringOption(options, 'heartbeat-period');
  const meshLimits = meshLimitsFromFlags(options);
  return {
    ...(listenAddr ? { listenAddr } : {}),
    ...(advertiseAddr ? { advertiseAddr } : {}),
    ...(discovery ? { discovery } : {}),
    ...(heartbeat ? heartbeatTimings(heartbeat) : {}),
    dataDir: stringOption(options, 'data-dir') ?? defaultDataDir(),
    socket: socketPathFromUrl(stringOption(options, 'socket') ?? defaultSocketPath()),
    engine,
    ...(hostname ? { hostname } : {}),
    ...(reserve !== undefined ? { systemReserveMemory: parseMemorySize(reserve) } : {}),
    ...(meshLimits ? { meshLimits } : {}),
  };
}

/** Heartbeat period; a node is marked down after three missed heartbeats. */
function heartbeatTimings(text: string): { heartbeatMs: number; downAfterMs: number } {
  const ms = parseDuration(text) / 1e6;
  if (!(ms >= 100 && ms <= 60_000)) throw invalidArgument(`invalid --heartbeat-period "${text}": give a duration between 100ms and 1m (e.g. 1s)`);
  return { heartbeatMs: ms, downAfterMs: 3 * ms };
}

export const daemonCommand: CommandSpec = {
  name: 'daemon',
  description: 'Run this node: serve the swarmlet API and run containers on the local engine',
  options: [
    { name: 'data-dir', value: 'DIR', description: `Where the state store lives (default "${defaultDataDir()}")` },
    { name: 'socket', value: 'PATH', description: `Unix socket to serve the API on (default "${defaultSocketPath()}")` },
    { name: 'engine', value: 'URL', description: `Container engine API address (default "${DEFAULT_ENGINE}")` },
    { name: 'hostname', value: 'NAME', description: "Hostname this node reports (default: the machine's)" },
    { name: 'listen-addr', value: 'ADDR', description: 'Where the node transport listens once in a cluster (default "0.0.0.0:4377")' },
    { name: 'advertise-addr', value: 'ADDR', description: "Address other nodes reach this one at (default: this machine's LAN address)" },
    { name: 'discovery', value: 'MODE', description: 'mDNS discovery: on (default), off, or interface names (e.g. eth0,wlan0)' },
    { name: 'heartbeat-period', value: 'DURATION', description: 'How often nodes heartbeat their leader; down after 3 missed (default 1s)' },
    { name: 'reserve-system-memory', value: 'SIZE', description: 'Memory kept back for the system, never reserved by tasks (e.g. 256M)' },
    ...meshLimitOptions,
  ],
  async run(ctx) {
    const options = daemonOptions(ctx.args);
    const { runDaemon } = await import('../daemon/daemon.ts');
    await runDaemon(options);
  },
};
