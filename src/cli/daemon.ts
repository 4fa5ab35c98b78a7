/**
 * `swarmlet daemon`: run this node. Flags become DaemonOptions; the daemon itself is loaded only here, so client
 * commands never load the manager, the agent or the store.
 */

import { invalidArgument } from '../errors.ts';
import type { DaemonOptions } from '../daemon/options.ts';
import { DEFAULT_ENGINE, defaultDataDir, defaultSocketPath, socketPathFromUrl } from '../paths.ts';
import { parseMemorySize } from '../util/units.ts';
import { parseDuration } from '../util/duration.ts';
import type { CommandSpec } from './command.ts';
import { type ParsedArgs, stringOption } from './flags.ts';

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
  ],
  async run(ctx) {
    const options = daemonOptions(ctx.args);
    const { runDaemon } = await import('../daemon/daemon.ts');
    await runDaemon(options);
  },
};
