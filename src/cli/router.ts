/**
 * From argv to a command: global flags, the command words, the command's own flags, then its action.
 *
 * cac has no multi-word commands, so each group (`service`, `node`) gets its own cac instance named
 * `swarmlet service`, used for what cac is good at: help text, built from the same declarations the flag parser
 * reads. Routing by word is a lookup in the command tree (commands.ts), and flags are parsed by flags.ts with
 * Docker's rules. Global flags go before the command word, as with docker (`swarmlet -H unix:///x.sock node ls`);
 * `-H` is accepted among a command's flags too.
 */

import { cac } from 'cac';
import { invalidArgument } from '../errors.ts';
import { ApiClient, resolveSocket } from './api-client.ts';
import { type CommandContext, type CommandGroup, type CommandSpec, checkArgCount } from './command.ts';
import { GROUPS, ROOT_COMMANDS, versionLine } from './commands.ts';
import { type OptionSpec, booleanOption, parseArgs, stringOption } from './flags.ts';
import { networkCommands } from './network.ts';

/** Where a run reads its environment and writes its output; main.ts passes the process's, tests their own. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  now(): number;
}

const HOST_OPTION: OptionSpec = {
  name: 'host',
  short: 'H',
  value: 'unix://PATH',
  description: 'Daemon socket to connect to (default: $SWARMLET_HOST, else the default socket)',
};
const VERSION_OPTION: OptionSpec = { name: 'version', short: 'v', description: 'Print version information and quit' };

/** Every command group: the tree's, and `network`. */
const ALL_GROUPS: CommandGroup[] = [...GROUPS, networkCommands];

/** Runs the command line (without `node` and the script). Throws on failure; main.ts prints the error. */
export async function route(argv: readonly string[], io: Io): Promise<void> {
  const global = parseArgs(argv, [HOST_OPTION, VERSION_OPTION], { interspersed: false });
  const host = stringOption(global.options, 'host');
  if (booleanOption(global.options, 'version')) {
    io.out(versionLine());
    return;
  }
  const [word, ...rest] = global.positionals;
  if (word === undefined || word === 'help' || booleanOption(global.options, 'help')) {
    helpCli('swarmlet', ROOT_COMMANDS, ALL_GROUPS).outputHelp();
    return;
  }

  const leaf = ROOT_COMMANDS.find((command) => command.name === word);
  if (leaf) {
    await runCommand('swarmlet', ROOT_COMMANDS, ALL_GROUPS, leaf, rest, host, io);
    return;
  }
  const group = ALL_GROUPS.find((candidate) => candidate.name === word);
  if (!group) throw invalidArgument(`unknown command "${word}" for "swarmlet"; see 'swarmlet --help'`);

  const prefix = `swarmlet ${group.name}`;
  const [sub, ...subArgs] = rest;
  if (sub === undefined || sub === 'help' || sub === '--help' || sub === '-h') {
    helpCli(prefix, group.commands).outputHelp();
    return;
  }
  const command = group.commands.find((candidate) => candidate.name === sub);
  if (!command) throw invalidArgument(`unknown command "${sub}" for "${prefix}"; see '${prefix} --help'`);
  await runCommand(prefix, group.commands, [], command, subArgs, host, io);
}

async function runCommand(
  prefix: string,
  siblings: CommandSpec[],
  groups: CommandGroup[],
  spec: CommandSpec,
  argv: readonly string[],
  globalHost: string | undefined,
  io: Io,
): Promise<void> {
  const args = parseArgs(argv, [...spec.options, HOST_OPTION], { interspersed: spec.interspersed ?? true });
  if (booleanOption(args.options, 'help')) {
    const cli = helpCli(prefix, siblings, groups);
    cli.commands.find((command) => command.name === spec.name)!.outputHelp();
    return;
  }
  checkArgCount(`${prefix} ${spec.name}`, spec, args.positionals.length);
  const host = stringOption(args.options, 'host') ?? globalHost;
  let client: ApiClient | undefined;
  const ctx: CommandContext = {
    args,
    api: () => (client ??= new ApiClient(resolveSocket(host, io.env))),
    out: io.out,
    err: io.err,
    now: io.now,
  };
  await spec.run(ctx);
}

/** `-e, --env <K=V>`: how cac shows (and names) a declared option. */
function rawOptionName(option: OptionSpec): string {
  const names = `${option.short ? `-${option.short}, ` : ''}--${option.name}`;
  return option.value ? `${names} <${option.value}>` : names;
}

/** A cac instance that knows the commands' words, arguments and flags — for help output only. */
function helpCli(prefix: string, commands: readonly CommandSpec[], groups: readonly CommandGroup[] = []) {
  const cli = cac(prefix);
  for (const spec of commands) {
    const command = cli.command(spec.args ? `${spec.name} ${spec.args}` : spec.name, spec.description);
    for (const option of spec.options) command.option(rawOptionName(option), option.description);
    for (const example of spec.examples ?? []) command.example(`  $ ${example}`);
  }
  for (const group of groups) cli.command(`${group.name} <command>`, group.description);
  cli.option(rawOptionName(HOST_OPTION), HOST_OPTION.description);
  if (prefix === 'swarmlet') cli.option(rawOptionName(VERSION_OPTION), VERSION_OPTION.description);
  cli.usage('<command> [options]');
  // cac ends every option line with a space (where a default would go); keep the output free of trailing blanks.
  cli.help((sections) => sections.map((section) => ({ ...section, body: section.body.replace(/ +$/gm, '') })));
  return cli;
}
