/**
 * The traffic of the mesh benchmark (test/bench/mesh.bench.ts): a script the benchmark runs with the pinned Node
 * inside a harness host, or inside a task's container network namespace. One process per role, its figures printed
 * as one JSON line on stdout, so the benchmark reads them the same way from any namespace.
 *
 *   node mesh-load.ts serve '{"ports":[81,82]}'
 *   node mesh-load.ts keepalive '{"host":"10.77.0.12","port":8081,"connections":8,"seconds":5,"rate":200}'
 *   node mesh-load.ts connect '{"host":"10.77.0.12","port":8081,"concurrency":8,"seconds":5}'
 *   node mesh-load.ts idle '{"host":"127.0.0.1","port":8082,"sources":["127.0.0.2"],"count":500,"inFlight":100}'
 *   node mesh-load.ts relay '{"host":"10.77.0.11","port":9100,"toHost":"10.77.0.12","toPort":9101}'
 *
 * Why it is written this way:
 * - Requests are HTTP/1.1 over raw sockets, not node:http: the server answers every request with the same 66
 *   bytes, so the client knows a response is whole by counting bytes, and the time measured is the network path's
 *   (the mesh's), not a parser's. A request is one write and a response one read, as `wrk` sees them.
 * - `serve` is a keep-alive server that costs little per idle connection, so 10,000 idle client connections cost
 *   the backend no process each (busybox httpd forks per connection and has no keep-alive).
 * - A fixed rate is an open loop: requests start on the schedule whatever the answers do, each timed from its own
 *   write. Saturation is a closed loop: every connection sends its next request when the last one was answered.
 * - `idle` opens its connections `inFlight` at a time, as fast as they are answered, sends one request on each (so
 *   each has really reached the backend through the mesh), then holds it open and idle until SIGTERM; it prints how
 *   long the opening took and the slowest connection (a stall shows there), and on SIGUSR2 how many are still open.
 * - `relay` is the reference for the mesh across hosts: a plain TCP relay, each connection piped to a new one with
 *   Node's streams, no encryption, no multiplexing. Two of them (one per host) make the same three TCP hops as the
 *   mesh across hosts, so they show what moving the bytes through two user-space processes costs on the machine.
 */

import net from 'node:net';

const REQUEST = 'GET / HTTP/1.1\r\nHost: mesh-bench\r\n\r\n';
const RESPONSE = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok';
const RESPONSE_BYTES = Buffer.byteLength(RESPONSE);
const END_OF_HEADERS = '\r\n\r\n';
/** A connect that hangs this long counts as an error (the mesh's own limit is 3 s per attempt, 3 attempts). */
const CONNECT_TIMEOUT_MS = 10_000;

interface Latencies {
  count: number;
  errors: number;
  /** The first error seen, for the report. */
  firstError: string | null;
  seconds: number;
  perSecond: number;
  /** Milliseconds. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

/** Collects latencies in a growable typed array (a saturated second may bring 20,000 of them). */
class Samples {
  #values = new Float64Array(1 << 16);
  #length = 0;
  errors = 0;
  firstError: string | null = null;

