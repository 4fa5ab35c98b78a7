/**
 * Durations in Go's notation (`10s`, `1m30s`, `500ms`, `1h`), which Docker's flags accept and the Docker API
 * stores as integer nanoseconds.
 *
 * Restart delays, windows and grace periods travel through the API as nanoseconds; users type them as Go
 * durations and read them back the same way in `--pretty` output, so both directions follow Go's rules.
 */

import { invalidArgument } from '../errors.ts';

const UNIT_NANOS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const COMPONENT = /(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/y;

/**
 * Parses a non-negative Go duration into nanoseconds. Like Go, `0` needs no unit and fractions are allowed in any
 * component (`1.5h`); like Docker's duration flags, negative values are refused.
 */
export function parseDuration(text: string): number {
  const fail = (why = 'use a number with a unit ns, us, ms, s, m or h (e.g. 10s, 1m30s, 500ms)') =>
    invalidArgument(`invalid duration "${text}": ${why}`);
  let rest = text.trim();
  if (rest.startsWith('-')) throw fail('a duration cannot be negative');
  if (rest.startsWith('+')) rest = rest.slice(1);
  if (rest === '0') return 0;
  if (rest === '') throw fail();

  let total = 0n;
  COMPONENT.lastIndex = 0;
  while (COMPONENT.lastIndex < rest.length) {
    const match = COMPONENT.exec(rest);
    if (!match) throw fail();
    const [, whole = '', fraction = '', unit = ''] = match;
    if (whole === '' && fraction === '') throw fail();
    const perUnit = UNIT_NANOS[unit]!;
    total += BigInt(whole || '0') * perUnit;
    if (fraction !== '') {
      // Go truncates the fractional part towards zero at nanosecond precision.
      total += (BigInt(fraction) * perUnit) / 10n ** BigInt(fraction.length);
    }
  }
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) throw fail('too long');
  return Number(total);
}

/**
 * Formats nanoseconds as Go's `time.Duration.String()` does (`1m30s`, `500ms`, `1h0m0s`, `1.5µs`, `0s`), which is
 * what `docker service inspect --pretty` shows.
 */
export function formatDuration(nanos: number): string {
  if (nanos === 0) return '0s';
  const sign = nanos < 0 ? '-' : '';
  let rest = BigInt(Math.abs(Math.trunc(nanos)));
  if (rest < 1_000_000_000n) {
    if (rest < 1_000n) return `${sign}${rest}ns`;
    if (rest < 1_000_000n) return `${sign}${decimal(rest, 3)}µs`;
    return `${sign}${decimal(rest, 6)}ms`;
  }
  const hours = rest / UNIT_NANOS.h!;
  rest %= UNIT_NANOS.h!;
  const minutes = rest / UNIT_NANOS.m!;
  rest %= UNIT_NANOS.m!;
  const seconds = `${decimal(rest, 9)}s`;
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}`;
  return `${sign}${seconds}`;
}

/** `value / 10^digits` written with as few fractional digits as it needs. */
function decimal(value: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const fraction = (value % scale).toString().padStart(digits, '0').replace(/0+$/, '');
  return fraction === '' ? `${value / scale}` : `${value / scale}.${fraction}`;
}
