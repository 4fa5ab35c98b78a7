/**
 * GET /events: Docker's filters over cluster events, the engine's share of the query, and the stream itself —
 * replay, live, the end at `until`, the engine's lines merged whole, and a client that leaves releasing everything.
 * The route runs on a real HTTP server on a unix socket; the engine is an in-memory stream.
 */

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import type { ApiContext } from '../../src/api/context.ts';
import { parseFilters } from '../../src/api/filters.ts';
import { engineFilters, eventMatches, eventRoutes, parseEventTime } from '../../src/api/routes/events.ts';
import { Router } from '../../src/api/router.ts';
import { SwarmletError } from '../../src/errors.ts';
import type { ClusterEvent } from '../../src/manager/events/cluster-event.ts';
import { ClusterEventLog } from '../../src/manager/events/event-log.ts';

const T = 1_767_225_600_000;
const filters = (json: Record<string, string[]>) => parseFilters(JSON.stringify(json), [...Object.keys(json)]);

const serviceEvent = (at: number, action: ClusterEvent['Action'] = 'create', name = 'web', id = `svc-${name}`): ClusterEvent => ({
  Type: 'service', Action: action, Actor: { ID: id, Attributes: { name } }, at,
});
const taskEvent: ClusterEvent = {
  Type: 'task', Action: 'update', at: T,
  Actor: { ID: 'task1', Attributes: { name: 'web.1', 'service.id': 'svc-web', 'service.name': 'web', 'node.id': 'node1', slot: '1', 'state.old': 'assigned', 'state.new': 'running' } },
};
const nodeEvent: ClusterEvent = { Type: 'node', Action: 'update', at: T, Actor: { ID: 'node1', Attributes: { name: 'pi-1', 'availability.old': 'active', 'availability.new': 'drain' } } };

describe('event filters', () => {
  it('match type, event and scope exactly', () => {
    assert.ok(eventMatches(serviceEvent(T), filters({ type: ['service', 'node'] })));
    assert.ok(!eventMatches(serviceEvent(T), filters({ type: ['container'] })));
    assert.ok(eventMatches(serviceEvent(T, 'remove'), filters({ event: ['remove'] })));
    assert.ok(!eventMatches(serviceEvent(T), filters({ event: ['remove'] })));
    assert.ok(eventMatches(serviceEvent(T), filters({ scope: ['swarm'] })));
    assert.ok(!eventMatches(serviceEvent(T), filters({ scope: ['local'] })));
  });

  it('match service and node by ID or name prefix, and tasks by the service and node they belong to', () => {
    assert.ok(eventMatches(serviceEvent(T), filters({ service: ['we'] })));
    assert.ok(eventMatches(serviceEvent(T), filters({ service: ['svc-w'] })));
    assert.ok(!eventMatches(serviceEvent(T, 'create', 'db'), filters({ service: ['web'] })));
    assert.ok(eventMatches(taskEvent, filters({ service: ['web'] })));
    assert.ok(eventMatches(taskEvent, filters({ node: ['node1'] })));
    assert.ok(!eventMatches(taskEvent, filters({ node: ['node2'] })));
    assert.ok(eventMatches(nodeEvent, filters({ node: ['pi-'] })));
    assert.ok(!eventMatches(nodeEvent, filters({ service: ['web'] })), 'as in Docker, a name filter applies to every event');
  });

  it('match labels against the actor\'s attributes', () => {
    assert.ok(eventMatches(nodeEvent, filters({ label: ['availability.new=drain'] })));
    assert.ok(eventMatches(nodeEvent, filters({ label: ['availability.old'] })));
    assert.ok(!eventMatches(nodeEvent, filters({ label: ['availability.new=active'] })));
  });

  it('hand the engine its share of the query, or nothing when it has no part in it', () => {
    assert.deepEqual(engineFilters(filters({})), {});
    assert.deepEqual(engineFilters(filters({ type: ['container', 'task'], event: ['start'] })), { type: ['container'], event: ['start'] });
    assert.equal(engineFilters(filters({ type: ['task'] })), undefined);
    assert.equal(engineFilters(filters({ scope: ['swarm'] })), undefined);
    assert.deepEqual(engineFilters(filters({ scope: ['local', 'swarm'] })), { scope: ['local', 'swarm'] });
  });
});

