/**
 * Steady HTTP traffic for the real-host rolling-update tests and benchmarks: GET / at a fixed rate to a list of
 * targets in turn, every answer kept, so a test can assert "no request failed while the service was updated
 * through the routing mesh" and "the share of v1 answers never rose from one second to the next and ended at 0".
 *
 *   const load = new LoadGenerator({ targets: [{ host: '10.77.0.11', port: 8080 }, { host: '10.77.0.12', port: 8080 }], rate: 80 });
 *   load.start();
 *   ... update the service ...
 *   const report = await load.stop();
 *   console.log(report.summary());
 *   assert.deepEqual(report.failures(), []);
 *
 * Why it is written this way:
 * - Open loop: requests leave on a fixed schedule whatever earlier ones are doing, so a stall shows as failures
 *   and latency, never as fewer requests. A late timer sends every request that fell due meanwhile (the rate
 *   holds on a busy machine). Nothing is ever retried: a retry would hide the very failure the tests look for.
 * - Two kinds of connection, because the mesh handles them differently: a share of the requests (half by default)
 *   goes on a fresh connection (no agent, `Connection: close`), the rest on a small keep-alive pool per target.
 *   Which request is fresh is decided per target by spreading the share evenly over its requests, not by chance,
 *   so every target sees both kinds and a run is the same every time.
 * - A keep-alive socket the server closed between two requests (a draining task) fails the next request sent on
 *   it. That is a real failure for the tests, so it is recorded like any other, with the error's code and message
 *   and `reused` (whether the request went on a socket that had served one before), for the test to tell why.
 * - The timeout runs from the moment a request is sent, including any wait for a pooled socket, so a request
 *   stuck behind a stalled pool fails after `timeoutMs` like one stuck on the wire.
 * - Answers are short bodies ('v1', 'v2', a hostname), kept trimmed, so the report can count them per second.
 *   Latency percentiles are over the answered requests (a failure's time is mostly its timeout).
 *
 * It is not the bottleneck of what it measures: at 200 requests a second over two loopback servers it had no failure,
 * p50 0.5 ms and p99 3-6 ms on an idle two-core machine, p99 up to ~190 ms with two more processes spinning on both
 * cores. test/helpers/load-generator.test.ts checks this (p50 < 30 ms, p99 < 300 ms, the rate within 10%).
 */

import http from 'node:http';
import { conflict, invalidArgument } from '../../src/errors.ts';

export interface Target {
  host: string;
  port: number;
}

export interface LoadOptions {
  /** Where requests go, in turn. */
  targets: Target[];
  /** Requests per second over all targets (default 80). */
  rate?: number;
  /** The share of requests sent on a fresh connection, 0..1 (default 0.5); the rest use the keep-alive pool. */
  freshShare?: number;
  /** A request not answered within this long fails (default 3000 ms). */
  timeoutMs?: number;
  /** Keep-alive connections per target (default 4). */
  maxSockets?: number;
  /** The path requested (default '/'). */
  path?: string;
}

/** One request and what became of it. */
export interface RequestResult {
  /** Milliseconds from start() to when the request was sent. */
  sentAt: number;
  /** Milliseconds from sending to the whole answer, or to the failure. */
  ms: number;
  /** `host:port`. */
  target: string;
  /** Answered 200 within the timeout. */
  ok: boolean;
  /** The answer's status, when one came. */
  status?: number;
  /** The answer's body, trimmed (cut at MAX_BODY characters), when one came. */
  body?: string;
  /** What went wrong: 'HTTP 502', 'socket hang up', 'no answer within 3000 ms', ... */
  error?: string;
  /** The error's code when it had one: ECONNRESET, ECONNREFUSED, ETIMEDOUT (the timeout), ... */
  code?: string;
  /** Whether the request went on a keep-alive socket that had carried a request before; absent if none was assigned. */
  reused?: boolean;
  /** Sent on a connection of its own (`Connection: close`) rather than the keep-alive pool. */
  fresh: boolean;
}

/** One second of the run, by when requests were sent. */
export interface SecondBucket {
  /** Whole seconds since start(). */
  second: number;
  sent: number;
  ok: number;
  failed: number;
  /** Answered bodies and how many times each came. */
  answers: Record<string, number>;
}

export const DEFAULT_RATE = 80;
export const DEFAULT_TIMEOUT_MS = 3_000;
export const DEFAULT_MAX_SOCKETS = 4;
/** Bodies longer than this are cut: answers are meant to be a version or a hostname. */
export const MAX_BODY = 200;

/**
 * Whether request number `n` (from 0) of a target is sent fresh, spreading `share` evenly: request n is fresh when
 * the count of fresh requests owed after it, floor((n+1)·share), grows past the count owed before it.
 */
export function isFresh(n: number, share: number): boolean {
  return Math.floor((n + 1) * share) > Math.floor(n * share);
}

