/**
 * How far V8 lets the daemon's old generation grow between full collections.
 *
 * The daemon's heap is small (about 10 MB live), and V8 sets the next full collection's trigger from the live size
 * and a growth factor it picks itself, about 2x on a heap this size. Bulk traffic through the mesh allocates fast
 * (a decrypted payload, a socket read, a stream chunk per 64 KiB), and what is in flight at a scavenge is promoted:
 * with a trigger only about 12 MB above the live heap, V8 then marked and compacted the whole heap 70-140 times per GB
 * moved on each side of a transfer across hosts, and that took as much CPU as the transfer itself. With a growth
 * factor of 5 it compacted once per run. Measured on the real hosts (test/cluster/harness.ts), 256 MiB downloads
 * across hosts: 300-390 MB/s before, 530-650 MB/s after; the ingress daemon's CPU per GB fell from about 2.0 to
 * 1.0 s and the task node's from 2.1 to 1.5 s. Factors of 2 and 3 still compacted 30-50 times per 256 MiB.
 *
 * What it costs is garbage the old generation may hold before a full collection: up to the factor times the live
 * heap while traffic flows, handed back by V8's memory reducer once the daemon is idle. Measured with 20 tasks
 * running for 4 minutes, the daemon's anonymous memory ended at 27.4 MB against 25.8 MB without it; the idle
 * figures after start (test/bench/footprint.bench.ts) did not move.
 *
 * The flag is one V8 reads each time it recomputes the trigger, so setting it at start (before any traffic) is
 * enough; the heap's sizes fixed at V8's start (--initial-old-space-size, which had the same effect) cannot be set
 * from inside the single executable, which takes no Node options on its command line.
 */

import { setFlagsFromString } from 'node:v8';

/** V8's --heap-growing-percent: the old generation may grow to (1 + this / 100) times its live size. */
export const HEAP_GROWING_PERCENT = 400;

export function tuneHeapForTraffic(): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
}
