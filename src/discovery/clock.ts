/**
 * Time for discovery: monotonic milliseconds. TTLs, ages, backoffs and rate limits must not jump when NTP or a
 * user sets the wall clock — a Pi without a real-time clock boots in 1970 and jumps decades when the network
 * comes up — so every timer and age here reads `performance.now()` through this small injectable interface.
 */

export interface Clock {
  /** Milliseconds on a clock that never goes backwards; only differences mean anything. */
  now(): number;
}

export const monotonicClock: Clock = { now: () => performance.now() };
