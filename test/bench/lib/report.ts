/** Output for the benchmarks: aligned tables, number formats, and summary lines gathered for the end of the run. */

import { appendFileSync } from 'node:fs';

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((row) => row.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.slice(1).map(line)].join('\n');
}

export function printTable(title: string, headers: string[], rows: (string | number)[][]): void {
  console.log(`\n${title}\n${table(headers, rows)}`);
}

/**
 * One line per figure. Printed at once, and appended to $SWARMLET_BENCH_SUMMARY when build/bench.sh runs several
 * benchmarks, so it can print all the summaries together at the end.
 */
export function summary(line: string): void {
  console.log(`summary: ${line}`);
  const file = process.env.SWARMLET_BENCH_SUMMARY;
  if (file) appendFileSync(file, `${line}\n`);
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
export const millis = (ms: number): string => `${ms.toFixed(0)} ms`;
/** Megabytes as the goals are stated (10^6 bytes); mebibytes where both are shown. */
export const megabytes = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;
export const mebibytes = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** "ok" or "MISSED" against a goal, so a reader sees the verdict without doing the comparison. */
export const verdict = (met: boolean): string => (met ? 'ok' : 'MISSED');