/** Nearest-rank percentile of ascending `sorted` values; NaN if there are none. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

/** The results of a run, and the figures tests assert on. Pure: built from the results and the run's length. */
export class LoadReport {
  readonly results: readonly RequestResult[];
  /** Milliseconds from start() to stop(). */
  readonly durationMs: number;
  readonly #targets: string;

  constructor(results: readonly RequestResult[], durationMs: number, targets = '') {
    this.results = results;
    this.durationMs = durationMs;
    this.#targets = targets;
  }

  /** The requests that failed, in the order they were sent. */
  failures(): RequestResult[] {
    return this.results.filter((r) => !r.ok);
  }

  /** Requests sent per second over the run. */
  sentPerSecond(): number {
    return this.durationMs > 0 ? this.results.length / (this.durationMs / 1000) : 0;
  }

  /** Buckets by the second a request was sent in, from second 0 to the last one sent in, empty seconds included. */
  perSecond(): SecondBucket[] {
    const buckets: SecondBucket[] = [];
    for (const r of this.results) {
      const second = Math.floor(r.sentAt / 1000);
      while (buckets.length <= second) buckets.push({ second: buckets.length, sent: 0, ok: 0, failed: 0, answers: {} });
      const bucket = buckets[second]!;
      bucket.sent++;
      if (r.ok) {
        bucket.ok++;
        const body = r.body ?? '';
        bucket.answers[body] = (bucket.answers[body] ?? 0) + 1;
      } else {
        bucket.failed++;
      }
    }
    return buckets;
  }

  /** Per second, the share of answered requests whose body was `answer`; null for a second with no answer. */
  share(answer: string): (number | null)[] {
    return this.perSecond().map((b) => (b.ok === 0 ? null : (b.answers[answer] ?? 0) / b.ok));
  }

