/**
 * The command tree: the words `swarmlet` understands, in the order help lists them. Groups hold the commands that
 * mirror Docker's (`service`, `node`); the rest sit at the top level as in Docker Swarm's own `init`.
 */

import { VERSION } from '../version.ts';
import type { CommandGroup, CommandSpec } from './command.ts';
import { daemonCommand } from './daemon.ts';
import { discoverCommand } from './discover.ts';
import { eventsCommand } from './events.ts';
import { booleanOption, stringOption } from './flags.ts';
import { installCommand } from './install.ts';
import { nodeCommands } from './node.ts';
import { serviceCommands } from './service.ts';
import { caCommand, initCommand, joinCommand, joinTokenCommand, leaveCommand } from './swarm.ts';

/** What `swarmlet --version` and `swarmlet version` print. */
export function versionLine(): string {
  return `swarmlet version ${VERSION}\n`;
}

const version: CommandSpec = {
  name: 'version',
  description: 'Show the swarmlet version',
  options: [],
  async run(ctx) {
    ctx.out(versionLine());
  },
};

const install: CommandSpec = {
  name: 'install',
  description: 'Install this executable to /usr/local/bin as a systemd service, enabled and started',
  options: [
    { name: 'dry-run', description: 'Print what would be done and change nothing' },
    { name: 'root', value: 'DIR', description: 'Install into a system image under DIR; systemctl steps are skipped (default "/")' },
  ],
  async run(ctx) {
    const { options } = ctx.args;
    await installCommand({
      dryRun: booleanOption(options, 'dry-run'),
      root: stringOption(options, 'root') ?? '/',
      log: (line) => ctx.out(`${line}\n`),
    });
  },
};

/** Commands at the top level: `swarmlet init`, `swarmlet daemon`... */
export const ROOT_COMMANDS: CommandSpec[] = [initCommand, joinCommand, joinTokenCommand, leaveCommand, caCommand, eventsCommand, discoverCommand, daemonCommand, install, version];

/** Command groups: `swarmlet service ...`, `swarmlet node ...`. */
export const GROUPS: CommandGroup[] = [serviceCommands, nodeCommands];
