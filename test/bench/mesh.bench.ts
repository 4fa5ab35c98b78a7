/**
 * Benchmark: the routing mesh on real hosts (test/cluster/harness.ts): three network namespaces on one bridge, each
 * with its own dockerd and the built x64 executable. h1 inits, h2 and h3 join as managers (three, so that an
 * election could happen at all). One service, held to h2, publishes five ports:
 *
 * - 8080→80: busybox httpd serving a 256 MB file of zeros from the container's disk (it sends with sendfile, so the
 *   server costs little and what is measured is the path);
 * - 8081→81 and 8082..8084→82..84: a small keep-alive HTTP server (test/bench/lib/mesh-load.ts) run by this
 *   benchmark with the pinned Node inside the task container's network namespace — busybox httpd forks per
 *   connection and has no keep-alive, which would make its own cost the latency figure and rule out 10,000 idle
 *   connections.
 *
 * Every figure is taken for three paths, the clients run inside the hosts:
 * - direct: from h2 to the container's bridge address and target port, no mesh (the floor). Its client connects
 *   from h2's bridge address, so its closed connections' TIME_WAITs do not crowd the ephemeral ports h2's daemon
 *   needs for its own connections to the same container (from docker0's address);
 * - mesh, same host: from h2 to h2's published port — h2's ingress forwards to its own task;
 * - mesh, across hosts: from h1 to h1's published port — h1's ingress forwards over the encrypted transport to h2,
 *   which connects to the container. Each connection is a stream on the bulk channel h1 keeps to h2
 *   (src/cluster/mux/: 4,096 streams a side per channel, more channels when those fill), so opening one
 *   costs a round trip of two small messages, no handshake.
 *
 * Measured, in this order:
 * 1. the daemons' memory with idle client connections (first, while the daemons' heaps hold little garbage), each
 *    opened with one request through the mesh and then left idle, 100 being opened at a time:
 *    - same host: 10,000 (SWARMLET_BENCH_MESH_IDLE) through h2's ports to its own task, in three steps over the three
 *      idle ports (a port takes 4,096 connections, a client address 512 per port: the clients connect from
 *      127.0.0.2..8 inside h2);
 *    - across hosts: 10,000 (SWARMLET_BENCH_MESH_IDLE_REMOTE) through h1's three idle ports to the task on h2, in
 *      three steps, from 127.0.0.2..22 inside h1 (each address on one port only, so none holds more than 512). On
 *      h1 a connection costs the client's socket and a stream, on h2 a stream and the socket to the container. V8
 *      hands the heap the same-host part grew back on its own schedule (seconds to a minute after the close); when
 *      h2's daemon still holds it, the streams reuse it, its figure there is a floor and the summary says so
 *      (SWARMLET_BENCH_MESH_IDLE=1 leaves its heap nearly fresh);
 *    VmRSS of both daemons before, after each step and after they close, and how long the opening took;
 * 2. throughput: downloading the 256 MB file with curl, once per path to warm up (the first transfer after a daemon
 *    starts runs while V8 compiles its path: shown, not counted), then SWARMLET_BENCH_MESH_RUNS times per path
 *    (default 5, the paths interleaved); the median's ratio to direct against the goals (≥ 0.5 same host, ≥ 0.4 across hosts), and
 *    the CPU the two daemons spent per GB. A download that fails is reported with what the daemons logged. Beside
 *    them, as the reference for across hosts, two plain Node TCP relays (mesh-load.ts relay: pipes, no encryption)
 *    on h1 and h2 making the same three TCP hops: what any design that moves the bytes through a user-space process
 *    on each host pays on this machine before it encrypts anything. All of it twice:
 *    - as the hosts are: every process of every host may run on any of the machine's CPUs, so the client, the server,
 *      both daemons and the kernel's work for three TCP hops share what direct's client and server have alone;
 *    - one core per host, as separate machines have (with 2 CPUs or more): every process in h1's network namespace
 *      (its daemon, engine, relay) and the clients started there are held to CPU 0, every one in h2's and in the task
 *      container's to CPU 1 (sched_setaffinity, with taskset), so each host has one core of its own; direct and
 *      same host then run on h2's one core, across hosts on h1's and h2's. h3 is left free, idle meanwhile;
 * 3. latency of small requests (one 36-byte request, one 66-byte answer): on 4 keep-alive connections at 200
 *    requests/s, on 16 at saturation, and a new connection per request at 15/s and at saturation (8 at once); the
 *    added latency is the mesh's percentile minus direct's; the daemons' CPU per request beside it;
 * 4. control traffic while bulk traffic saturates the mesh across hosts (3 curl loops from h1 through h1's port, 30
 *    s): the Raft term on every manager before and after (any election raises it), the leader every manager names
 *    and every node's state polled every 250 ms, the daemons' WARN/ERROR lines, and how long GET /nodes takes on
 *    each manager, idle and saturated (a linearizable read: a follower's asks the leader h1 over the control channel);
 * 5. Docker Swarm mode on the same engines after swarmlet is gone: the same httpd service published on 8080 and
 *    held to h2, asked through h2's and h1's port and, as the control, on the container's own address; whatever
 *    happens (this kernel has no IPVS, which Swarm's routing mesh needs) is recorded with the error text.
 *
 * Each connection forwarded to a local task holds two sockets in the ingress daemon, so 10,000 on the same host need
 * more than 20,000 open files. The daemons here inherit the runner's limit; where that is lower (a hard limit of
 * 20,000 and no CAP_SYS_RESOURCE to raise it, as on the machine this was written on), the benchmark opens as many
 * as fit and says so, and the per-connection figure gives 10,000 (the shipped systemd unit sets
 * LimitNOFILE=1048576). Across hosts each daemon holds one socket per connection, so 10,000 fit. Node raises its own
 * soft limit to the hard one, so the client and server processes need no ulimit. Takes about 4 minutes once the
 * machine's harness lock is free; SWARMLET_LOG_LEVEL=debug reaches the daemons (a failed download then shows why the
 * mesh reset it), SWARMLET_HARNESS_KEEP=1 keeps the daemons' and engines' logs.
 */

import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Daemon, Harness, type Host, type HostProcess, processesInNetns } from '../cluster/harness.ts';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { formSwarm } from './lib/host-swarm.ts';
import { median, megabytes, mebibytes, printTable, seconds, summary, verdict } from './lib/report.ts';
import { residentBytes } from './lib/swarmlet.ts';

const RUNS = Number(process.env.SWARMLET_BENCH_MESH_RUNS ?? 5);
const IDLE = Number(process.env.SWARMLET_BENCH_MESH_IDLE ?? 10_000);
const REMOTE_IDLE = Number(process.env.SWARMLET_BENCH_MESH_IDLE_REMOTE ?? 10_000);
/** What the issue asks the daemon's memory for: 10,000 idle client connections. */
const IDLE_GOAL = 10_000;
/** How much more RSS than at the start makes a daemon's idle figure a floor (its heap has room to reuse). */
const WARMED_BYTES = 16 * 2 ** 20;
/** Idle connections being opened at once, per client process. */
const IDLE_IN_FLIGHT = 100;

const SERVICE = 'mesh-bench';
const SWARM_SERVICE = 'mesh-bench-swarm';
const LOAD_SCRIPT = path.join(import.meta.dirname, 'lib', 'mesh-load.ts');
const BIG_MB = 256;
/** The task's command: a small page and a big file, then httpd in the foreground. */
const HTTPD = `mkdir -p /srv && echo ok > /srv/small && dd if=/dev/zero of=/srv/big bs=1M count=${BIG_MB} 2>/dev/null && exec httpd -f -p 80 -h /srv`;
const HTTP_PORT = { published: 8080, target: 80 };
const LATENCY_PORT = { published: 8081, target: 81 };
const IDLE_PORTS = [{ published: 8082, target: 82 }, { published: 8083, target: 83 }, { published: 8084, target: 84 }];
/** The mesh's bounds (src/mesh/limits.ts), which the idle clients stay within. */
const MAX_PER_PORT = 4_096;
const MAX_PER_CLIENT = 512;