  /** Latency of the answered requests, in ms (NaN when none was answered). */
  latency(): { p50: number; p99: number; max: number } {
    const sorted = this.results.filter((r) => r.ok).map((r) => r.ms).sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.length ? sorted[sorted.length - 1]! : NaN };
  }

  /** Failures grouped by what went wrong and on which kind of connection, most frequent first. */
  failureKinds(): { kind: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const r of this.failures()) {
      const connection = r.fresh ? 'fresh' : r.reused ? 'reused keep-alive' : 'new keep-alive';
      const kind = `${r.code ? `${r.code} ` : ''}${r.error ?? 'failed'} (${connection})`;
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
    }
    return [...counts].map(([kind, count]) => ({ kind, count })).sort((a, b) => b.count - a.count);
  }

  /** One line for the console: counts, rate, latency, answers and what failed. */
  summary(): string {
    const failed = this.failures().length;
    const fresh = this.results.filter((r) => r.fresh).length;
    const reused = this.results.filter((r) => r.reused).length;
    const { p50, p99, max } = this.latency();
    const answers = new Map<string, number>();
    for (const r of this.results) if (r.ok) answers.set(r.body ?? '', (answers.get(r.body ?? '') ?? 0) + 1);
    const parts = [
      `load${this.#targets ? ` ${this.#targets}` : ''}: ${this.results.length} sent in ${(this.durationMs / 1000).toFixed(1)} s (${this.sentPerSecond().toFixed(1)}/s)`,
      `${this.results.length - failed} ok, ${failed} failed`,
      `fresh ${fresh}, keep-alive ${this.results.length - fresh} (reused ${reused})`,
      `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
      `answers ${[...answers].map(([body, n]) => `${body || "''"}×${n}`).join(' ') || 'none'}`,
    ];
    if (failed > 0) parts.push(`failures: ${this.failureKinds().map((f) => `${f.kind}×${f.count}`).join(', ')}`);
    return parts.join('; ');
  }
}

/** Sends the requests on their schedule and collects what became of them; see the header. */
export class LoadGenerator {
  readonly #targets: Target[];
  readonly #interval: number;
  readonly #freshShare: number;
  readonly #timeoutMs: number;
  readonly #path: string;
  /** One keep-alive pool per target, in the order of #targets. */
  readonly #agents: http.Agent[];
  /** Requests sent to each target so far, for the fresh/keep-alive choice. */
  readonly #sentTo: number[];
  readonly #results: RequestResult[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  /** Sockets that carried a request already (see `reused` in #send). */
  readonly #usedSockets = new WeakSet<object>();
  #startedAt = 0;
  /** The schedule: requests sent so far (the next one is due at #startedAt + #sent · #interval). */
  #sent = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopping: Promise<LoadReport> | null = null;

  constructor(options: LoadOptions) {
    const rate = options.rate ?? DEFAULT_RATE;
    const freshShare = options.freshShare ?? 0.5;
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    if (options.targets.length === 0) throw invalidArgument('the load generator needs at least one target: pass targets: [{ host, port }]');
    if (!(rate > 0) || !Number.isFinite(rate)) throw invalidArgument(`rate ${rate} is not a positive number of requests per second`);
    if (!(freshShare >= 0 && freshShare <= 1)) throw invalidArgument(`freshShare ${freshShare} must be between 0 and 1`);
    if (!Number.isInteger(maxSockets) || maxSockets < 1) throw invalidArgument(`maxSockets ${maxSockets} must be a whole number of at least 1`);
    this.#targets = options.targets.map((t) => ({ host: t.host, port: t.port }));
    this.#interval = 1000 / rate;
    this.#freshShare = freshShare;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#path = options.path ?? '/';
    this.#agents = this.#targets.map(() => new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets }));
    this.#sentTo = this.#targets.map(() => 0);
  }

  /** Starts sending; the first request leaves at once. */
  start(): void {
    if (this.#startedAt !== 0 || this.#stopping) throw conflict('this load generator was already started: make a new one for another run');
    this.#startedAt = performance.now();
    this.#tick();
  }

  /** Stops sending, waits for the requests in flight to be answered or time out, and reports. Idempotent. */
  stop(): Promise<LoadReport> {
    this.#stopping ??= this.#finish();
    return this.#stopping;
  }

  async #finish(): Promise<LoadReport> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    // What fell due while the timer waited behind other work is still sent: the run is exactly `rate` × its length.
    if (this.#startedAt !== 0) this.#sendDue();
    const durationMs = this.#startedAt === 0 ? 0 : performance.now() - this.#startedAt;
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
    for (const agent of this.#agents) agent.destroy();
    const results = [...this.#results].sort((a, b) => a.sentAt - b.sentAt);
    return new LoadReport(results, durationMs, this.#targets.map((t) => `${t.host}:${t.port}`).join(','));
  }

  /** Sends every request that is due, then sleeps until the next one is. */
  #tick(): void {
    this.#timer = null;
    if (this.#stopping) return;
    this.#sendDue();
    const wait = this.#startedAt + this.#sent * this.#interval - performance.now();
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, wait));
  }

  /** Sends the requests whose time has come, late ones included (a busy event loop must not lower the rate). */
  #sendDue(): void {
    const now = performance.now();
    while (this.#startedAt + this.#sent * this.#interval <= now) {
      const index = this.#sent % this.#targets.length;
      const fresh = isFresh(this.#sentTo[index]!++, this.#freshShare);
      this.#sent++;
      const done = this.#send(index, fresh).then((result) => {
        this.#results.push(result);
        this.#inFlight.delete(done);
      });
      this.#inFlight.add(done);
    }
  }

  /** One request; resolves (never rejects) with its result. */
  #send(index: number, fresh: boolean): Promise<RequestResult> {
    const target = this.#targets[index]!;
    const sent = performance.now();
    const base = { sentAt: sent - this.#startedAt, target: `${target.host}:${target.port}`, fresh };
    return new Promise((resolve) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      /** Undefined until a socket is assigned. */
      let reused: boolean | undefined;
      const settle = (outcome: Omit<RequestResult, 'sentAt' | 'target' | 'fresh' | 'ms' | 'reused'>) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ ...base, ms: performance.now() - sent, ...outcome, ...(reused === undefined ? {} : { reused }) });
      };
      const fail = (err: Error, status?: number, body?: string) => {
        const code = (err as NodeJS.ErrnoException).code;
        settle({ ok: false, error: err.message, ...(code ? { code } : {}), ...(status === undefined ? {} : { status }), ...(body === undefined ? {} : { body }) });
      };
      const req = http.get(
        {
          host: target.host,
          port: target.port,
          path: this.#path,
          agent: fresh ? false : this.#agents[index],
          headers: fresh ? { Connection: 'close' } : {},
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8').trim().slice(0, MAX_BODY);
            const status = res.statusCode ?? 0;
            if (status === 200) settle({ ok: true, status, body });
            else fail(new Error(`HTTP ${status}`), status, body);
          });
          res.on('error', (err) => fail(err, res.statusCode));
          res.on('close', () => {
            if (!res.complete) fail(Object.assign(new Error('the answer was cut short'), { code: 'ECONNRESET' }), res.statusCode);
          });
        },
      );
      // Node sets req.reusedSocket only when a request finds an idle pooled socket, not when it waited in the pool
      // for a busy one to be freed (a request, then another at once, on one connection): so a socket counts as
      // reused here when this generator saw it carry an earlier request.
      req.on('socket', (socket) => {
        reused = req.reusedSocket || this.#usedSockets.has(socket);
        this.#usedSockets.add(socket);
      });
      req.on('error', (err) => fail(err));
      timer = setTimeout(() => {
        const err = Object.assign(new Error(`no answer within ${this.#timeoutMs} ms`), { code: 'ETIMEDOUT' });
        fail(err);
        req.destroy(err);
      }, this.#timeoutMs);
    });
  }
}
