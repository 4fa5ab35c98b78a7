/**
 * `swarmlet events`: the cluster's changes (services, nodes, tasks) and the engine's own events as they happen,
 * printed as `docker events` prints them. The daemon's GET /events does the work; this reads its stream line by
 * line and prints each event as it arrives, until `--until` or until interrupted.
 */

import http from 'node:http';
import readline from 'node:readline';
import { type ErrorCode, SwarmletError, invalidArgument } from '../errors.ts';
import { API_VERSION } from '../version.ts';
import type { CommandSpec } from './command.ts';
import { filtersQuery, listOption, stringOption } from './flags.ts';
import { apiTimestamp } from './timestamp.ts';

/** The fields of Docker's EventMessage that the default line shows. */
interface EventMessage {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Go's RFC3339NanoFixed in the local zone, as the docker CLI prints an event's time: `2024-01-01T00:00:00.000000000Z`. */
export function formatEventTime(nanos: bigint): string {
  const ms = Number(nanos / 1_000_000n);
  const date = new Date(ms);
  const offset = -date.getTimezoneOffset();
  const zone = offset === 0 ? 'Z' : `${offset > 0 ? '+' : '-'}${pad(Math.trunc(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  const fraction = String(((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).padStart(9, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${fraction}${zone}`
  );
}

/**
 * One event as `docker events` prints it: time, type, action, actor ID and its attributes sorted by key. The
 * time is read from the line's text, since `timeNano` does not survive JSON.parse into a JS number.
 */
export function formatEventLine(line: string): string {
  const event = JSON.parse(line) as EventMessage;
  const nano = /"timeNano":(\d+)/.exec(line)?.[1];
  const nanos = nano !== undefined ? BigInt(nano) : event.time ? BigInt(event.time) * 1_000_000_000n : undefined;
  const attributes = Object.entries(event.Actor?.Attributes ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const time = nanos !== undefined ? `${formatEventTime(nanos)} ` : '';
  const details = attributes.length > 0 ? ` (${attributes.map(([key, value]) => `${key}=${value}`).join(', ')})` : '';
  return `${time}${event.Type ?? ''} ${event.Action ?? ''} ${event.Actor?.ID ?? ''}${details}\n`;
}

/** The error an API status stands for, with the daemon's own message. */
function apiError(status: number, text: string): SwarmletError {
  const code: ErrorCode = status === 400 ? 'invalid_argument' : status === 503 ? 'unavailable' : status === 502 ? 'engine_unreachable' : 'internal';
  let message = text.trim() || `GET /events: the daemon answered HTTP ${status}`;
  try {
    const parsed = JSON.parse(text) as { message?: unknown };
    if (typeof parsed.message === 'string' && parsed.message !== '') message = parsed.message;
  } catch {
    // Not JSON: the text as it is.
  }
  return new SwarmletError(code, message);
}

/**
 * Streams GET /events from the daemon at `socketPath`, calling `onLine` for each event's JSON line as it arrives.
 * Resolves when the daemon ends the stream (at `until`).
 */
export function streamEvents(socketPath: string, query: URLSearchParams, onLine: (line: string) => void): Promise<void> {
  const path = `/v${API_VERSION}/events${query.size > 0 ? `?${query}` : ''}`;
  return new Promise<void>((resolve, reject) => {
    const req = http.request({ socketPath, method: 'GET', path, headers: { Host: 'swarmlet', Accept: 'application/json' } }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 400) {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => reject(apiError(status, Buffer.concat(chunks).toString('utf8'))));
        return;
      }
      const lines = readline.createInterface({ input: res, crlfDelay: Infinity });
      lines.on('line', (line) => {
        if (line.trim() !== '') onLine(line);
      });
      lines.once('close', () => resolve());
      lines.on('error', (err) => reject(new SwarmletError('unavailable', `lost the connection to the swarmlet daemon at unix://${socketPath}: ${err.message}`, { cause: err })));
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      const where = `unix://${socketPath}`;
      const message = ['ENOENT', 'ECONNREFUSED', 'ENOTSOCK'].includes(err.code ?? '')
        ? `cannot connect to the swarmlet daemon at ${where}: is \`swarmlet daemon\` running? (set -H or SWARMLET_HOST to use another socket)`
        : `lost the connection to the swarmlet daemon at ${where}: ${err.message}`;
      reject(new SwarmletError('unavailable', message, { cause: err }));
    });
    req.end();
  });
}

export const eventsCommand: CommandSpec = {
  name: 'events',
  description: 'Get real time events from the cluster (services, nodes, tasks) and the engine',
  options: [
    { name: 'filter', short: 'f', value: 'K=V', multiple: true, description: 'Filter output based on conditions provided (type, event, scope, service, node, label...)' },
    { name: 'format', value: 'FORMAT', description: 'Output format: the docker events line (default), or json (one object per line)' },
    { name: 'since', value: 'TIME', description: 'Show all events created since timestamp (a date, Unix seconds, or a duration such as 10m)' },
    { name: 'until', value: 'TIME', description: 'Stream events until this timestamp' },
  ],
  examples: ['swarmlet events --filter scope=swarm', 'swarmlet events --since 10m --filter type=task --filter service=web'],
  async run(ctx) {
    const { options } = ctx.args;
    const format = stringOption(options, 'format');
    if (format !== undefined && format !== '' && format !== 'json') {
      throw invalidArgument(`unsupported --format "${format}": leave it out for docker's event lines, or use "json"`);
    }
    const query = new URLSearchParams();
    for (const flag of ['since', 'until']) {
      const value = stringOption(options, flag);
      if (value !== undefined && value !== '') query.set(flag, apiTimestamp(value, ctx.now(), flag));
    }
    const filters = filtersQuery(listOption(options, 'filter'));
    if (filters) query.set('filters', filters);
    await streamEvents(ctx.api().socketPath, query, (line) => ctx.out(format === 'json' ? `${line}\n` : formatEventLine(line)));
  },
};
