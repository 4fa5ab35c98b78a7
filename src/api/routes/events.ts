/**
 * GET /events: what a Docker manager streams — the cluster's changes (scope `swarm`) interleaved with the local
 * engine's own events (scope `local`, passed through from its /events), one JSON object per line, each written as
 * it happens. `scope` chooses the sources; `since` replays the manager's recent history, then live events follow;
 * `until` ends the stream. A worker has no cluster events: it streams the engine's alone.
 *
 * A client that goes away releases everything it held: its subscription, its timer and its engine stream.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import readline from 'node:readline';
import { invalidArgument } from '../../errors.ts';
import type { ClusterEvent } from '../../manager/events/cluster-event.ts';
import { encodeEvent } from '../../manager/events/cluster-event.ts';
import type { ApiContext, ClusterEventSource } from '../context.ts';
import { type Filters, accepts, labelMatches, parseFilters } from '../filters.ts';
import type { Router } from '../router.ts';

/** Docker's event filters; the ones that name objects swarmlet has not (volumes, images...) pass to the engine. */
const EVENT_FILTERS = ['config', 'container', 'daemon', 'event', 'image', 'label', 'network', 'node', 'plugin', 'scope', 'secret', 'service', 'type', 'volume'] as const;

/** Filters that, as in Docker, keep an event whose ID or name starts with one of their values. */
const NAME_FILTERS = ['config', 'container', 'daemon', 'network', 'node', 'plugin', 'secret', 'service', 'volume'] as const;

/** Event types only the cluster has: the engine is not asked for them (it would find none, or refuse `task`). */
const CLUSTER_ONLY_TYPES = new Set(['task']);

/** A client further behind than this is not reading: it is dropped rather than buffered for without bound. */
const MAX_UNREAD_BYTES = 4 * 1024 * 1024;

/**
 * Docker's `since` / `until`: seconds since the epoch with an optional fraction (`1700000000.123456789`), as the
 * docker CLI sends them; an RFC 3339 date is taken too. Returns milliseconds, or undefined when not given.
 */
export function parseEventTime(raw: string | null, name: string): number | undefined {
  if (raw === null || raw === '') return undefined;
  const unix = /^(\d+)(?:\.(\d{1,9}))?$/.exec(raw);
  if (unix) return Number(unix[1]) * 1000 + Number((unix[2] ?? '').padEnd(9, '0')) / 1e6;
  const date = Date.parse(raw);
  if (/^\d{4}-\d{2}-\d{2}/.test(raw) && !Number.isNaN(date)) return date;
  throw invalidArgument(`invalid ${name} "${raw}": give seconds since the epoch, e.g. ${name}=1700000000.5, or an RFC 3339 date`);
}

/**
 * Whether a cluster event passes the filters, by Docker's rules: `type`, `event` and `scope` match exactly;
 * `service`, `node` and the other object filters keep events whose actor's ID or name starts with a value;
 * `label` matches the actor's attributes. swarmlet's task events also match `service` and `node` by the service
 * and node they belong to, so `--filter service=web` follows web's tasks too.
 */
export function eventMatches(event: ClusterEvent, filters: Filters): boolean {
  const { ID, Attributes } = event.Actor;
  const prefixOf = (source: string | undefined) => (value: string) => source !== undefined && source.startsWith(value);
  const named = (key: (typeof NAME_FILTERS)[number]) =>
    accepts(filters, key, (value) => prefixOf(ID)(value) || prefixOf(Attributes.name)(value)) ||
    (event.Type === 'task' && accepts(filters, key, (value) => prefixOf(Attributes[`${key}.id`])(value) || prefixOf(Attributes[`${key}.name`])(value)));
  return (
    accepts(filters, 'type', (type) => type === event.Type) &&
    accepts(filters, 'event', (action) => action === event.Action) &&
    accepts(filters, 'scope', (scope) => scope === 'swarm') &&
    accepts(filters, 'image', (image) => image === ID || image === Attributes.name) &&
    NAME_FILTERS.every(named) &&
    (filters.get('label') ?? []).every((label) => labelMatches(Attributes, label))
  );
}

/**
 * The filters to hand the engine, or undefined when the engine has nothing to contribute: `scope` excludes
 * `local`, or `type` asks only for cluster types.
 */
export function engineFilters(filters: Filters): Record<string, string[]> | undefined {
  if (!accepts(filters, 'scope', (scope) => scope === 'local')) return undefined;
  const forwarded: Record<string, string[]> = {};
  for (const [key, values] of filters) forwarded[key] = values;
  const types = filters.get('type');
  if (types && types.length > 0) {
    forwarded.type = types.filter((type) => !CLUSTER_ONLY_TYPES.has(type));
    if (forwarded.type.length === 0) return undefined;
  }
  return forwarded;
}

/**
 * One response fed by several sources: it writes whole lines, ends once every source has ended, and on close —
 * the end, or the client going away — runs each release once.
 */