  add(ms: number): void {
    if (this.#length === this.#values.length) {
      const bigger = new Float64Array(this.#values.length * 2);
      bigger.set(this.#values);
      this.#values = bigger;
    }
    this.#values[this.#length++] = ms;
  }

  fail(err: unknown): void {
    this.errors++;
    this.firstError ??= err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim() : String(err);
  }

  summary(seconds: number): Latencies {
    const sorted = this.#values.slice(0, this.#length).sort();
    let sum = 0;
    for (const v of sorted) sum += v;
    return {
      count: this.#length,
      errors: this.errors,
      firstError: this.firstError,
      seconds,
      perSecond: this.#length / seconds,
      p50: rank(sorted, 50),
      p90: rank(sorted, 90),
      p99: rank(sorted, 99),
      max: sorted.length ? sorted[sorted.length - 1]! : NaN,
      mean: sorted.length ? sum / sorted.length : NaN,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------------
// serve

/**
 * Answers every request (a header block ending in a blank line) on each of `ports` (every address unless `host`
 * says), keeping connections open.
 */
function serve(options: { ports: number[]; host?: string }): void {
  let listening = 0;
  for (const port of options.ports) {
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      socket.on('error', () => socket.destroy());
      // The last bytes of the previous chunk, so a blank line split across two reads is still seen.
      let carry = '';
      socket.on('data', (chunk: Buffer) => {
        const text = carry + chunk.toString('latin1');
        let requests = 0;
        for (let at = text.indexOf(END_OF_HEADERS); at !== -1; at = text.indexOf(END_OF_HEADERS, at + END_OF_HEADERS.length)) requests++;
        const last = text.lastIndexOf(END_OF_HEADERS);
        carry = text.slice(Math.max(last === -1 ? 0 : last + END_OF_HEADERS.length, text.length - 3));
        if (requests > 0) socket.write(requests === 1 ? RESPONSE : RESPONSE.repeat(requests));
      });
    });
    server.listen(port, options.host ?? '0.0.0.0', () => {
      if (++listening === options.ports.length) print({ listening: options.ports });
    });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// One request on a connection

/** A client connection that sends a request and resolves when the whole fixed-size response came back. */
class Client {
  readonly socket: net.Socket;
  #received = 0;
  #waiting: { resolve: () => void; reject: (err: Error) => void } | null = null;
  #closed: Error | null = null;

  constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.#received += chunk.length;
      if (this.#waiting && this.#received >= RESPONSE_BYTES) {
        this.#received -= RESPONSE_BYTES;
        const { resolve } = this.#waiting;
        this.#waiting = null;
        resolve();
      }
    });
    const gone = (err?: Error) => {
      this.#closed ??= err ?? new Error('the connection was closed');
      if (this.#waiting) {
        const { reject } = this.#waiting;
        this.#waiting = null;
        reject(this.#closed);
      }
    };
    socket.on('error', gone);
    socket.on('close', () => gone());
  }

  get closed(): boolean {
    return this.#closed !== null;
  }

  /** Sends one request; resolves with its time in ms, from the write to the last byte of the answer. */
  request(): Promise<number> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise((resolve, reject) => {
      const sent = performance.now();
      this.#waiting = { resolve: () => resolve(performance.now() - sent), reject };
      this.socket.write(REQUEST);
    });
  }
}

function connect(host: string, port: number, localAddress?: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(new Client(socket));
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before it connected'));
    });
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// keepalive: requests on long-lived connections

interface LoadOptions {
  host: string;
  port: number;
  /** The local address to connect from (default: the kernel's choice). */
  source?: string;
  seconds: number;
  /** Requests per second on a schedule (open loop); 0 or absent: as fast as the answers come (closed loop). */
  rate?: number;
}

async function keepalive(options: LoadOptions & { connections: number }): Promise<void> {
  const samples = new Samples();
  const clients = await Promise.all(Array.from({ length: options.connections }, () => connect(options.host, options.port, options.source)));
  // One request on each first: the connections are reached through the mesh before the clock starts.
  await Promise.all(clients.map((c) => c.request()));
  const start = performance.now();
  const end = start + options.seconds * 1000;
  if (options.rate) {
    const free = [...clients];
    const queued: number[] = [];
    const run = (client: Client) => {
      client.request().then((ms) => {
        samples.add(ms);
        if (queued.length > 0 && performance.now() < end) {
          queued.shift();
          run(client);
        } else {
          free.push(client);
        }
      }, (err) => samples.fail(err));
    };
    const interval = 1000 / options.rate;
    let next = start;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const now = performance.now();
        for (; next <= now && next < end; next += interval) {
          const client = free.pop();
          if (client) run(client);
          else queued.push(next);
        }
        if (next >= end) resolve();
        else setTimeout(tick, Math.max(0, next - performance.now()));
      };
      tick();
    });
    // The last answers, given a moment.
    const settle = performance.now() + 2_000;
    while (free.length + clients.filter((c) => c.closed).length < clients.length && performance.now() < settle) await sleep(5);
  } else {
    await Promise.all(clients.map(async (client) => {
      while (performance.now() < end) {
        try {
          samples.add(await client.request());
        } catch (err) {
          samples.fail(err);
          return;
        }
      }
    }));
  }
  const seconds = (performance.now() - start) / 1000;
  for (const client of clients) client.socket.destroy();
  print(samples.summary(Math.min(seconds, options.seconds + 2)));
}