describe('event times', () => {
  it('read Unix seconds with a fraction, and RFC 3339 dates', () => {
    assert.equal(parseEventTime(null, 'since'), undefined);
    assert.equal(parseEventTime('1767225600', 'since'), T);
    assert.equal(parseEventTime('1767225600.123000000', 'since'), T + 123);
    assert.equal(parseEventTime('1767225600.5', 'until'), T + 500);
    assert.equal(parseEventTime('2026-01-01T00:00:00Z', 'since'), T);
    assert.throws(() => parseEventTime('yesterday', 'since'), (err: unknown) => err instanceof SwarmletError && err.code === 'invalid_argument' && /invalid since "yesterday"/.test(err.message));
  });
});

interface Served {
  socket: string;
  log: ClusterEventLog;
  engine: { streams: PassThrough[]; queries: Array<Record<string, unknown>>; aborted: number };
  setNow(ms: number): void;
  setWorker(worker: boolean): void;
  close(): Promise<void>;
}

/** The events route behind a real HTTP server, with a cluster event log and an in-memory engine. */
async function serve(): Promise<Served> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swarmlet-events-test-'));
  const socket = path.join(dir, 'api.sock');
  const log = new ClusterEventLog();
  const engine: Served['engine'] = { streams: [], queries: [], aborted: 0 };
  let now = T;
  let worker = false;
  const ctx = {
    now: () => now,
    clusterEvents: () => (worker ? null : log),
    engineEvents: async (query: Record<string, unknown>, signal: AbortSignal) => {
      const stream = new PassThrough();
      engine.streams.push(stream);
      engine.queries.push(query);
      signal.addEventListener('abort', () => {
        engine.aborted += 1;
        // As node:http's response does when its request is aborted.
        stream.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
      });
      return stream as unknown as IncomingMessage;
    },
  } as unknown as ApiContext;
  const router = new Router();
  eventRoutes(router, ctx);
  const server = http.createServer((req, res) => {
    router.match(req)!(res).catch((err: Error) => res.writeHead(err instanceof SwarmletError ? err.status : 500).end(JSON.stringify({ message: err.message })));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket, log, engine,
    setNow: (ms) => (now = ms),
    setWorker: (value) => (worker = value),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An open GET /events: the lines so far, a wait for the next ones, the end, and a way to walk away. */
interface Client {
  status: number;
  lines: string[];
  next(count: number): Promise<string[]>;
  ended: Promise<void>;
  leave(): void;
}

function open(socket: string, query: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: `/v1.41/events${query ? `?${query}` : ''}` }, (res) => {
      const lines: string[] = [];
      let waiting: (() => void) | undefined;
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        const parts = buffered.split('\n');
        buffered = parts.pop()!;
        lines.push(...parts.filter(Boolean));
        waiting?.();
      });
      const ended = new Promise<void>((done) => res.once('end', done));
      resolve({
        status: res.statusCode ?? 0,
        lines,
        async next(count) {
          while (lines.length < count) await new Promise<void>((wake) => (waiting = wake));
          return lines.slice(0, count);
        },
        ended,
        leave: () => req.destroy(),
      });
    });
    req.on('error', (err) => (err.message === 'socket hang up' ? undefined : reject(err)));
  });
}

const query = (params: Record<string, string | Record<string, string[]>>) =>
  new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, typeof v === 'string' ? v : JSON.stringify(v)])).toString();

/** Waits until `check` holds, a turn of the event loop at a time: for what a closed socket releases. */
async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 2));
  assert.ok(check());
}