class EventResponse {
  private readonly res: ServerResponse;
  private readonly releases: Array<() => void> = [];
  private running = 0;
  private closed = false;

  constructor(res: ServerResponse) {
    this.res = res;
    res.once('close', () => this.close());
  }

  /** Registers a source; call the returned function when it has nothing more to send. */
  source(): () => void {
    this.running += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.running -= 1;
      if (this.running === 0) this.end();
    };
  }

  onClose(release: () => void): void {
    if (this.closed) release();
    else this.releases.push(release);
  }

  /** Calls `resume` once the client has read what was written. */
  whenDrained(resume: () => void): void {
    this.res.once('drain', resume);
  }

  /** Writes one line now; false when the client has fallen behind (the caller may wait with `whenDrained`). */
  write(line: string): boolean {
    if (this.closed) return false;
    const flowing = this.res.write(line);
    if (!flowing && this.res.writableLength > MAX_UNREAD_BYTES) this.res.destroy();
    return flowing;
  }

  end(): void {
    if (!this.closed) this.res.end();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const release of this.releases.splice(0)) release();
  }
}

/** The cluster's events: the history from `since`, then live ones; `done` once `until` has passed. */
function streamClusterEvents(out: EventResponse, source: ClusterEventSource, filters: Filters, window: TimeWindow, done: () => void): void {
  const upTo = window.until ?? Number.POSITIVE_INFINITY;
  if (window.since !== undefined) {
    for (const event of source.replay(window.since, upTo)) if (eventMatches(event, filters)) out.write(encodeEvent(event));
  }
  if (window.until !== undefined && window.until <= window.now) {
    done();
    return;
  }
  out.onClose(
    source.subscribe((event) => {
      if (event.at <= upTo && eventMatches(event, filters)) out.write(encodeEvent(event));
    }),
  );
  if (window.until !== undefined) endAt(out, window.until - window.now, done);
}

/** setTimeout's longest delay (about 24.8 days); a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `done` after `ms`, unless the response closes first. */
function endAt(out: EventResponse, ms: number, done: () => void): void {
  let timer = setTimeout(function tick() {
    ms -= MAX_TIMER_MS;
    if (ms <= 0) done();
    else timer = setTimeout(tick, Math.min(ms, MAX_TIMER_MS));
  }, Math.min(ms, MAX_TIMER_MS));
  out.onClose(() => clearTimeout(timer));
}

/**
 * The engine's events, line by line, so that they never split a cluster event's line. The engine ends its stream
 * at `until`; without one, an end means the engine went away, and the response ends with it rather than going
 * on without the local half.
 */
function relayEngineEvents(out: EventResponse, stream: IncomingMessage, done: () => void): void {
  const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => {
    if (line.trim() === '' || out.write(`${line}\n`)) return;
    // Backpressure: read no more of the engine's stream until the client has caught up.
    lines.pause();
    out.whenDrained(() => lines.resume());
  });
  lines.once('close', done);
  // An engine that goes away mid-stream (or our own abort, once the client left) errors the stream; readline
  // passes that on, and an unheard error would end the daemon.
  lines.on('error', done);
  stream.on('error', done);
}

interface TimeWindow {
  since: number | undefined;
  until: number | undefined;
  now: number;
}

export function eventRoutes(router: Router, ctx: ApiContext): void {
  router.add('GET', '/events', async ({ res, query }) => {
    const filters = parseFilters(query.get('filters'), EVENT_FILTERS);
    const window: TimeWindow = { since: parseEventTime(query.get('since'), 'since'), until: parseEventTime(query.get('until'), 'until'), now: ctx.now() };
    const cluster = accepts(filters, 'scope', (scope) => scope === 'swarm') ? ctx.clusterEvents() : null;
    const forwarded = engineFilters(filters);

    // The engine is asked first, so that an engine that does not answer fails the request with its status.
    const abort = new AbortController();
    let engine: IncomingMessage | undefined;
    if (forwarded) {
      const engineQuery = { since: query.get('since') ?? undefined, until: query.get('until') ?? undefined, filters: forwarded };
      engine = await ctx.engineEvents(engineQuery, abort.signal);
    }

    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache' });
    res.flushHeaders();
    const out = new EventResponse(res);
    out.onClose(() => abort.abort());
    // Every source is counted before any starts, so one that ends at once cannot end the response for the others.
    const engineDone = engine ? out.source() : undefined;
    const clusterDone = cluster ? out.source() : undefined;
    if (engine) relayEngineEvents(out, engine, window.until === undefined ? () => out.end() : engineDone!);
    if (cluster) streamClusterEvents(out, cluster, filters, window, clusterDone!);
    // Nothing to stream (a worker asked for the cluster's events): stay open, as Docker does, until `until`.
    if (!engine && !cluster && window.until !== undefined) endAt(out, Math.max(0, window.until - window.now), out.source());
  });
}
