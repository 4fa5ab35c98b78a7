/**
 * `--since` and `--until` as the docker CLI reads them, for `events` and `service logs`: a Go duration counted back
 * from now (`10m`, `1h30m`, util/duration.ts), a date (RFC 3339, or `2006-01-02[T15:04:05]` in local time), or
 * Unix seconds with an optional fraction. The answer is the `seconds.nanoseconds` text the API takes.
 */

import { invalidArgument } from '../errors.ts';
import { parseDuration } from '../util/duration.ts';

const NANOS_PER_SECOND = 1_000_000_000n;
const NANOS_PER_MS = 1_000_000n;

const unixText = (nanos: bigint) => `${nanos / NANOS_PER_SECOND}.${String(nanos % NANOS_PER_SECOND).padStart(9, '0')}`;

/** A Go duration's nanoseconds, or null when `value` is not one. */
function durationNanos(value: string): bigint | null {
  try {
    return BigInt(parseDuration(value));
  } catch {
    return null;
  }
}

export function apiTimestamp(value: string, now: number, flag: string): string {
  // Plain numbers are Unix seconds, `0` included (Go's only unitless duration would otherwise mean "now").
  if (/^\d+(\.\d{1,9})?$/.test(value)) return value;
  const back = durationNanos(value);
  if (back !== null) return unixText(BigInt(now) * NANOS_PER_MS - back);
  // A date without a time or zone is local midnight, as docker reads it; JS would read it as UTC.
  const parsed = Date.parse(/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00` : value);
  if (/^\d{4}-\d{2}-\d{2}/.test(value) && !Number.isNaN(parsed)) return unixText(BigInt(parsed) * NANOS_PER_MS);
  throw invalidArgument(`invalid value "${value}" for --${flag}: use a duration (10m, 1h30m), a date (2024-01-31T15:04:05Z) or Unix seconds`);
}
