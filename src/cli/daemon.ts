/**
 * `swarmlet daemon`: run this node. Flags become DaemonOptions; the daemon itself is loaded only here, so client
 * commands never load the manager, the agent or the store.
 */

import { invalidArgument } from '../errors.ts';
import type { DaemonOptions } from '../daemon/options.ts';
import { DEFAULT_ENGINE, defaultDataDir, defaultSocketPath, socketPathFromUrl } from '../paths.ts';
import { parseMemorySize } from '../util/units.ts';
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
  return {
    dataDir: stringOption(options, 'data-dir') ?? defaultDataDir(),
    socket: socketPathFromUrl(stringOption(options, 'socket') ?? defaultSocketPath()),
    engine,
    ...(hostname ? { hostname } : {}),
    ...(reserve !== undefined ? { systemReserveMemory: parseMemorySize(reserve) } : {}),
  };
}

export const daemonCommand: CommandSpec = {
  name: 'daemon',
  description: 'Run this node: serve the swarmlet API and run containers on the local engine',
  options: [
    { name: 'data-dir', value: 'DIR', description: `Where the state store lives (default "${defaultDataDir()}")` },
    { name: 'socket', value: 'PATH', description: `Unix socket to serve the API on (default "${defaultSocketPath()}")` },
    { name: 'engine', value: 'URL', description: `Container engine API address (default "${DEFAULT_ENGINE}")` },
    { name: 'hostname', value: 'NAME', description: "Hostname this node reports (default: the machine's)" },
    { name: 'reserve-system-memory', value: 'SIZE', description: 'Memory kept back for the system, never reserved by tasks (e.g. 256M)' },
  ],
  async run(ctx) {
    const options = daemonOptions(ctx.args);
    const { runDaemon } = await import('../daemon/daemon.ts');
    await runDaemon(options);
  },
};
