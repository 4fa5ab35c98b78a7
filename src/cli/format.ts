/**
 * The small conventions the docker CLI follows when it turns API objects into table cells: 12-character IDs,
 * capitalised states, "5 seconds ago", natural ordering of names. Kept together so every table agrees.
 */

import { invalidArgument } from '../errors.ts';

/** Docker shows the first 12 characters of an ID unless asked for `--no-trunc`. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/** Docker's PrettyPrint for enum values shown to people: `running` → `Running`, `active` → `Active`. */
export function capitalize(text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1);
}

/**
 * How long ago, in the words of Docker's HumanDuration (`Less than a second`, `1 second`, `5 seconds`,
 * `About a minute`, `3 minutes`, `About an hour`, `5 hours`, `3 days`, `2 weeks`, `4 months`, `2 years`).
 */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/** `Running 5 seconds ago`: a task's CURRENT STATE cell. */
export function stateSince(state: string, timestamp: string, now: number): string {
  const since = Date.parse(timestamp);
  const ago = Number.isNaN(since) ? '' : ` ${humanDuration(Math.max(0, now - since)).toLowerCase()} ago`;
  return `${capitalize(state)}${ago}`;
}

/**
 * Orders names as people expect and as Docker lists them: runs of digits compare as numbers, so `back.2` comes
 * before `back.10`.
 */
export function naturalCompare(a: string, b: string): number {
  const chunksA = a.match(/\d+|\D+/g) ?? [];
  const chunksB = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(chunksA.length, chunksB.length); i++) {
    const x = chunksA[i]!;
    const y = chunksB[i]!;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const nx = x.replace(/^0+(?=\d)/, '');
      const ny = y.replace(/^0+(?=\d)/, '');
      if (nx.length !== ny.length) return nx.length - ny.length;
      if (nx !== ny) return nx < ny ? -1 : 1;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return chunksA.length - chunksB.length;
}

/** An image reference as tables show it: a digest pinned next to a tag is left out (`busybox:1`, not `busybox:1@sha256:…`). */
export function displayImage(image: string): string {
  const at = image.indexOf('@');
  if (at < 0) return image;
  const name = image.slice(0, at);
  const hasTag = name.lastIndexOf(':') > name.lastIndexOf('/');
  return hasTag ? name : image;
}

/** The output forms a listing command offers. */
export type OutputFormat = 'table' | 'json';

/**
 * Reads `--format`. Docker also takes Go templates; swarmlet offers the two forms scripts and people need and
 * says so instead of printing something else.
 */
export function parseOutputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === '' || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw invalidArgument(`unsupported --format "${value}": use "table" (the default) or "json"`);
}

/** `DESIRED STATE` → `DesiredState`, `ID` → `ID`: the field names docker's `--format json` uses for a column. */
function columnKey(column: string): string {
  return column
    .toLowerCase()
    .split(' ')
    .map((word) => (word === 'id' ? 'ID' : word.charAt(0).toUpperCase() + word.slice(1)))
    .join('');
}

/**
 * `--format json` as the docker CLI prints it for a listing: one object per row, the columns as fields (in
 * sorted order, as Go writes a map), so scripts written against `docker ... --format json | jq` keep working.
 */
export function rowsAsJson(header: readonly string[], rows: readonly string[][], extra: (row: number) => Record<string, unknown> = () => ({})): string {
  return rows
    .map((row, i) => {
      const fields: Record<string, unknown> = { ...extra(i) };
      header.forEach((column, c) => (fields[columnKey(column)] = row[c] ?? ''));
      const sorted = Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)));
      return `${JSON.stringify(sorted)}\n`;
    })
    .join('');
}
