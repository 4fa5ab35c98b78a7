/**
 * Memory sizes and CPU counts as Docker users type them and as Docker prints them.
 *
 * Users move between `docker service create` and `swarmlet service create` with the same muscle memory, so
 * `--limit-memory 64M` must mean what it means to Docker: a 1024-based size (Docker's RAMInBytes treats k, m, g,
 * t and p as binary, with or without a trailing `b` or `ib`). Anything else is rejected with a message that shows
 * the accepted forms, because a silently misread limit is an out-of-memory kill much later.
 */

import { invalidArgument } from '../errors.ts';

const BINARY_MULTIPLIERS: Record<string, number> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
  p: 1024 ** 5,
};

/** A number (optionally fractional), an optional space, an optional unit prefix with optional `i`, optional `b`. */
const MEMORY_SIZE = /^(\d+(?:\.\d+)?|\.\d+) ?(?:([kmgtp])i?)?b?$/i;

/**
 * Parses a memory size in Docker's forms — `1024`, `512k`, `64M`, `64MB`, `64MiB`, `1.5G`, `64m` — into bytes.
 * Fractions of a byte are dropped, as Docker does.
 */
export function parseMemorySize(text: string): number {
  const match = MEMORY_SIZE.exec(text.trim());
  if (!match) {
    throw invalidArgument(`invalid memory size "${text}": use a number with an optional unit b, k, m, g, t (e.g. 64M, 1.5G)`);
  }
  const bytes = Math.trunc(Number(match[1]) * BINARY_MULTIPLIERS[(match[2] ?? '').toLowerCase()]!);
  if (!Number.isSafeInteger(bytes)) {
    throw invalidArgument(`invalid memory size "${text}": too large`);
  }
  return bytes;
}

const BINARY_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/**
 * Formats bytes the way `docker service inspect --pretty` and `docker node inspect --pretty` do: the largest
 * binary unit that keeps the number at or above 1, with up to four significant digits (`64MiB`, `1.5GiB`,
 * `23.54GiB`, `1023B`).
 */
export function formatBytes(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1024 && unit < BINARY_UNITS.length - 1) {
    size /= 1024;
    unit++;
  }
  return `${significant4(size)}${BINARY_UNITS[unit]}`;
}

/** Go's `%.4g` for the values formatBytes produces (0 ≤ x < 1024): four significant digits, no trailing zeros. */
function significant4(x: number): string {
  if (x === 0) return '0';
  const fixed = x.toPrecision(4);
  return fixed.includes('.') && !fixed.includes('e') ? fixed.replace(/0+$/, '').replace(/\.$/, '') : fixed;
}

const NANO_PER_CPU = 1_000_000_000;

/**
 * Parses a CPU count (`0.5`, `2`, `1.25`) into the API's NanoCPUs. Like Docker, a value that is not a whole number
 * of nano-CPUs is refused rather than rounded.
 */
export function parseNanoCpus(text: string): number {
  const match = /^(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[1] === '' && (match[2] ?? '') === '')) {
    throw invalidArgument(`invalid CPU value "${text}": use a number of CPUs, e.g. 0.5 or 2`);
  }
  const fraction = (match[2] ?? '').replace(/0+$/, '');
  if (fraction.length > 9) {
    throw invalidArgument(`invalid CPU value "${text}": too precise (at most 9 decimal places)`);
  }
  const nano = Number(match[1] || '0') * NANO_PER_CPU + Number(fraction.padEnd(9, '0'));
  if (!Number.isSafeInteger(nano)) throw invalidArgument(`invalid CPU value "${text}": too large`);
  return nano;
}

/** Formats NanoCPUs as a CPU count, as `docker service inspect --pretty` prints it (`0.5`, `2`). */
export function formatNanoCpus(nano: number): string {
  return String(nano / NANO_PER_CPU);
}