// ---------------------------------------------------------------------------------------------------------------
// connect: a new connection per request

/** Connect, one request, close; resolves with the time from the connect call to the answer. */
async function oneShot(host: string, port: number, source?: string): Promise<number> {
  const t0 = performance.now();
  const client = await connect(host, port, source);
  try {
    await client.request();
    return performance.now() - t0;
  } finally {
    client.socket.end();
  }
}

async function newConnections(options: LoadOptions & { concurrency: number }): Promise<void> {
  const samples = new Samples();
  const start = performance.now();
  const end = start + options.seconds * 1000;
  const one = () => oneShot(options.host, options.port, options.source).then((ms) => samples.add(ms), (err) => samples.fail(err));
  if (options.rate) {
    const pending = new Set<Promise<void>>();
    const interval = 1000 / options.rate;
    for (let next = start; next < end; next += interval) {
      await sleep(Math.max(0, next - performance.now()));
      const p = one().finally(() => pending.delete(p));
      pending.add(p);
    }
    await Promise.all(pending);
  } else {
    await Promise.all(Array.from({ length: options.concurrency }, async () => {
      while (performance.now() < end) await one();
    }));
  }
  print(samples.summary((performance.now() - start) / 1000));
}

// ---------------------------------------------------------------------------------------------------------------
// idle: many open connections doing nothing

interface IdleOptions {
  host: string;
  port: number;
  /** Local addresses to connect from, in turn (the mesh bounds connections per client address). */
  sources: string[];
  count: number;
  /** Connections being opened at once (default 100). */
  inFlight?: number;
}

async function idle(options: IdleOptions): Promise<void> {
  const open = new Set<Client>();
  let failed = 0;
  let closedLater = 0;
  let firstError: string | null = null;
  let slowestMs = 0;
  const startedAt = performance.now();
  const openOne = async (i: number) => {
    try {
      const t0 = performance.now();
      const client = await connect(options.host, options.port, options.sources[i % options.sources.length]);
      await client.request();
      slowestMs = Math.max(slowestMs, performance.now() - t0);
      open.add(client);
      client.socket.once('close', () => {
        if (open.delete(client)) closedLater++;
      });
    } catch (err) {
      failed++;
      firstError ??= err instanceof Error ? `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim() : String(err);
    }
  };
  let next = 0;
  await Promise.all(Array.from({ length: options.inFlight ?? 100 }, async () => {
    while (next < options.count) await openOne(next++);
  }));
  const openedIn = (performance.now() - startedAt) / 1000;
  const status = () => ({ open: open.size, failed, closedLater, firstError });
  print({ opened: true, ...status(), seconds: openedIn, slowestMs });
  process.on('SIGUSR2', () => print(status()));
  process.on('SIGTERM', () => {
    for (const client of open) client.socket.destroy();
    process.exit(0);
  });
  // Held until SIGTERM.
  setInterval(() => {}, 1 << 30);
}

/** Pipes every connection on host:port to toHost:toPort, both ways, until SIGTERM. */
function relay(options: { host: string; port: number; toHost: string; toPort: number }): void {
  const server = net.createServer((client) => {
    const upstream = net.connect(options.toPort, options.toHost);
    client.pipe(upstream).on('error', () => client.destroy());
    upstream.pipe(client).on('error', () => upstream.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.listen(options.port, options.host, () => print({ listening: true }));
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------------------

const [mode, json] = process.argv.slice(2);
const options = JSON.parse(json ?? '{}');
switch (mode) {
  case 'serve':
    serve(options);
    break;
  case 'keepalive':
    await keepalive(options);
    break;
  case 'connect':
    await newConnections(options);
    break;
  case 'idle':
    await idle(options);
    break;
  case 'relay':
    relay(options);
    break;
  default:
    console.error(`mesh-load: unknown mode ${mode}: use serve, keepalive, connect, idle or relay`);
    process.exit(2);
}