describe('GET /events', () => {
  let served: Served;
  before(async () => {
    served = await serve();
  });
  after(() => served.close());

  it('replays cluster events since a time, then streams live ones, and ends at until', async () => {
    served.log.publish(serviceEvent(T - 5000, 'create', 'old'));
    served.log.publish(serviceEvent(T - 1000, 'create', 'web'));
    const client = await open(served.socket, query({ since: String((T - 2000) / 1000), until: String((T + 300) / 1000), filters: { scope: ['swarm'] } }));
    assert.equal(client.status, 200);
    const [replayed] = await client.next(1);
    assert.deepEqual(JSON.parse(replayed!), { Type: 'service', Action: 'create', Actor: { ID: 'svc-web', Attributes: { name: 'web' } }, scope: 'swarm', time: (T - 1000) / 1000, timeNano: (T - 1000) * 1e6 });
    served.log.publish(serviceEvent(T + 100, 'update', 'web'));
    served.log.publish(serviceEvent(T + 100, 'create', 'db'));
    const lines = await client.next(3);
    assert.match(lines[1]!, /"Action":"update"/);
    assert.match(lines[2]!, /"name":"db"/);
    await client.ended;
    assert.equal(served.engine.streams.length, 0, 'scope=swarm never asks the engine');
    assert.equal(served.log.subscribers, 0, 'the stream released its subscription at until');
  });

  it('ends at once when until has passed, after the replay', async () => {
    const client = await open(served.socket, query({ since: String((T - 2000) / 1000), until: String(T / 1000), filters: { scope: ['swarm'], type: ['service'], service: ['web'] } }));
    await client.ended;
    assert.equal(client.lines.length, 1);
    assert.equal(served.log.subscribers, 0);
  });

  it('merges the engine\'s events, whole lines, with the cluster\'s by default', async () => {
    const client = await open(served.socket, query({ filters: { type: ['container', 'service', 'task'] } }));
    await until(() => served.engine.streams.length === 1 && served.log.subscribers === 1);
    assert.deepEqual(served.engine.queries[0], { since: undefined, until: undefined, filters: { type: ['container', 'service'] } });
    const engine = served.engine.streams[0]!;
    engine.write('{"status":"start","id":"c1","Type":"container","Action":"start","scope":"local"');
    served.log.publish(serviceEvent(T, 'update'));
    engine.write(',"time":1,"timeNano":1000000000}\n');
    const lines = await client.next(2);
    assert.match(lines[0]!, /^\{"Type":"service"/);
    assert.equal(lines[1], '{"status":"start","id":"c1","Type":"container","Action":"start","scope":"local","time":1,"timeNano":1000000000}');

    client.leave();
    await until(() => served.log.subscribers === 0 && served.engine.aborted === 1);
  });

  it('ends when the engine\'s stream ends without until: the engine went away', async () => {
    const client = await open(served.socket, '');
    await until(() => served.engine.streams.length === 2);
    served.engine.streams[1]!.end();
    await client.ended;
    await until(() => served.log.subscribers === 0);
  });

  it('ends, and goes on serving, when the engine\'s stream fails', async () => {
    const client = await open(served.socket, query({ filters: { type: ['container'] } }));
    await until(() => served.engine.streams.length === 3);
    served.engine.streams[2]!.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }));
    await client.ended;
    await until(() => served.log.subscribers === 0);
  });

  it('on a worker streams the engine\'s events alone, and nothing for scope=swarm until until', async () => {
    served.setWorker(true);
    try {
      const local = await open(served.socket, '');
      await until(() => served.engine.streams.length === 4);
      served.log.publish(serviceEvent(T));
      served.engine.streams[3]!.write('{"Type":"container","Action":"die","scope":"local"}\n');
      assert.deepEqual(await local.next(1), ['{"Type":"container","Action":"die","scope":"local"}']);
      local.leave();
      const swarm = await open(served.socket, query({ until: String((T + 50) / 1000), filters: { scope: ['swarm'] } }));
      await swarm.ended;
      assert.deepEqual(swarm.lines, []);
    } finally {
      served.setWorker(false);
    }
  });

  it('refuses an unknown filter and a malformed time with 400', async () => {
    const bad = await open(served.socket, query({ filters: { colour: ['red'] } }));
    assert.equal(bad.status, 400);
    const badTime = await open(served.socket, query({ since: 'soon' }));
    assert.equal(badTime.status, 400);
  });
});