const THROUGHPUT_GOAL = { local: 0.5, remote: 0.4 };
const KEEPALIVE_RATE = 200;
const CONNECT_RATE = 15;
const LOAD_SECONDS = 6;
const SATURATION_SECONDS = 30;
const PROBE_EVERY_MS = 250;
/** The open-file limit the shipped systemd unit gives the daemon (systemd/swarmlet.service). */
const UNIT_NOFILE = 1_048_576;
/** Descriptors left to the daemon for everything else (engine, transport, Raft files) when planning idle connections. */
const FD_MARGIN = 256;
/** Another harness (cluster tests, another benchmark) may hold the machine's lock for a while. */
const LOCK_TIMEOUT_MS = 60 * 60_000;
const CLOCK_TICKS = 100;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

type PathName = 'direct' | 'local' | 'remote' | 'relay';
/** The paths every figure is taken for; the relay only for throughput. */
const PATHS: PathName[] = ['direct', 'local', 'remote'];
const THROUGHPUT_PATHS: PathName[] = [...PATHS, 'relay'];
const PATH_TITLE: Record<PathName, string> = {
  direct: 'direct (h2 → container)',
  local: 'mesh, same host (h2 → h2:port)',
  remote: 'mesh, across hosts (h1 → h1:port → h2)',
  relay: 'reference: two plain TCP relays, no encryption (h1 → h1:9100 → h2:9101 → container)',
};
/** The reference relays' ports on h1 and h2 (mesh-load.ts relay). */
const RELAY_PORTS = { h1: 9100, h2: 9101 };

/** Where a path's client runs, what it connects to for one target port, and from which address. */
interface Route {
  client: Host;
  host: string;
  port: number;
  /**
   * The direct path's client connects from h2's bridge address, not docker0's: h2's daemon reaches the container
   * from docker0's, and the direct path's thousands of closed connections (each a TIME_WAIT for 60 s) would
   * otherwise leave the daemon's connects to the same container few ephemeral ports to choose from.
   */
  source?: string;
}

interface Setup {
  hosts: Host[];
  daemons: Map<string, Daemon>;
  /** The task container's address on h2's docker bridge, and its main process. */
  containerIp: string;
  containerPid: number;
  /** The reference relays, while the throughput is measured. */
  relays?: { h1: HostProcess; h2: HostProcess };
}

function route(setup: Setup, via: PathName, port: { published: number; target: number }): Route {
  const [h1, h2] = setup.hosts as [Host, Host];
  if (via === 'direct') return { client: h2, host: setup.containerIp, port: port.target, source: h2.address };
  if (via === 'local') return { client: h2, host: h2.address, port: port.published };
  if (via === 'relay') return { client: h1, host: h1.address, port: RELAY_PORTS.h1 };
  return { client: h1, host: h1.address, port: port.published };
}

function daemonOf(setup: Setup, host: string): Daemon {
  const daemon = setup.daemons.get(host);
  if (!daemon) throw new Error(`no daemon on ${host}`);
  return daemon;
}

async function cli(daemon: Daemon, args: string[]): Promise<string> {
  const result = await daemon.cli(args);
  if (result.code !== 0) throw new Error(`swarmlet ${args.join(' ')} on ${daemon.host.name} failed: ${result.stderr.trim()}\n--- its log ---\n${daemon.logs().slice(-3000)}`);
  return result.stdout.trim();
}

async function untilTrue(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** The last JSON line a mesh-load process printed. */
function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`mesh-load printed no figures: ${stdout.slice(-500)}`);
  return JSON.parse(line) as T;
}

/**
 * Runs mesh-load.ts in `mode` inside `host` and returns what it printed last. Node raises its own soft open-file
 * limit to the hard one at start, so a client or server may hold as many sockets as the machine lets any process.
 */
async function load<T>(host: Host, mode: string, options: object, timeoutMs = 120_000): Promise<T> {
  const result = await host.exec([process.execPath, LOAD_SCRIPT, mode, JSON.stringify(options)], { timeoutMs });
  if (result.code !== 0) throw new Error(`mesh-load ${mode} on ${host.name} failed (${result.code}): ${result.stderr.trim() || result.stdout.trim()}`);
  return lastJson<T>(result.stdout);
}

/** curl inside `host` (held to `cpu` when given): the HTTP status, or the failure as curl words it. */
async function curl(host: Host, url: string, maxSeconds: number, format = '%{http_code}', cpu?: number): Promise<{ ok: boolean; out: string; error: string }> {
  const pin = cpu === undefined ? [] : ['taskset', '-c', String(cpu)];
  const result = await host.exec([...pin, 'curl', '-sS', '-o', '/dev/null', '--max-time', String(maxSeconds), '-w', format, url], { timeoutMs: (maxSeconds + 10) * 1000 });
  return { ok: result.code === 0, out: result.stdout.trim(), error: result.code === 0 ? '' : `curl exit ${result.code}: ${result.stderr.trim()}` };
}

/** User plus system CPU seconds a process has used so far. */
async function cpuSeconds(pid: number): Promise<number> {
  const { user, system } = await cpuTimes(pid);
  return user + system;
}

/** User and system CPU seconds a process has used so far (the kernel's share shows in system). */
async function cpuTimes(pid: number): Promise<{ user: number; system: number }> {
  const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, system: Number(fields[12]) / CLOCK_TICKS };
}

const pidOf = (setup: Setup, host: string) => daemonOf(setup, host).process.pid;
/** The processes a path's bytes go through on h1 and h2: the daemons, or the reference relays. */
const forwarders = (setup: Setup, via: PathName) => (via === 'relay' ? { h1: setup.relays!.h1.pid, h2: setup.relays!.h2.pid } : { h1: pidOf(setup, 'h1'), h2: pidOf(setup, 'h2') });
const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(value < 10 ? 2 : 1)} ms` : 'n/a');
const signedMs = (value: number) => (Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${value.toFixed(2)} ms` : 'n/a');

/** Where each daemon's log stands, so the lines a step adds can be told apart. */
const logMarks = (setup: Setup) => new Map([...setup.daemons].map(([host, d]) => [host, d.logs().length]));

/** Lines matching `pattern` the daemons logged since `marks`, each prefixed with its host. */
function linesSince(setup: Setup, marks: Map<string, number>, pattern: RegExp): string[] {
  return [...setup.daemons].flatMap(([host, daemon]) =>
    daemon.logs().slice(marks.get(host) ?? 0).split('\n').filter((line) => pattern.test(line)).map((line) => `${host}| ${line}`));
}

/** WARN and ERROR lines the daemons logged since `marks`. */
const problemsSince = (setup: Setup, marks: Map<string, number>) => linesSince(setup, marks, / (WARN|ERROR) /);

// ---------------------------------------------------------------------------------------------------------------
// The cluster and the service

async function formCluster(hosts: Host[]): Promise<Map<string, Daemon>> {
  const daemons = new Map<string, Daemon>();
  const env: Record<string, string> = process.env.SWARMLET_LOG_LEVEL ? { SWARMLET_LOG_LEVEL: process.env.SWARMLET_LOG_LEVEL } : {};
  await Promise.all(hosts.map(async (host) => daemons.set(host.name, await host.startDaemon([], { env }))));
  const [d1, ...others] = hosts.map((h) => daemons.get(h.name)!);
  await cli(d1!, ['init']);
  const token = await cli(d1!, ['join-token', '-q', 'manager']);
  for (const daemon of others) await cli(daemon, ['join', '--token', token, hosts[0]!.address]);
  await untilTrue(`${hosts.length} ready nodes and reachable managers`, async () => {
    const nodes = await d1!.api<NodeView[]>('GET', '/nodes');
    return nodes.status === 200 && nodes.body.length === hosts.length &&
      nodes.body.every((n) => n.Status.State === 'ready' && n.ManagerStatus?.Reachability === 'reachable');
  }, 60_000);
  return daemons;
}

interface NodeView {
  ID: string;
  Description: { Hostname: string };
  Status: { State: string };
  ManagerStatus?: { Leader?: boolean; Reachability: string };
}

