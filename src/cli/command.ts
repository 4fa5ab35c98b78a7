/**
 * What a CLI command is: its words, its declared flags and positional arguments, and what it does.
 *
 * One declaration per command feeds the flag parser, the argument-count check and the help text, so they cannot
 * drift apart. Commands reach the daemon and the terminal only through the context, which tests can replace.
 */

import { SwarmletError, describeError, invalidArgument } from '../errors.ts';
import type { ApiClient } from './api-client.ts';
import type { OptionSpec, ParsedArgs } from './flags.ts';

export interface CommandContext {
  /** Parsed flags and positional arguments. */
  args: ParsedArgs;
  /** The API client for the daemon chosen by -H / SWARMLET_HOST / the default socket. */
  api(): ApiClient;
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error (warnings; errors are thrown instead). */
  err(text: string): void;
  /** Milliseconds since the epoch; "5 seconds ago" is computed from it. */
  now(): number;
}

export interface CommandSpec {
  /** The word after the group, e.g. `create` in `swarmlet service create`. */
  name: string;
  /** Positional arguments in cac's notation, e.g. `<image> [...command]`; shown in help and checked. */
  args?: string;
  description: string;
  options: OptionSpec[];
  /** false: flags stop at the first positional argument (commands that carry a command line to run). */
  interspersed?: boolean;
  /** Example lines shown in help. */
  examples?: string[];
  run(ctx: CommandContext): Promise<void>;
}

/** A word that groups commands, like `service` in `swarmlet service ls`. */
export interface CommandGroup {
  name: string;
  description: string;
  commands: CommandSpec[];
}

/** Checks the number of positional arguments against the command's declaration, with Docker's wording. */
export function checkArgCount(fullName: string, spec: CommandSpec, count: number): void {
  const declared = (spec.args ?? '').match(/<[^>]+>|\[[^\]]+\]/g) ?? [];
  const required = declared.filter((arg) => arg.startsWith('<')).length;
  const variadic = declared.some((arg) => arg.includes('...'));
  const plural = (n: number) => `${n} argument${n === 1 ? '' : 's'}`;
  const hint = `see '${fullName} --help'`;
  if (count < required) {
    const exact = !variadic && declared.length === required;
    throw invalidArgument(`"${fullName}" requires ${exact ? 'exactly' : 'at least'} ${plural(required)}; ${hint}`);
  }
  if (!variadic && count > declared.length) {
    throw invalidArgument(
      declared.length === 0 ? `"${fullName}" accepts no arguments; ${hint}` : `"${fullName}" accepts at most ${plural(declared.length)}; ${hint}`,
    );
  }
}

/**
 * Runs `action` for each argument, as Docker's multi-object commands do: a failure does not stop the others, each
 * is reported as `ref: message`, and the command fails if any did (with the last failure as its error).
 */
export async function forEachRef(ctx: CommandContext, refs: readonly string[], action: (ref: string) => Promise<void>): Promise<void> {
  const failures: Array<{ ref: string; err: unknown }> = [];
  for (const ref of refs) {
    try {
      await action(ref);
    } catch (err) {
      failures.push({ ref, err });
    }
  }
  const last = failures.pop();
  if (!last) return;
  for (const { ref, err } of failures) ctx.err(`Error: ${ref}: ${describeError(err)}\n`);
  if (refs.length === 1) throw last.err;
  const code = last.err instanceof SwarmletError ? last.err.code : 'internal';
  throw new SwarmletError(code, `${last.ref}: ${describeError(last.err)}`, { cause: last.err });
}
