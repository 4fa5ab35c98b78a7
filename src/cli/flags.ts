/**
 * Command-line flags with the docker CLI's (Go pflag's) rules, read from one declaration per command.
 *
 * Why not cac's own parser: it casts values that look like numbers (`--name 007` becomes 7) and cannot stop at
 * the first positional argument. Docker's `service create` must stop there — in
 * `service create --name x IMAGE sh -c "echo hi"`, `-c` belongs to the container's command — and that needs to know
 * which flags take a value, which only the declaration knows. So the declarations below drive both this parser and
 * the help text (the router hands them to cac), and values stay the strings the user typed.
 */

import { invalidArgument } from '../errors.ts';

/** One flag of a command. */
export interface OptionSpec {
  /** Long name without dashes, e.g. `reserve-memory`; also the key of the parsed value. */
  name: string;
  /** One-letter alias, e.g. `e` for `--env`. */
  short?: string;
  /** The value's placeholder in help (`SIZE`, `K=V`); a flag without one is a boolean switch. */
  value?: string;
  /** Repeatable: every occurrence is kept, in order (`--env A=1 --env B=2`). */
  multiple?: boolean;
  description: string;
}

export type OptionValue = string | boolean | string[];

export interface ParsedArgs {
  /** Values by long name; absent when the flag was not given. */
  options: Record<string, OptionValue | undefined>;
  positionals: string[];
}

/** Every command understands `-h/--help`. */
export const HELP_OPTION: OptionSpec = { name: 'help', short: 'h', description: 'Print usage' };

export interface ParseMode {
  /**
   * false: flags end at the first positional argument and everything from there on is positional (Docker's
   * `SetInterspersed(false)`, for commands that take a command line to run).
   */
  interspersed: boolean;
}

/** Parses argv (without the command words) against the declared options. */
export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[], { interspersed }: ParseMode): ParsedArgs {
  const all = [...specs, HELP_OPTION];
  const options: Record<string, OptionValue | undefined> = {};
  const positionals: string[] = [];

  const set = (spec: OptionSpec, value: string | boolean) => {
    if (spec.multiple && typeof value === 'string') {
      const previous = options[spec.name];
      options[spec.name] = [...(Array.isArray(previous) ? previous : []), value];
    } else {
      options[spec.name] = value;
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!token.startsWith('-') || token === '-') {
      if (!interspersed) {
        positionals.push(...argv.slice(i));
        break;
      }
      positionals.push(token);
      continue;
    }
    if (token.startsWith('--')) {
      const equals = token.indexOf('=');
      const name = token.slice(2, equals < 0 ? undefined : equals);
      const spec = all.find((candidate) => candidate.name === name);
      if (!spec) throw invalidArgument(`unknown flag: --${name}`);
      if (!spec.value) {
        set(spec, equals < 0 ? true : parseBoolean(token.slice(equals + 1), `--${name}`));
      } else if (equals >= 0) {
        set(spec, token.slice(equals + 1));
      } else if (i + 1 < argv.length) {
        set(spec, argv[++i]!);
      } else {
        throw invalidArgument(`flag needs an argument: --${name}`);
      }
      continue;
    }
    // A cluster of short flags: `-dq`, `-eK=V`, `-n 3`. A flag taking a value takes the rest of the cluster, or
    // the next argument when it ends the cluster.
    for (let j = 1; j < token.length; j++) {
      const letter = token[j]!;
      const spec = all.find((candidate) => candidate.short === letter);
      if (!spec) throw invalidArgument(`unknown shorthand flag: '${letter}' in ${token}`);
      if (!spec.value) {
        set(spec, true);
        continue;
      }
      if (j + 1 < token.length) {
        set(spec, token.slice(token[j + 1] === '=' ? j + 2 : j + 1));
      } else if (i + 1 < argv.length) {
        set(spec, argv[++i]!);
      } else {
        throw invalidArgument(`flag needs an argument: '${letter}' in ${token}`);
      }
      break;
    }
  }
  return { options, positionals };
}

function parseBoolean(text: string, flag: string): boolean {
  if (['true', '1', 't', 'T', 'TRUE', 'True'].includes(text)) return true;
  if (['false', '0', 'f', 'F', 'FALSE', 'False'].includes(text)) return false;
  throw invalidArgument(`invalid argument "${text}" for "${flag}" flag: use true or false`);
}

/** A string flag's value, or undefined. */
export function stringOption(options: ParsedArgs['options'], name: string): string | undefined {
  const value = options[name];
  if (Array.isArray(value)) return value[value.length - 1];
  return typeof value === 'string' ? value : undefined;
}

/** A repeatable flag's values (empty when not given). */
export function listOption(options: ParsedArgs['options'], name: string): string[] {
  const value = options[name];
  if (Array.isArray(value)) return value;
  return typeof value === 'string' ? [value] : [];
}

/** A switch's value. */
export function booleanOption(options: ParsedArgs['options'], name: string): boolean {
  return options[name] === true;
}

/**
 * `--filter key=value` flags into the API's `filters` query value (`{"key": ["value", ...]}`), or undefined when
 * none were given.
 */
export function filtersQuery(values: readonly string[], extra: Record<string, string[]> = {}): string | undefined {
  const filters: Record<string, string[]> = { ...extra };
  for (const value of values) {
    const equals = value.indexOf('=');
    if (equals <= 0) throw invalidArgument(`bad format of filter "${value}": use --filter key=value`);
    const key = value.slice(0, equals).trim().toLowerCase();
    filters[key] = [...(filters[key] ?? []), value.slice(equals + 1)];
  }
  return Object.keys(filters).length > 0 ? JSON.stringify(filters) : undefined;
}