async function createService(hosts: Host[], daemons: Map<string, Daemon>): Promise<Setup> {
  const [h1, h2] = hosts as [Host, Host];
  const ports = [HTTP_PORT, LATENCY_PORT, ...IDLE_PORTS].flatMap((p) => ['-p', `${p.published}:${p.target}`]);
  await cli(daemons.get('h1')!, ['service', 'create', '-d', '--name', SERVICE, '--constraint', 'node.hostname==h2', ...ports, TEST_IMAGE, 'sh', '-c', HTTPD]);
  const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${SERVICE}`], status: ['running'] }));
  let container: { Id: string } | undefined;
  await untilTrue(`the ${SERVICE} task running on h2`, async () => {
    container = (await h2.engineApi<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`)).body[0];
    return container !== undefined;
  }, 60_000);
  const inspected = await h2.engineApi<{ State: { Pid: number }; NetworkSettings: { IPAddress: string; Networks: Record<string, { IPAddress: string }> } }>('GET', `/containers/${container!.Id}/json`);
  const settings = inspected.body.NetworkSettings;
  const containerIp = settings.IPAddress || Object.values(settings.Networks)[0]?.IPAddress;
  if (!containerIp) throw new Error(`the ${SERVICE} container on h2 has no address: ${JSON.stringify(settings)}`);
  const setup: Setup = { hosts, daemons, containerIp, containerPid: inspected.body.State.Pid };

  // httpd listens once the big file is written; every path must answer before anything is timed.
  for (const via of PATHS) {
    const r = route(setup, via, HTTP_PORT);
    await untilTrue(`${via}: http://${r.host}:${r.port}/small from ${r.client.name}`, async () => (await curl(r.client, `http://${r.host}:${r.port}/small`, 3)).out === '200', 60_000);
  }
  console.log(`mesh: ${SERVICE} runs on h2 at ${containerIp}; httpd answers on every path (${h1.name} and ${h2.name} published ports included)`);
  return setup;
}

/** The keep-alive server, inside the task container's network namespace on h2. */
async function startBackend(setup: Setup): Promise<HostProcess> {
  const h2 = setup.hosts[1]!;
  const ports = [LATENCY_PORT, ...IDLE_PORTS].map((p) => p.target);
  const backend = h2.spawn(['nsenter', `--net=/proc/${setup.containerPid}/ns/net`, '--', process.execPath, LOAD_SCRIPT, 'serve', JSON.stringify({ ports })], { name: 'h2-mesh-backend' });
  await backend.waitForOutput('"listening"', 10_000);
  for (const via of PATHS) {
    const r = route(setup, via, LATENCY_PORT);
    await untilTrue(`${via}: the keep-alive server through ${r.host}:${r.port}`, async () => (await curl(r.client, `http://${r.host}:${r.port}/`, 3)).out === '200', 30_000);
  }
  return backend;
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Throughput

interface Transfer {
  via: PathName;
  /** Bytes per second, as curl averaged them over the transfer; NaN when it failed. */
  rate: number;
  /** CPU seconds the h1 and h2 daemons used during it. */
  cpu: { h1: number; h2: number };
  /** Bytes received (all of the file, or as far as it got). */
  bytes: number;
  /** How it failed, as curl says it. */
  error?: string;
}

async function download(setup: Setup, via: PathName, placement: Placement): Promise<Transfer> {
  const r = route(setup, via, HTTP_PORT);
  const pids = forwarders(setup, via);
  const before = { h1: await cpuSeconds(pids.h1), h2: await cpuSeconds(pids.h2) };
  const marks = logMarks(setup);
  const cpu = placement === 'core per host' ? HOST_CPU[r.client.name] : undefined;
  const result = await curl(r.client, `http://${r.host}:${r.port}/big`, 120, '%{speed_download} %{size_download}', cpu);
  const used = { h1: (await cpuSeconds(pids.h1)) - before.h1, h2: (await cpuSeconds(pids.h2)) - before.h2 };
  const [rate, bytes] = result.out.split(' ').map(Number) as [number, number];
  const whole = BIG_MB * 2 ** 20;
  if (!result.ok || bytes !== whole) {
    const error = `${result.error || 'short'} after ${megabytes(bytes || 0)} of ${megabytes(whole)}`;
    await sleep(1_000); // The task's node logs the reset when its end of the stream closes.
    const said = linesSince(setup, marks, /mesh|channel|stream|reset|keepalive/i);
    console.log(`mesh: throughput (${placement}): ${via}: FAILED: ${error}; what the daemons logged meanwhile (SWARMLET_LOG_LEVEL=debug says more):\n` +
      `${said.slice(-12).map((l) => `    ${l}`).join('\n') || '    nothing'}`);
    return { via, rate: NaN, cpu: used, bytes: bytes || 0, error };
  }
  return { via, rate, cpu: used, bytes };
}

const succeeded = (list: Transfer[]) => list.filter((t) => t.error === undefined);
/** The median rate of the transfers that completed; NaN if none did. */
const medianRate = (list: Transfer[]) => (succeeded(list).length ? median(succeeded(list).map((t) => t.rate)) : NaN);

/**
 * How the hosts' processes sit on the machine's CPUs for a set of runs: as they are (any process on any CPU), or
 * one core per host (see the header).
 */
type Placement = 'shared' | 'core per host';
/** The CPU each host's processes are held to, one core per host. */
const HOST_CPU: Record<string, number> = { h1: 0, h2: 1 };
type Transfers = Map<PathName, Transfer[]>;

async function throughput(setup: Setup): Promise<{ shared: Transfers; perHost: Transfers | null }> {
  setup.relays = await startRelays(setup);
  const runAll = async (placement: Placement, warmUps?: Map<PathName, Transfer>) => {
    const transfers: Transfers = new Map(THROUGHPUT_PATHS.map((p) => [p, []]));
    // The first download of a path after a daemon starts runs while V8 compiles that path: shown, not counted.
    if (warmUps) for (const via of THROUGHPUT_PATHS) warmUps.set(via, await download(setup, via, placement));
    for (let run = 0; run < RUNS; run++) {
      for (const via of THROUGHPUT_PATHS) transfers.get(via)!.push(await download(setup, via, placement));
    }
    return transfers;
  };
  const warmUps = new Map<PathName, Transfer>();
  let shared: Transfers;
  let perHost: Transfers | null = null;
  try {
    shared = await runAll('shared', warmUps);
    if (os.cpus().length >= 2) {
      const release = await oneCorePerHost(setup);
      try {
        perHost = await runAll('core per host');
      } finally {
        await release();
      }
    } else {
      console.log(`mesh: throughput: one CPU only, so no runs with one core per host`);
    }
  } finally {
    await Promise.all([setup.relays.h1.end(5_000), setup.relays.h2.end(5_000)]);
    delete setup.relays;
  }
  printThroughput(`mesh throughput, the hosts sharing the machine's ${os.cpus().length} CPUs`, shared, warmUps);
  if (perHost) printThroughput('mesh throughput, one core per host (h1 on CPU 0, h2 and its task on CPU 1)', perHost);
  return { shared, perHost };
}

function printThroughput(title: string, transfers: Transfers, warmUps?: Map<PathName, Transfer>): void {
  const direct = medianRate(transfers.get('direct')!);
  const rate = (t: Transfer) => (t.error === undefined ? (t.rate / 1e6).toFixed(0) : 'failed');
  printTable(
    `${title}: ${BIG_MB} MiB from busybox httpd, curl, ${RUNS} run(s) per path (MB = 10^6 bytes); CPU per GB moved of the daemons (of the relays on the reference row)`,
    ['path', ...(warmUps ? ['warm-up, not counted'] : []), 'runs (MB/s)', 'median', 'ratio to direct', 'goal', 'h1 CPU s/GB', 'h2 CPU s/GB'],
    THROUGHPUT_PATHS.map((via) => {
      const list = transfers.get(via)!;
      const mid = medianRate(list);
      const gb = list.reduce((sum, t) => sum + t.bytes, 0) / 1e9;
      const cpu = (host: 'h1' | 'h2') => (list.reduce((sum, t) => sum + t.cpu[host], 0) / gb).toFixed(2);
      const goal = via === 'local' || via === 'remote' ? `≥ ${THROUGHPUT_GOAL[via]}: ${verdict(mid / direct >= THROUGHPUT_GOAL[via])}` : '-';
      const runs = list.map(rate).join(', ');
      return [PATH_TITLE[via], ...(warmUps ? [rate(warmUps.get(via)!)] : []), runs, Number.isNaN(mid) ? 'n/a' : `${(mid / 1e6).toFixed(0)} MB/s`,
        Number.isNaN(mid / direct) ? 'n/a' : (mid / direct).toFixed(2), goal, cpu('h1'), cpu('h2')];
    }),
  );
}

/** One summary line of a set of throughput runs: each path's median, its ratio to direct, the goals' verdicts. */
function throughputSummary(placement: string, transfers: Transfers): string {
  const mid = (via: PathName) => medianRate(transfers.get(via)!);
  const ratio = (via: PathName) => mid(via) / mid('direct');
  const failures = (via: PathName) => {
    const failed = transfers.get(via)!.filter((t) => t.error !== undefined);
    return failed.length ? `, ${failed.length} of ${RUNS} FAILED (${failed[0]!.error})` : '';
  };
  const mb = (via: PathName) => `${(mid(via) / 1e6).toFixed(0)} MB/s`;
  return `mesh throughput, ${placement} (${BIG_MB} MiB, median of ${RUNS}): direct ${mb('direct')}${failures('direct')}, ` +
    `mesh same host ${mb('local')} = ${ratio('local').toFixed(2)} (goal ≥ ${THROUGHPUT_GOAL.local}: ${verdict(ratio('local') >= THROUGHPUT_GOAL.local)}${failures('local')}), ` +
    `mesh across hosts (encrypted) ${mb('remote')} = ${ratio('remote').toFixed(2)} (goal ≥ ${THROUGHPUT_GOAL.remote}: ${verdict(ratio('remote') >= THROUGHPUT_GOAL.remote)}${failures('remote')}); ` +
    `reference, the same three TCP hops through two plain Node relays with no encryption: ${mb('relay')} = ${ratio('relay').toFixed(2)}${failures('relay')}`;
}

/**
 * Holds every thread of every process of h1 to CPU 0, and of h2 and the task container to CPU 1 (clients are
 * started held: see download); answers how to give each back the CPUs it had. A process that ends meanwhile is
 * skipped.
 */
async function oneCorePerHost(setup: Setup): Promise<() => Promise<void>> {
  const [h1, h2] = setup.hosts as [Host, Host];
  const placed = [
    { cpu: HOST_CPU.h1!, pids: await h1.processes() },
    { cpu: HOST_CPU.h2!, pids: [...await h2.processes(), ...await processesInNetns(`/proc/${setup.containerPid}/ns/net`)] },
  ];
  const held: Array<{ pid: number; was: string }> = [];
  for (const { cpu, pids } of placed) {
    for (const pid of pids) {
      const was = await taskset(['-c', '-p', String(pid)]);
      if (was !== null && (await taskset(['-a', '-p', '-c', String(cpu), String(pid)])) !== null) held.push({ pid, was: was.slice(was.lastIndexOf(':') + 1).trim() });
    }
  }
  console.log(`mesh: throughput: one core per host: ${placed.map((p, i) => `${setup.hosts[i]!.name}'s ${p.pids.length} processes on CPU ${p.cpu}`).join(', ')}`);
  return async () => {
    for (const { pid, was } of held) await taskset(['-a', '-p', '-c', was, String(pid)]);
  };
}

/** Runs taskset: what it printed, or null when it failed (the process is gone). */
function taskset(args: string[]): Promise<string | null> {
  return new Promise((resolve) => execFile('taskset', args, (err, stdout) => resolve(err ? null : stdout)));
}

/** The reference: a plain relay on h2 to the container, and one on h1 to h2's, each answering before it is timed. */
async function startRelays(setup: Setup): Promise<{ h1: HostProcess; h2: HostProcess }> {
  const [h1, h2] = setup.hosts as [Host, Host];
  const start = async (host: Host, port: number, toHost: string, toPort: number) => {
    const relay = host.spawn([process.execPath, LOAD_SCRIPT, 'relay', JSON.stringify({ host: host.address, port, toHost, toPort })], { name: `${host.name}-relay` });
    await relay.waitForOutput('"listening"', 10_000);
    return relay;
  };
  const relays = { h2: await start(h2, RELAY_PORTS.h2, setup.containerIp, HTTP_PORT.target), h1: await start(h1, RELAY_PORTS.h1, h2.address, RELAY_PORTS.h2) };
  const r = route(setup, 'relay', HTTP_PORT);
  await untilTrue(`the reference relays: http://${r.host}:${r.port}/small from ${r.client.name}`, async () => (await curl(r.client, `http://${r.host}:${r.port}/small`, 3)).out === '200', 30_000);
  return relays;
}

// ---------------------------------------------------------------------------------------------------------------
// 2. Latency

interface Latencies {
  count: number;
  errors: number;
  firstError: string | null;
  perSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

interface Scenario {
  name: string;
  mode: 'keepalive' | 'connect';
  options: object;
}

const SCENARIOS: Scenario[] = [
  { name: `keep-alive, ${KEEPALIVE_RATE} req/s on 4 connections`, mode: 'keepalive', options: { connections: 4, rate: KEEPALIVE_RATE, seconds: LOAD_SECONDS } },
  { name: 'keep-alive, saturated, 16 connections', mode: 'keepalive', options: { connections: 16, seconds: LOAD_SECONDS } },
  { name: `new connection per request, ${CONNECT_RATE}/s`, mode: 'connect', options: { concurrency: 1, rate: CONNECT_RATE, seconds: LOAD_SECONDS + 2 } },
  { name: 'new connection per request, saturated, 8 at once', mode: 'connect', options: { concurrency: 8, seconds: LOAD_SECONDS } },
];

/** CPU seconds the h1 and h2 daemons use while `work` runs, and the system (kernel) part of it. */
async function daemonCpu<T>(setup: Setup, work: () => Promise<T>): Promise<{ value: T; h1: number; h2: number; system: number }> {
  const read = async () => ({ h1: await cpuTimes(pidOf(setup, 'h1')), h2: await cpuTimes(pidOf(setup, 'h2')) });
  const before = await read();
  const value = await work();
  const after = await read();
  const used = (host: 'h1' | 'h2') => after[host].user + after[host].system - before[host].user - before[host].system;
  return { value, h1: used('h1'), h2: used('h2'), system: after.h1.system + after.h2.system - before.h1.system - before.h2.system };
}

async function latency(setup: Setup): Promise<Map<string, Map<PathName, Latencies>>> {
  const results = new Map<string, Map<PathName, Latencies>>();
  for (const scenario of SCENARIOS) {
    const byPath = new Map<PathName, Latencies>();
    const cpu = new Map<PathName, string>();
    for (const via of PATHS) {
      const r = route(setup, via, LATENCY_PORT);
      const run = await daemonCpu(setup, () => load<Latencies>(r.client, scenario.mode, { host: r.host, port: r.port, source: r.source, ...scenario.options }));
      byPath.set(via, run.value);
      const perRequest = (secs: number) => (run.value.count ? `${((secs * 1e6) / run.value.count).toFixed(0)} µs` : 'n/a');
      const total = run.h1 + run.h2;
      cpu.set(via, `${perRequest(run.h1)} + ${perRequest(run.h2)}${total > 0 ? ` (${((100 * run.system) / total).toFixed(0)}% system)` : ''}`);
    }
    results.set(scenario.name, byPath);
    const direct = byPath.get('direct')!;
    printTable(
      `mesh latency: ${scenario.name}, ${scenario.mode === 'keepalive' ? 'from the write to the whole answer' : 'from connect() to the whole answer'}`,
      ['path', 'requests', 'req/s', 'errors', 'p50', 'p90', 'p99', 'max', 'added p50', 'added p99', 'daemon CPU per request (h1 + h2)'],
      PATHS.map((via) => {
        const l = byPath.get(via)!;
        const added = (key: 'p50' | 'p99') => (via === 'direct' ? '-' : signedMs(l[key] - direct[key]));
        return [PATH_TITLE[via], l.count, l.perSecond.toFixed(0), l.errors ? `${l.errors} (${l.firstError})` : 0, ms(l.p50), ms(l.p90), ms(l.p99), ms(l.max), added('p50'), added('p99'), cpu.get(via)!];
      }),
    );
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Control traffic under bulk load

interface Watch {
  /** Every (asked host → named leader) seen, and every node state that was not ready. */
  leaders: Set<string>;
  notReady: string[];
  unanswered: number;
  /**
   * GET /nodes times by manager, ms: a linearizable read, so a follower's asks the leader (h1) over the control
   * channel; h1 carries the bulk traffic's ingress end, h2 its task end, h3 none of it.
   */
  reads: Map<string, number[]>;
}

async function raftTerm(daemon: Daemon): Promise<number> {
  const file = JSON.parse(await fs.readFile(path.join(daemon.dataDir, 'raft', 'hardstate.json'), 'utf8')) as { data: { term: number } };
  return file.data.term;
}

async function terms(setup: Setup): Promise<Map<string, number>> {
  return new Map(await Promise.all([...setup.daemons].map(async ([host, d]) => [host, await raftTerm(d)] as const)));
}

/** Polls every manager's node table, timing each read, every PROBE_EVERY_MS until `stop` resolves. */
async function watchControl(setup: Setup, stop: Promise<unknown>): Promise<Watch> {
  const watch: Watch = { leaders: new Set(), notReady: [], unanswered: 0, reads: new Map([...setup.daemons.keys()].map((h) => [h, []])) };
  let done = false;
  void stop.finally(() => (done = true));
  const started = performance.now();
  while (!done) {
    const next = performance.now() + PROBE_EVERY_MS;
    await Promise.all([...setup.daemons].map(async ([host, daemon]) => {
      const t0 = performance.now();
      const reply = await daemon.api<NodeView[]>('GET', '/nodes').catch(() => undefined);
      if (reply?.status !== 200) {
        watch.unanswered++;
        return;
      }
      watch.reads.get(host)!.push(performance.now() - t0);
      const leader = reply.body.find((n) => n.ManagerStatus?.Leader)?.Description.Hostname ?? 'none';
      watch.leaders.add(`${host}→${leader}`);
      for (const node of reply.body) {
        if (node.Status.State !== 'ready') watch.notReady.push(`${seconds(performance.now() - started)}: ${host} saw ${node.Description.Hostname} ${node.Status.State}`);
      }
    }));
    await sleep(Math.max(0, next - performance.now()));
  }
  return watch;
}

interface ControlFigures {
  idle: Watch;
  loaded: Watch;
  /** Raft term per manager, from its hardstate.json, before the idle phase and after the load. */
  termsBefore: Map<string, number>;
  termsAfter: Map<string, number>;
  problems: string[];
  load: Saturation;
  loopSeconds: number;
}

interface Saturation {
  /** Bytes received by the loops, failed downloads' partial bytes included. */
  bytes: number;
  complete: number;
  /** curl's words for each download that failed. */
  failures: string[];
}

/** `loops` curl loops downloading the big file from h1 through h1's port (the task is on h2) for `secs` seconds. */
async function saturate(setup: Setup, loops: number, secs: number): Promise<Saturation> {
  const h1 = setup.hosts[0]!;
  const url = `http://${h1.address}:${HTTP_PORT.published}/big`;
  const script = `end=$(( $(date +%s) + ${secs} )); while [ "$(date +%s)" -lt "$end" ]; do curl -sS -o /dev/null --max-time 60 -w '%{size_download}\\n' ${url}; done`;
  const results = await Promise.all(Array.from({ length: loops }, () => h1.exec(['sh', '-c', script], { timeoutMs: (secs + 90) * 1000 })));
  const sizes = results.flatMap((r) => r.stdout.trim().split('\n').filter((l) => /^\d+$/.test(l)).map(Number));
  return {
    bytes: sizes.reduce((sum, n) => sum + n, 0),
    complete: sizes.filter((n) => n === BIG_MB * 2 ** 20).length,
    failures: results.flatMap((r) => r.stderr.trim().split('\n').filter(Boolean)),
  };
}

async function controlUnderLoad(setup: Setup): Promise<ControlFigures> {
  const termsBefore = await terms(setup);
  const marks = logMarks(setup);
  const idle = await watchControl(setup, sleep(8_000));
  const t0 = performance.now();
  const loading = saturate(setup, 3, SATURATION_SECONDS);
  const loaded = await watchControl(setup, loading);
  const load = await loading;
  const loopSeconds = (performance.now() - t0) / 1000;
  // A term change or a down mark may lag the load by a heartbeat or two.
  await sleep(3_000);
  const termsAfter = await terms(setup);
  const problems = problemsSince(setup, marks);
  const reads = (w: Watch) => [...w.reads].map(([host, list]) => (list.length ? `${host} ${ms(percentileOf(list, 50))} / ${ms(percentileOf(list, 99))}` : `${host} n/a`)).join(', ');
  printTable(
    `mesh control traffic: 3 curl loops of the ${BIG_MB} MiB file from h1 through h1:${HTTP_PORT.published} (task on h2) for ${SATURATION_SECONDS} s; every manager polled every ${PROBE_EVERY_MS} ms`,
    ['phase', 'bulk moved', 'Raft terms (h1 h2 h3)', 'leaders named', 'not-ready sightings', 'unanswered polls', 'GET /nodes p50 / p99 (h1 leader, h2 and h3 followers)'],
    [
      ['idle (8 s)', '-', [...termsBefore.values()].join(' '), [...idle.leaders].join(', '), idle.notReady.length, idle.unanswered, reads(idle)],
      [`saturated (${loopSeconds.toFixed(0)} s)`, `${megabytes(load.bytes)}, ${load.complete} whole downloads, ${(load.bytes / 1e6 / loopSeconds).toFixed(0)} MB/s`,
        [...termsAfter.values()].join(' '), [...loaded.leaders].join(', '), loaded.notReady.length, loaded.unanswered, reads(loaded)],
    ],
  );
  for (const line of loaded.notReady.slice(0, 10)) console.log(`mesh: control: ${line}`);
  if (load.failures.length) console.log(`mesh: control: ${load.failures.length} of the saturating downloads FAILED, first: ${load.failures[0]}`);
  if (problems.length) console.log(`mesh: control: WARN/ERROR lines in the daemons' logs during the load:\n${problems.slice(0, 20).map((l) => `    ${l}`).join('\n')}${problems.length > 20 ? `\n    ... ${problems.length - 20} more` : ''}`);
  return { idle, loaded, termsBefore, termsAfter, problems, load, loopSeconds };
}

function percentileOf(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1]!;
}

const elections = (c: ControlFigures) => [...c.termsAfter].reduce((sum, [host, term]) => sum + Math.max(0, term - (c.termsBefore.get(host) ?? term)), 0);

// ---------------------------------------------------------------------------------------------------------------
// 4. Memory with idle connections

interface IdleClient {
  process: HostProcess;
  opened: IdleOpened;
}

/** What an idle client printed once it had opened its connections. */
interface IdleOpened {
  open: number;
  failed: number;
  firstError: string | null;
  /** From its start to the last connection answered or failed. */
  seconds: number;
  /** The longest one connection took, from connect() to its answer. */
  slowestMs: number;
}

interface IdleStatus {
  open: number;
  failed: number;
  closedLater: number;
  firstError: string | null;
}

async function openIdle(host: Host, options: object, name: string): Promise<IdleClient> {
  const proc = host.spawn([process.execPath, LOAD_SCRIPT, 'idle', JSON.stringify(options)], { name });
  try {
    await proc.waitForOutput('"opened":true', 300_000);
  } catch (err) {
    await proc.end(5_000);
    throw err;
  }
  return { process: proc, opened: lastJson(proc.stdout()) };
}

/** Asks an idle client how many of its connections are still open. */
async function idleStatus(client: IdleClient): Promise<IdleStatus> {
  const lines = client.process.stdout().trim().split('\n').length;
  client.process.kill('SIGUSR2');
  const deadline = Date.now() + 5_000;
  while (client.process.stdout().trim().split('\n').length === lines && Date.now() < deadline) await sleep(20);
  return lastJson<IdleStatus>(client.process.stdout());
}

interface MemoryPoint {
  label: string;
  connections: number;
  h1: number;
  h2: number;
  h1Anon: number;
  h2Anon: number;
}

async function memoryPoint(setup: Setup, label: string, connections: number): Promise<MemoryPoint> {
  // A moment for the last connections' buffers to be let go.
  await sleep(2_000);
  const [h1, h2] = await Promise.all([residentBytes(pidOf(setup, 'h1')), residentBytes(pidOf(setup, 'h2'))]);
  return { label, connections, h1: h1.rss, h2: h2.rss, h1Anon: h1.anon, h2Anon: h2.anon };
}

/** One idle client process: a published port, how many connections, and the addresses they come from. */
interface IdleStep {
  port: number;
  count: number;
  sources: string[];
}

/**
 * Spreads `count` connections over the idle ports and, within a port, over enough loopback source addresses (the
 * mesh bounds connections per port and per client address on a port). With `ownSources` every port gets addresses
 * of its own, so no address holds more than MAX_PER_CLIENT connections in all.
 */
function idlePlan(count: number, variable: string, ownSources: boolean): IdleStep[] {
  const ports = Math.max(1, Math.ceil(count / MAX_PER_PORT));
  if (ports > IDLE_PORTS.length) throw new Error(`${variable}=${count} needs ${ports} published ports; the benchmark has ${IDLE_PORTS.length} (${IDLE_PORTS.length * MAX_PER_PORT} connections): ask for fewer`);
  const steps = IDLE_PORTS.length;
  let firstSource = 2;
  return Array.from({ length: steps }, (_, i) => {
    const share = Math.floor(count / steps) + (i < count % steps ? 1 : 0);
    const sources = Array.from({ length: Math.ceil(share / MAX_PER_CLIENT) }, (_, k) => `127.0.0.${firstSource + k}`);
    if (ownSources) firstSource += sources.length;
    return { port: IDLE_PORTS[i]!.published, count: share, sources };
  }).filter((step) => step.count > 0);
}

/** One path's idle connections: the daemons' memory along the way and what the clients saw. */
interface IdleRun {
  /** Connections asked for (after the open-file bound), and by the variable. */
  planned: number;
  asked: number;
  points: MemoryPoint[];
  steps: { step: IdleStep; opened: IdleOpened }[];
  /** Connections opened (one request answered each), and still open when the clients were asked, before closing. */
  open: number;
  stillOpen: number;
  /** Closed by the other side while idle. */
  closedLater: number;
  /** Time to open them all, step after step, and the slowest single connection. */
  seconds: number;
  slowestMs: number;
  /** The daemons' WARN/ERROR lines from the first open to 12 s after the close. */
  problems: string[];
}

/**
 * Opens `plan`'s connections from inside `client` to `target`, one client process per step, the daemons' memory
 * after each step; after `holdMs` more, once again; then asks the clients how many are still open, closes them all,
 * and measures 2 s and 12 s later.
 */
async function idleRun(setup: Setup, client: Host, target: string, plan: IdleStep[], asked: number, holdMs: number): Promise<IdleRun> {
  const marks = logMarks(setup);
  const points: MemoryPoint[] = [await memoryPoint(setup, 'before', 0)];
  const clients: IdleClient[] = [];
  const steps: IdleRun['steps'] = [];
  let open = 0;
  let statuses: IdleStatus[] = [];
  try {
    for (const step of plan) {
      const idle = await openIdle(client, { host: target, port: step.port, sources: step.sources, count: step.count, inFlight: IDLE_IN_FLIGHT }, `${client.name}-idle-${step.port}`);
      clients.push(idle);
      steps.push({ step, opened: idle.opened });
      open += idle.opened.open;
      const { opened } = idle;
      console.log(`mesh: idle: ${opened.open}/${step.count} connections open through ${client.name}:${step.port} from ${step.sources.length} address(es) ` +
        `(${step.sources[0]}..${step.sources.at(-1)}) in ${seconds(opened.seconds * 1000)}, the slowest ${ms(opened.slowestMs)}` +
        `${opened.failed ? `; ${opened.failed} FAILED, first: ${opened.firstError}` : ''}`);
      points.push(await memoryPoint(setup, `+${opened.open} on :${step.port}`, open));
    }
    if (holdMs > 0) {
      await sleep(holdMs);
      points.push(await memoryPoint(setup, `all open, ${(holdMs + 2_000) / 1000} s later`, open));
    }
    statuses = await Promise.all(clients.map(idleStatus));
  } finally {
    await Promise.all(clients.map((c) => c.process.end(5_000)));
  }
  points.push(await memoryPoint(setup, 'all closed, 2 s later', 0));
  await sleep(8_000);
  points.push(await memoryPoint(setup, 'all closed, 12 s later', 0));
  return {
    planned: plan.reduce((sum, step) => sum + step.count, 0),
    asked,
    points,
    steps,
    open,
    stillOpen: statuses.reduce((sum, s) => sum + s.open, 0),
    closedLater: statuses.reduce((sum, s) => sum + s.closedLater, 0),
    seconds: steps.reduce((sum, s) => sum + s.opened.seconds, 0),
    slowestMs: Math.max(0, ...steps.map((s) => s.opened.slowestMs)),
    problems: problemsSince(setup, marks),
  };
}

interface MemoryFigures {
  /** The open-file limit and use of h2's daemon, which bound the same-host connections. */
  files: Descriptors;
  local: IdleRun;
  remote: IdleRun;
}

interface Descriptors {
  /** The soft and hard RLIMIT_NOFILE, and how many descriptors are open. */
  soft: number;
  hard: number;
  open: number;
}

async function descriptors(pid: number): Promise<Descriptors> {
  const limits = await fs.readFile(`/proc/${pid}/limits`, 'utf8');
  const [, soft, hard] = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits) ?? [];
  const value = (text: string | undefined) => (text === 'unlimited' ? Infinity : Number(text));
  return { soft: value(soft), hard: value(hard), open: (await fs.readdir(`/proc/${pid}/fd`)).length };
}

/** How many connections fit in `host`'s daemon at `socketsEach` descriptors each; said when fewer than `asked`. */
async function fitting(setup: Setup, host: string, asked: number, socketsEach: number, where: string): Promise<{ count: number; files: Descriptors }> {
  const files = await descriptors(pidOf(setup, host));
  const count = Math.min(asked, Math.floor((files.soft - files.open - FD_MARGIN) / socketsEach));
  if (count < asked) {
    console.log(`mesh: idle: ${where}: opening ${count} of the ${asked} asked for: ${host}'s daemon may have ${files.soft} open files (hard limit ${files.hard}; ${files.open} open now), ` +
      `and each connection holds ${socketsEach} there (the shipped systemd unit gives ${UNIT_NOFILE})`);
  }
  return { count, files };
}

function idleTable(title: string, points: MemoryPoint[]): void {
  const base = points[0]!;
  const rows = points.map((p) => {
    const per = (now: number, was: number) => (p.connections > 0 ? `${((now - was) / p.connections / 1024).toFixed(1)} KiB` : '-');
    return [p.label, p.connections, mebibytes(p.h2), mebibytes(p.h2Anon), per(p.h2, base.h2), mebibytes(p.h1), mebibytes(p.h1Anon), per(p.h1, base.h1)];
  });
  printTable(title, ['point', 'open', 'h2 VmRSS', 'h2 RssAnon', 'h2 per connection', 'h1 VmRSS', 'h1 RssAnon', 'h1 per connection'], rows);
}

const stillOpenText = (run: IdleRun) => `${run.stillOpen}/${run.open}${run.closedLater ? ` (${run.closedLater} closed by the other side while idle)` : ''}`;

async function idleMemory(setup: Setup): Promise<MemoryFigures> {
  const [h1, h2] = setup.hosts as [Host, Host];
  // Same host: each connection holds the client's socket and the one to the container in h2's daemon.
  const same = await fitting(setup, 'h2', IDLE, 2, 'same host');
  const local = await idleRun(setup, h2, '127.0.0.1', idlePlan(same.count, 'SWARMLET_BENCH_MESH_IDLE', false), IDLE, 0);
  idleTable(`mesh idle connections, same host: clients in h2 → h2's published ports → the task on h2 (one request each, then idle)`, local.points);

  // Across hosts: one socket each in either daemon (the client's in h1's, the container's in h2's), and a stream.
  const across = Math.min((await fitting(setup, 'h1', REMOTE_IDLE, 1, 'across hosts')).count, (await fitting(setup, 'h2', REMOTE_IDLE, 1, 'across hosts')).count);
  const plan = idlePlan(across, 'SWARMLET_BENCH_MESH_IDLE_REMOTE', true);
  const remote = await idleRun(setup, h1, '127.0.0.1', plan, REMOTE_IDLE, 8_000);
  const addresses = plan.flatMap((step) => step.sources);
  idleTable(`mesh idle connections, across hosts: clients in h1 (${addresses[0]}..${addresses.at(-1)}) → h1's published ports → streams on the h1–h2 bulk channel(s) → h2 → the task ` +
    `(one request each, then idle; ${IDLE_IN_FLIGHT} opened at a time)`, remote.points);
  console.log(`mesh: idle: still open when measured: same host ${stillOpenText(local)}; across hosts ${stillOpenText(remote)}`);
  for (const [name, run] of [['same host', local], ['across hosts', remote]] as const) {
    if (run.problems.length) console.log(`mesh: idle: ${name}: ${run.problems.length} WARN/ERROR line(s) in the daemons' logs:\n${run.problems.slice(0, 15).map((l) => `    ${l}`).join('\n')}`);
  }
  return { files: same.files, local, remote };
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Docker Swarm mode on the same hosts

interface SwarmOutcome {
  tasks: string;
  attempts: { what: string; result: string }[];
  engineLines: string[];
}

async function swarmSide(hosts: Host[]): Promise<SwarmOutcome> {
  const [h1, h2] = hosts as [Host, Host];
  const leave = await formSwarm(hosts, SWARM_SERVICE);
  try {
    const created = await h1.docker(['service', 'create', '-d', '--no-resolve-image', '--name', SWARM_SERVICE, '--constraint', 'node.hostname==h2',
      '-p', `${HTTP_PORT.published}:${HTTP_PORT.target}`, TEST_IMAGE, 'sh', '-c', HTTPD]);
    if (created.code !== 0) return { tasks: `service create failed: ${created.stderr.trim()}`, attempts: [], engineLines: [] };
    // Swarm's agent tries a registry for the image first (none is reachable) and falls back to the local copy.
    let tasks = '';
    const deadline = Date.now() + 120_000;
    for (;;) {
      tasks = (await h1.docker(['service', 'ps', '--no-trunc', '--format', '{{.Node}} {{.CurrentState}} {{.Error}}', SWARM_SERVICE])).stdout.trim();
      const lines = tasks.split('\n').filter(Boolean);
      if (lines.some((l) => / Running /.test(l)) || lines.length >= 3 || Date.now() > deadline) break;
      await sleep(500);
    }
    // Past "Running", httpd writes its big file before it listens.
    if (/ Running /.test(tasks)) await sleep(5_000);
    const attempts: SwarmOutcome['attempts'] = [];
    const attempt = async (what: string, client: Host, url: string) => {
      const result = await curl(client, url, 5);
      attempts.push({ what, result: result.ok ? `HTTP ${result.out}` : result.error });
    };
    await attempt(`h2 → h2:${HTTP_PORT.published} (task on this host)`, h2, `http://${h2.address}:${HTTP_PORT.published}/small`);
    await attempt(`h1 → h1:${HTTP_PORT.published} (task on h2)`, h1, `http://${h1.address}:${HTTP_PORT.published}/small`);
    await attempt(`h1 → h2:${HTTP_PORT.published} (across the bridge)`, h1, `http://${h2.address}:${HTTP_PORT.published}/small`);
    // The control: the task itself serves, asked on its docker_gwbridge address (Swarm's ingress overlay address
    // is not reachable from the host).
    const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${SWARM_SERVICE}`] }));
    const [container] = (await h2.engineApi<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`)).body;
    const gwbridge = await h2.engineApi<{ Containers?: Record<string, { IPv4Address: string }> }>('GET', '/networks/docker_gwbridge');
    const address = container && gwbridge.body.Containers?.[container.Id]?.IPv4Address.split('/')[0];
    if (address) await attempt(`h2 → the container on docker_gwbridge (${address}:${HTTP_PORT.target}), no mesh`, h2, `http://${address}:${HTTP_PORT.target}/small`);
    else attempts.push({ what: 'the task\'s container on docker_gwbridge', result: `not found (container ${container?.Id ?? 'none'}; gwbridge: ${JSON.stringify(gwbridge.body.Containers ?? {})})` });
    const engineLines = [h1, h2].flatMap((h) => (h.dockerd?.logs() ?? '').split('\n')
      .filter((l) => /ipvs|ingress|load ?balanc|lb-|sandbox/i.test(l) && /level=(error|warning)/.test(l)).slice(-4).map((l) => `${h.name}| ${l.slice(0, 300)}`));
    return { tasks, attempts, engineLines };
  } finally {
    await leave();
  }
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * The across-hosts idle figures in one line, which says first whether IDLE_GOAL connections were reached: opened
 * (one request answered each) and still open when the clients were asked, just before they closed. A daemon that
 * still holds the heap the same-host step grew (V8 gives it back on its own schedule) lets the streams reuse that
 * room: its figure is then a floor, and the line says so.
 */
function remoteIdleSummary(run: IdleRun, sameHost: IdleRun): string {
  const [base, ...rest] = run.points;
  const full = rest[run.steps.length - 1];
  const held = rest[run.steps.length];
  const closed = run.points.at(-1)!;
  const reached = run.open >= IDLE_GOAL && run.stillOpen >= IDLE_GOAL;
  const headline = run.asked < IDLE_GOAL
    ? `${IDLE_GOAL.toLocaleString('en')} not tried (SWARMLET_BENCH_MESH_IDLE_REMOTE=${run.asked})`
    : `${IDLE_GOAL.toLocaleString('en')} reached across hosts: ${reached ? 'yes' : `NO (${Math.min(run.open, run.stillOpen)} open)`}`;
  if (!base || !full || full.connections === 0) return `mesh idle connections across hosts: ${headline}; none opened (${run.steps[0]?.opened.firstError ?? 'no client ran'})`;
  const addresses = run.steps.reduce((sum, s) => sum + s.step.sources.length, 0);
  const failed = run.steps.reduce((sum, s) => sum + s.opened.failed, 0);
  const firstError = run.steps.find((s) => s.opened.firstError)?.opened.firstError;
  const start = sameHost.points[0]!;
  const daemon = (host: 'h1' | 'h2') => {
    const per = (p: MemoryPoint) => (p[host] - base[host]) / p.connections;
    const warmed = base[host] - start[host] > WARMED_BYTES
      ? ` (a floor: it still held the heap the same-host step grew from ${mebibytes(start[host])}, which the streams reused)` : '';
    return `${host}'s daemon ${mebibytes(base[host])} → ${mebibytes(full[host])} VmRSS${warmed}, ${(per(full) / 1024).toFixed(1)} KiB per connection, ${mebibytes(per(full) * 1000)} per 1,000` +
      `${held ? ` (${(per(held) / 1024).toFixed(1)} KiB, ${mebibytes(held[host])} ${held.label.replace('all open, ', '')})` : ''}, ${mebibytes(closed[host])} 12 s after they closed`;
  };
  return `mesh idle connections across hosts (clients in h1 → h1's published ports → streams on the bulk channel → h2 → the task): ${headline} — ` +
    `${run.open} of ${run.planned} opened${run.planned < run.asked ? ` (${run.asked} asked for; the daemons' open-file limit bounded it)` : ''}, ${run.stillOpen} still open when measured, ` +
    `${failed ? `${failed} FAILED (first: ${firstError}), ` : ''}over ${run.steps.length} port(s) from ${addresses} client addresses, ` +
    `opened in ${seconds(run.seconds * 1000)} (${(run.open / run.seconds).toFixed(0)}/s, ${IDLE_IN_FLIGHT} at a time, the slowest ${ms(run.slowestMs)}); ` +
    `${daemon('h1')}; ${daemon('h2')}; ${run.problems.length} WARN/ERROR log lines meanwhile`;
}

async function main(): Promise<void> {
  if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`SWARMLET_BENCH_MESH_RUNS must be a positive integer, not ${process.env.SWARMLET_BENCH_MESH_RUNS}`);
  if (!Number.isInteger(IDLE) || IDLE < 1) throw new Error(`SWARMLET_BENCH_MESH_IDLE must be a positive integer, not ${process.env.SWARMLET_BENCH_MESH_IDLE}`);
  if (!Number.isInteger(REMOTE_IDLE) || REMOTE_IDLE < 1) throw new Error(`SWARMLET_BENCH_MESH_IDLE_REMOTE must be a positive integer, not ${process.env.SWARMLET_BENCH_MESH_IDLE_REMOTE}`);
  const started = Date.now();
  const harness = await Harness.start({ hosts: 3, log: (line) => console.log(line), lockTimeoutMs: LOCK_TIMEOUT_MS });
  const stopHarness = defer('the harness', () => harness.stop());
  const hosts = harness.hosts;
  console.log(`mesh: 3 hosts; ${os.cpus().length} CPU(s), load average ${loadAverage()}; logs in ${harness.dir}/logs`);

  const daemons = await formCluster(hosts);
  const stopSwarmlet = defer('the swarmlet daemons', async () => {
    await Promise.all([...daemons.values()].map((d) => d.stop()));
    await Promise.all(hosts.map((h) => h.clearEngine()));
  });
  const setup = await createService(hosts, daemons);
  const backend = await startBackend(setup);
  const mark = logMarks(setup);

  // Memory first, while the daemons' heaps hold little garbage from the load below.
  const memory = await idleMemory(setup);
  const transfers = await throughput(setup);
  const latencies = await latency(setup);
  const control = await controlUnderLoad(setup);
  const problems = problemsSince(setup, mark);

  await backend.end(5_000);
  await cli(daemonOf(setup, 'h1'), ['service', 'rm', SERVICE]);
  await stopSwarmlet();
  const swarm = await swarmSide(hosts);
  console.log(`\nmesh: Docker Swarm mode, the same httpd service published on ${HTTP_PORT.published} and held to h2:\n  tasks (node, state, error):\n` +
    `${swarm.tasks.split('\n').map((l) => `    ${l}`).join('\n')}\n  requests:\n${swarm.attempts.map((a) => `    ${a.what}: ${a.result}`).join('\n')}` +
    `${swarm.engineLines.length ? `\n  engine log lines:\n${swarm.engineLines.map((l) => `    ${l}`).join('\n')}` : ''}`);
  await stopHarness();

  // -------------------------------------------------------------------------------------------------------------
  // Summaries

  summary(throughputSummary(`as the hosts are (sharing ${os.cpus().length} CPUs)`, transfers.shared));
  if (transfers.perHost) summary(throughputSummary('one core per host', transfers.perHost));
  for (const scenario of SCENARIOS) {
    const byPath = latencies.get(scenario.name)!;
    const d = byPath.get('direct')!;
    const text = (via: PathName) => {
      const l = byPath.get(via)!;
      return `p50 ${ms(l.p50)} (${signedMs(l.p50 - d.p50)}), p99 ${ms(l.p99)} (${signedMs(l.p99 - d.p99)}), ${l.perSecond.toFixed(0)}/s${l.errors ? `, ${l.errors} errors` : ''}`;
    };
    summary(`mesh latency, ${scenario.name}: direct p50 ${ms(d.p50)} p99 ${ms(d.p99)} ${d.perSecond.toFixed(0)}/s; same host ${text('local')}; across hosts ${text('remote')}`);
  }
  const elected = elections(control);
  const downs = control.loaded.notReady.length;
  const leaders = new Set([...control.loaded.leaders].map((l) => l.split('→')[1]));
  const readText = (w: Watch) => [...w.reads].map(([host, list]) => `${host} ${ms(percentileOf(list, 50))}/${ms(percentileOf(list, 99))}`).join(', ');
  summary(
    `mesh control under bulk load (${(control.load.bytes / 1e6 / control.loopSeconds).toFixed(0)} MB/s across hosts for ${control.loopSeconds.toFixed(0)} s` +
      `${control.load.failures.length ? `, ${control.load.failures.length} downloads FAILED` : ''}): ` +
      `Raft elections ${elected}, nodes seen not ready ${downs}, leaders named ${[...leaders].join('/')} ` +
      `(goal 0 and 0: ${verdict(elected === 0 && downs === 0 && leaders.size === 1)}); GET /nodes p50/p99 idle ${readText(control.idle)}; loaded ${readText(control.loaded)}; ` +
      `${control.problems.length} WARN/ERROR log lines`,
  );
  const steps = memory.local.points.filter((p) => p.connections > 0);
  const full = steps.at(-1)!;
  const base = memory.local.points[0]!;
  const perLocal = (full.h2 - base.h2) / full.connections;
  // Between the first and the last step: less of the first connections' start-up (pools, code warming) in it.
  const marginal = steps.length > 1 ? (full.h2 - steps[0]!.h2) / (full.connections - steps[0]!.connections) : NaN;
  const at10k = base.h2 + perLocal * 10_000;
  const measuredAll = full.connections >= memory.local.asked;
  summary(
    `mesh idle connections: h2's daemon ${mebibytes(base.h2)} → ${mebibytes(full.h2)} VmRSS with ${full.connections} idle connections through its published ports ` +
      `(${(perLocal / 1024).toFixed(1)} KiB per connection, ${mebibytes(perLocal * 1000)} per 1,000, ${(marginal / 1024).toFixed(1)} KiB between the first and last step` +
      `${measuredAll ? '' : `; 10,000 would be about ${mebibytes(at10k)}`}; ` +
      `${mebibytes(memory.local.points.at(-1)!.h2)} 12 s after they closed). 10,000 need ≥ 3 published ports (${MAX_PER_PORT} per port) or maxConnections raised, ` +
      `${Math.ceil(10_000 / MAX_PER_CLIENT)}+ client addresses (${MAX_PER_CLIENT} each) or maxConnectionsPerClient raised, and > 20,000 open files for the daemon ` +
      `(2 sockets each; limit here ${memory.files.soft}, the systemd unit's ${UNIT_NOFILE})`,
  );
  summary(remoteIdleSummary(memory.remote, memory.local));
  const swarmText = swarm.attempts.map((a) => `${a.what}: ${a.result}`).join('; ');
  summary(`mesh Docker Swarm mode on the same hosts: tasks "${swarm.tasks.split('\n').join(' | ')}"; ${swarmText || 'no request made'}`);
  if (problems.length) console.log(`mesh: ${problems.length} WARN/ERROR line(s) in the daemons' logs over the whole run; the first:\n${problems.slice(0, 15).map((l) => `    ${l}`).join('\n')}`);
  console.log(`mesh: done in ${seconds(Date.now() - started - harness.timings.lockWaitMs)} (not counting ${seconds(harness.timings.lockWaitMs)} waiting for the harness lock); ` +
    `load average ${loadAverage()}`);
}

runBench('mesh', main);
