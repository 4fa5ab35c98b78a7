/**
 * Benchmark: a rolling update on real hosts (test/cluster/harness.ts; issue 7), swarmlet and Docker Swarm mode side
 * by side on the same three network namespaces, each with its own dockerd: swarmlet first, then Swarm on the same
 * engines once swarmlet's daemons are stopped and the engines emptied. On both sides h1 manages and h2, h3 join as
 * workers, and one service of 15 replicas answers its version (`$V`) on port 80, published on 8080, from a small Node
 * server run from the host's file system (`busybox chroot /host` and this runner's node, as test/cluster/update.test.ts
 * does: the test image has no HTTP server with keep-alive). Both sides get the same image, command line, bind mount
 * and update policy, all given explicitly: --update-parallelism 2 --update-delay 1s --update-monitor 5s (5 s is
 * Swarm's default; passed on both), stop-first and failure action pause (both sides' defaults).
 *
 * For each side:
 * 1. create: `service create --detach` (Swarm: `docker service create --detach --no-resolve-image`: no registry is
 *    reachable), until 15 tasks are running and meant to run (GET /tasks on h1, every 200 ms). Then the published port
 *    is probed from this process on every host (30 requests/s for 1 s, again until every request answers v1 or 30 s
 *    pass); what it did is recorded either way;
 * 2. update: the load generator (test/helpers/load-generator.ts: open loop, 80 requests/s in turn over h1..h3:8080,
 *    half on fresh connections and half on keep-alive ones, never retried, 3 s timeout) starts; 2 s later V=v2 is set
 *    through the API — GET /services/NAME, then POST /services/ID/update?version=N with the changed spec, what
 *    `docker service update --env-add` sends. The figure, the same on both sides: from that POST to the first
 *    GET /services/NAME on h1 (swarmlet's socket, or h1's engine for Swarm; every 100 ms) whose UpdateStatus is no
 *    longer `updating` — completed, or paused. The manager's own CompletedAt − StartedAt is shown beside it.
 *    Meanwhile the serving tasks (meant to run and running) are counted every 200 ms on h1; the load runs on for 3 s
 *    past the end.
 *
 * Reported per side: the update's time (or its timeout, or where it paused), the load's summary (requests, failures
 * by kind, p50/p99), the fewest serving tasks seen, the share of v1 answers per second, and how long the new tasks
 * took from created to running. Swarm's routing mesh needs IPVS, which this kernel lacks: the probe and the load say
 * what its published port did, and Swarm's failed requests count as a figure of the update only when the probe was
 * answered; otherwise a task's own address on docker_gwbridge is asked from its host as the control (the task serves,
 * the mesh does not). Swarm's agents try a registry for the image before each new task starts, and none is reachable
 * from the hosts, so each try waits for its timeout: that is where much of Swarm's time goes here (as on a field box
 * with no internet), and the created → running figure shows it. Each phase has a limit (Swarm's update:
 * SWARMLET_BENCH_UPDATE_SWARM_LIMIT seconds, default 900); a side past one is reported as a timeout with how far it
 * got, and the bench goes on.
 *
 * The swarm is left on every engine and the daemons are stopped when the run ends, on an error or a signal too; if
 * the runner itself dies, the next harness removes the engines with their data roots. Expected to take about 6
 * minutes once the machine's harness lock is free (swarmlet's side about 1.5, Swarm's the rest; estimated from the
 * orchestration benchmark's Swarm figures, not yet measured), about 35 at most with every limit reached;
 * SWARMLET_LOG_LEVEL reaches the daemons, SWARMLET_HARNESS_KEEP=1 keeps the daemons' and engines' logs.
 */

import os from 'node:os';
import type { Node } from '../../src/api/types.ts';
import { type Daemon, Harness, type Host } from '../cluster/harness.ts';
import { versionServerArgs } from '../helpers/version-server.ts';
import { LoadGenerator, type LoadReport } from '../helpers/load-generator.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { formSwarm } from './lib/host-swarm.ts';
import { median, printTable, seconds, summary, verdict } from './lib/report.ts';
import {
  createdToRunning, type EngineApi, hasEnv, serving, type Serving, setEnv, tasksOf, type UpdateEnd, waitForServing, waitForUpdateEnd, watchServing,
} from './lib/update-watch.ts';

const HOSTS = 3;
const SERVICE = 'update-bench';
const REPLICAS = 15;
const PARALLELISM = 2;
const DELAY = '1s';
const MONITOR = '5s';
const PORT = 8080;
/** The load during the update, and the probe before it, in requests per second over all hosts. */
const RATE = 80;
const PROBE_RATE = 30;
/** The load runs this long before the update request, and this long after its end. */
const LEAD_MS = 2_000;
const TAIL_MS = 3_000;
/** The failed-request and serving-task goals, as test/cluster/update.test.ts asserts them. */
const FAILED_GOAL = 0;
const FEWEST_GOAL = REPLICAS - PARALLELISM;

/** Limits: several times what each phase should take (swarmlet's update ~30 s; Swarm's starts wait on a registry). */
const PROBE_LIMIT_MS = 30_000;
const SWARMLET_CONVERGE_LIMIT_MS = 3 * 60_000;
const SWARMLET_UPDATE_LIMIT_MS = 3 * 60_000;
const SWARM_CONVERGE_LIMIT_MS = 10 * 60_000;
const SWARM_UPDATE_LIMIT_MS = Number(process.env.SWARMLET_BENCH_UPDATE_SWARM_LIMIT ?? 900) * 1000;
/** Another harness (the cluster tests, another benchmark) may hold the machine's lock for a while. */
const LOCK_TIMEOUT_MS = 60 * 60_000;

/** What follows `service create --detach` on both sides: the service, its policy and its command line. */
const CREATE_ARGS = [
  '--name', SERVICE, '--replicas', String(REPLICAS), '-p', `${PORT}:80`, '--env', 'V=v1',
  '--update-parallelism', String(PARALLELISM), '--update-delay', DELAY, '--update-monitor', MONITOR,
  ...versionServerArgs(),
];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
const time = (ms: number | undefined) => (ms === undefined ? 'n/a' : seconds(ms));
const targets = (hosts: Host[]) => hosts.map((h) => ({ host: h.address, port: PORT }));

/** The published port before the update: answered v1 on every request, or what it did instead. */
interface Probe {
  answered: boolean;
  tries: number;
  /** From the first try to the answer (or to giving up). */
  ms: number;
  /** The last try's requests. */
  report: LoadReport;
}

/** One side's update under load. */
interface Rollout {
  end: UpdateEnd;
  /** Milliseconds from the load's start to the update request. */
  requestedAt: number;
  report: LoadReport;
  fewest: number;
  /** Polls of the serving tasks that saw any (the fewest is over these). */
  samples: number;
  /** Serving tasks after the load stopped, and how many of them run v2. */
  servingAfter: number;
  v2After: number;
  /** The new tasks' created → running, ascending. */
  starts: number[];
}

interface SideResult {
  name: string;
  /**
   * Whether the side's published port is expected to answer, so that its failed requests are judged against the goal
   * even when the probe found the port silent: swarmlet's mesh (user space) must; Swarm's needs IPVS.
   */
  meshExpected: boolean;
  converge: Serving;
  convergeLimitMs: number;
  updateLimitMs: number;
  probe?: Probe;
  rollout?: Rollout;
  /** Why the update was not measured, when a step failed outright. */
  error?: string;
  /** Swarm only, when its port did not answer: a task asked on its own address, and what the engines logged. */
  control?: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Both sides

/** Asks the published port on every host until each request answers v1, or the limit passes. */
async function probePort(hosts: Host[]): Promise<Probe> {
  const started = Date.now();
  for (let tries = 1; ; tries++) {
    const generator = new LoadGenerator({ targets: targets(hosts), rate: PROBE_RATE });
    generator.start();
    await sleep(1_000);
    const report = await generator.stop();
    const answered = report.results.length > 0 && report.results.every((r) => r.ok && r.body === 'v1');
    if (answered || Date.now() - started > PROBE_LIMIT_MS) return { answered, tries, ms: Date.now() - started, report };
    await sleep(500);
  }
}

function failureText(report: LoadReport, kinds = 3): string {
  const list = report.failureKinds();
  if (list.length === 0) return 'none';
  return `${list.slice(0, kinds).map((k) => `${k.kind} ×${k.count}`).join(', ')}${list.length > kinds ? `, and ${list.length - kinds} more kinds` : ''}`;
}

function probeText(probe: Probe | undefined): string {
  if (!probe) return 'not probed';
  const { report } = probe;
  if (probe.answered) return `answered v1 on every host (try ${probe.tries}, ${report.results.length} requests, ${seconds(probe.ms)} after the tasks ran)`;
  const others = report.results.filter((r) => r.ok && r.body !== 'v1').length;
  return `NOT answered after ${probe.tries} tries over ${seconds(probe.ms)}: last try ${report.failures().length} of ${report.results.length} failed ` +
    `(${failureText(report)})${others ? `, ${others} answered something other than v1` : ''}`;
}

/** The load, the serving count and the update itself, for one side whose tasks all run. */
async function rollOut(api: EngineApi, hosts: Host[], limitMs: number): Promise<Rollout> {
  const load = new LoadGenerator({ targets: targets(hosts), rate: RATE });
  const loadStart = Date.now();
  load.start();
  const watch = watchServing(api, SERVICE, REPLICAS);
  const stopWatching = async () => ({ report: await load.stop(), seen: await watch.stop() });
  let end: UpdateEnd;
  let requestedAt: number;
  try {
    await sleep(LEAD_MS);
    const posted = await setEnv(api, SERVICE, 'V', 'v2');
    requestedAt = posted - loadStart;
    end = await waitForUpdateEnd(api, SERVICE, posted, limitMs);
    await sleep(TAIL_MS);
  } catch (err) {
    await stopWatching();
    throw err;
  }
  const { report, seen } = await stopWatching();
  const tasks = serving(await tasksOf(api, SERVICE));
  return {
    end, requestedAt, report, fewest: seen.fewest, samples: seen.samples,
    servingAfter: tasks.length, v2After: tasks.filter((t) => hasEnv(t, 'V=v2')).length, starts: createdToRunning(tasks, 'V=v2'),
  };
}

/** The v1 share of each second's answers, from the load's start, with the seconds of the request and the end marked. */
function sharesText(rollout: Rollout): string {
  const requested = Math.floor(rollout.requestedAt / 1000);
  const ended = rollout.end.ms === undefined ? -1 : Math.floor((rollout.requestedAt + rollout.end.ms) / 1000);
  const shares = rollout.report.share('v1');
  if (shares.every((s) => s === null)) return 'no answer at all';
  return shares.map((s, second) => `${second === requested ? '[request] ' : ''}${s === null ? '-' : s.toFixed(2)}${second === ended ? ' [ended]' : ''}`).join(' ');
}

/** From the update request to the last request that was answered v1 (by when it was sent). */
function lastV1(rollout: Rollout): number | undefined {
  // A reduce, not Math.max(...): a long Swarm update holds tens of thousands of results.
  const last = rollout.report.results.reduce((latest, r) => (r.ok && r.body === 'v1' ? Math.max(latest, r.sentAt) : latest), -Infinity);
  return Number.isFinite(last) ? last - rollout.requestedAt : undefined;
}

function endText(rollout: Rollout, limitMs: number): string {
  const { end } = rollout;
  if (end.ms === undefined) return `TIMEOUT after ${seconds(limitMs)} (still ${end.state ?? 'not started'}; ${rollout.v2After} of ${REPLICAS} serving v2)`;
  return `${seconds(end.ms)} (${end.state}${end.state === 'completed' ? '' : `: ${end.message ?? 'no message'}`})`;
}

const startsText = (starts: number[]) => (starts.length ? `${seconds(median(starts))} / ${seconds(starts.at(-1)!)} (${starts.length} tasks)` : 'n/a');

/** Creates the service, waits for its tasks and its port, and times the update under load; a timeout is a result. */
async function measureSide(
  name: string,
  hosts: Host[],
  api: EngineApi,
  create: () => Promise<void>,
  limits: { convergeMs: number; updateMs: number; meshExpected: boolean },
): Promise<SideResult> {
  const start = Date.now();
  await create();
  const converge = await waitForServing(api, SERVICE, REPLICAS, start, limits.convergeMs);
  const result: SideResult = { name, meshExpected: limits.meshExpected, converge, convergeLimitMs: limits.convergeMs, updateLimitMs: limits.updateMs };
  if (converge.ms === undefined) {
    // What the tasks that do not run say, once each: a registry still being tried, or a task that cannot start.
    const stuck = (await tasksOf(api, SERVICE).catch(() => [])).filter((t) => t.DesiredState === 'running' && t.Status.State !== 'running');
    const why = [...new Set(stuck.map((t) => `${t.Status.State}: ${t.Status.Err ?? t.Status.Message}`))].slice(0, 3).join('; ');
    console.log(`update: ${name}: TIMEOUT: ${converge.last} of ${REPLICAS} tasks running ${seconds(limits.convergeMs)} after the create command` +
      `${why ? ` (the others: ${why})` : ''}; no update measured`);
    return result;
  }
  console.log(`update: ${name}: ${REPLICAS} tasks running ${seconds(converge.ms)} after the create command`);
  result.probe = await probePort(hosts);
  console.log(`update: ${name}: port ${PORT} before the update: ${probeText(result.probe)}`);
  try {
    const rollout = await rollOut(api, hosts, limits.updateMs);
    result.rollout = rollout;
    console.log(`update: ${name}: v1 → v2: ${endText(rollout, limits.updateMs)}; by the manager's clock ${time(rollout.end.managerMs)}; ` +
      `fewest serving ${rollout.fewest} of ${REPLICAS} (${rollout.samples} samples); after: ${rollout.servingAfter} serving, ${rollout.v2After} on v2; ` +
      `new task created → running median / max ${startsText(rollout.starts)}`);
    console.log(`update: ${name}: ${rollout.report.summary()}`);
    console.log(`update: ${name}: v1 share per second of the load: ${sharesText(rollout)}`);
  } catch (err) {
    result.error = err instanceof Error ? err.message : String(err);
    console.log(`update: ${name}: FAILED: ${result.error}`);
  }
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// swarmlet

async function cli(daemon: Daemon, args: string[]): Promise<string> {
  const result = await daemon.cli(args);
  if (result.code !== 0) {
    throw new Error(`swarmlet ${args.join(' ')} on ${daemon.host.name} failed: ${result.stderr.trim()}\n--- its log ---\n${daemon.logs().slice(-3000)}`);
  }
  return result.stdout.trim();
}

async function untilReady(daemon: Daemon, count: number, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const nodes = await daemon.api<Node[]>('GET', '/nodes').catch(() => undefined);
    if (nodes?.status === 200 && nodes.body.length === count && nodes.body.every((n) => n.Status.State === 'ready')) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${count} ready swarmlet nodes: ${JSON.stringify(nodes?.body)}`);
    await sleep(100);
  }
}

async function swarmletSide(hosts: Host[]): Promise<SideResult> {
  const daemons: Daemon[] = [];
  const stop = defer('the swarmlet daemons', async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await Promise.all(hosts.map((host) => host.clearEngine()));
  });
  const env: Record<string, string> = process.env.SWARMLET_LOG_LEVEL ? { SWARMLET_LOG_LEVEL: process.env.SWARMLET_LOG_LEVEL } : {};
  daemons.push(...(await Promise.all(hosts.map((host) => host.startDaemon([], { env })))));
  const [d1, ...workers] = daemons as [Daemon, ...Daemon[]];
  await cli(d1, ['init']);
  const token = await cli(d1, ['join-token', '-q', 'worker']);
  for (const worker of workers) await cli(worker, ['join', '--token', token, hosts[0]!.address]);
  await untilReady(d1, HOSTS);

  const result = await measureSide('swarmlet', hosts, d1.api.bind(d1), async () => void (await cli(d1, ['service', 'create', '--detach', ...CREATE_ARGS])), {
    convergeMs: SWARMLET_CONVERGE_LIMIT_MS,
    updateMs: SWARMLET_UPDATE_LIMIT_MS,
    meshExpected: true,
  });
  // Neither checked nor timed: the daemons are stopped and the engines emptied right after.
  await d1.cli(['service', 'rm', SERVICE]);
  await stop();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Docker Swarm mode

async function dockerMust(host: Host, args: string[]): Promise<void> {
  const result = await host.docker(args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} on ${host.name}: ${result.stderr.trim()}`);
}

/**
 * The control for a published port that did not answer: one of the service's containers asked on its own address on
 * docker_gwbridge, from its host (no mesh on the way); and what the engines logged about their load balancing.
 */
async function control(hosts: Host[]): Promise<string[]> {
  const lines: string[] = [];
  const filters = encodeURIComponent(JSON.stringify({ label: [`com.docker.swarm.service.name=${SERVICE}`], status: ['running'] }));
  for (const host of hosts) {
    const listed = await host.engineApi<{ Id: string }[]>('GET', `/containers/json?filters=${filters}`);
    const container = listed.status === 200 ? listed.body[0] : undefined;
    if (!container) continue;
    const gwbridge = await host.engineApi<{ Containers?: Record<string, { IPv4Address: string }> }>('GET', '/networks/docker_gwbridge');
    const address = gwbridge.body.Containers?.[container.Id]?.IPv4Address.split('/')[0];
    if (!address) {
      lines.push(`${host.name}: container ${container.Id.slice(0, 12)} has no address on docker_gwbridge (${JSON.stringify(gwbridge.body.Containers ?? {})})`);
      break;
    }
    const asked = await host.exec(['curl', '-sS', '--max-time', '5', `http://${address}:80/`], { timeoutMs: 15_000 });
    lines.push(`${host.name} → a task's container on docker_gwbridge (${address}:80), no mesh: ` +
      `${asked.code === 0 ? `answered "${asked.stdout.trim()}"` : `curl exit ${asked.code}: ${asked.stderr.trim()}`}`);
    break;
  }
  if (lines.length === 0) lines.push('no running container of the service on any engine to ask');
  for (const host of hosts) {
    const said = (host.dockerd?.logs() ?? '').split('\n').filter((l) => /ipvs|ingress|load ?balanc/i.test(l) && /level=(error|warning)/.test(l));
    // Without their timestamps, the same complaint repeated is one line.
    for (const line of [...new Set(said.map((l) => l.replace(/^time="[^"]*" /, '')))].slice(0, 2)) lines.push(`${host.name}'s engine: ${line.slice(0, 300)}`);
  }
  return lines;
}

async function swarmSide(hosts: Host[]): Promise<SideResult> {
  const h1 = hosts[0]!;
  const leave = await formSwarm(hosts, SERVICE);
  const create = () => dockerMust(h1, ['service', 'create', '--detach', '--no-resolve-image', ...CREATE_ARGS]);
  const result = await measureSide('Swarm mode', hosts, h1.engineApi.bind(h1), create, {
    convergeMs: SWARM_CONVERGE_LIMIT_MS,
    updateMs: SWARM_UPDATE_LIMIT_MS,
    meshExpected: false,
  });
  if (result.probe && !result.probe.answered) {
    result.control = await control(hosts);
    console.log(`update: Swarm mode: control:\n${result.control.map((l) => `    ${l}`).join('\n')}`);
  }
  await leave();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------

/** What a side's update came to, for the table and the summary. */
function updateText(side: SideResult): string {
  if (side.converge.ms === undefined) return `not measured (${side.converge.last}/${REPLICAS} tasks running after ${seconds(side.convergeLimitMs)})`;
  if (!side.rollout) return `FAILED: ${side.error ?? 'unknown'}`;
  return endText(side.rollout, side.updateLimitMs);
}

/** The update's time when it completed; undefined when it timed out, paused or was not measured. */
const completedIn = (side: SideResult) => (side.rollout?.end.state === 'completed' ? side.rollout.end.ms : undefined);

/**
 * Whether a side's failed requests are a figure of its update, judged against the goal: its mesh is expected to
 * work, or its port answered every request before the update began.
 */
const judged = (side: SideResult) => side.meshExpected || side.probe?.answered === true;

const ms = (value: number) => (Number.isFinite(value) ? `${value.toFixed(1)} ms` : 'n/a');

function sideRow(side: SideResult): (string | number)[] {
  const r = side.rollout;
  return [
    side.name, side.converge.ms === undefined ? `> ${seconds(side.convergeLimitMs)} (${side.converge.last}/${REPLICAS})` : seconds(side.converge.ms),
    updateText(side), time(r?.end.managerMs), r ? startsText(r.starts) : 'n/a', r ? `${r.fewest} (goal ≥ ${FEWEST_GOAL}: ${verdict(r.fewest >= FEWEST_GOAL)})` : 'n/a',
    side.probe === undefined ? 'n/a' : side.probe.answered ? 'answered v1' : 'NOT answered',
  ];
}

function loadRow(side: SideResult): (string | number)[] {
  const r = side.rollout;
  if (!r) return [side.name, 'not measured', '', '', '', '', '', ''];
  const { p50, p99, max } = r.report.latency();
  const failed = r.report.failures().length;
  return [
    side.name, r.report.results.length, judged(side) ? `${failed} (goal ${FAILED_GOAL}: ${verdict(failed === FAILED_GOAL)})` : `${failed} (port silent before)`,
    ms(p50), ms(p99), ms(max), time(lastV1(r)), failureText(r.report),
  ];
}

/** The load part of a side's summary: its figures where its port served before the update, what the port did otherwise. */
function loadSummary(side: SideResult): string {
  const r = side.rollout;
  if (!r) return `${side.name}: not measured (${side.error ?? `${side.converge.last}/${REPLICAS} tasks running at the limit`})`;
  const { p50, p99 } = r.report.latency();
  const failed = r.report.failures().length;
  const fewest = `fewest serving ${r.fewest} of ${REPLICAS} (goal ≥ ${FEWEST_GOAL}: ${verdict(r.fewest >= FEWEST_GOAL)})`;
  if (!judged(side)) {
    return `${side.name}: the published port did not answer every request before the update (${failureText(side.probe!.report, 2)}); during it ` +
      `${failed} of ${r.report.results.length} requests failed (${failureText(r.report, 2)}), which says nothing of the update itself; ${fewest}` +
      `${side.control ? `; control: ${side.control[0]}` : ''}`;
  }
  return `${side.name}: ${r.report.results.length} requests, ${failed} failed (goal ${FAILED_GOAL}: ${verdict(failed === FAILED_GOAL)}` +
    `${failed ? `; ${failureText(r.report, 2)}` : ''}), p50 ${ms(p50)}, p99 ${ms(p99)}; ${fewest}; last v1 answer ${time(lastV1(r))} after the request; ` +
    `v1 share per second ${sharesText(r)}${side.probe?.answered === false ? `; its port did not answer every request before the update either (${failureText(side.probe.report, 2)})` : ''}`;
}

async function main(): Promise<void> {
  if (!(SWARM_UPDATE_LIMIT_MS > 0)) {
    throw new Error(`SWARMLET_BENCH_UPDATE_SWARM_LIMIT must be a positive number of seconds, not ${process.env.SWARMLET_BENCH_UPDATE_SWARM_LIMIT}`);
  }
  const started = Date.now();
  const loadBefore = loadAverage();
  const harness = await Harness.start({ hosts: HOSTS, log: (line) => console.log(line), lockTimeoutMs: LOCK_TIMEOUT_MS });
  const stopHarness = defer('the harness', () => harness.stop());
  const hosts = harness.hosts;
  console.log(`update: ${REPLICAS} replicas v1 → v2 over ${HOSTS} hosts, --update-parallelism ${PARALLELISM} --update-delay ${DELAY} --update-monitor ${MONITOR}, ` +
    `${RATE} requests/s through h1..h${HOSTS}:${PORT}; ${os.cpus().length} CPU(s), load average ${loadAverage()} (${loadBefore} before the harness lock, ` +
    `waited ${seconds(harness.timings.lockWaitMs)}); logs in ${harness.dir}/logs`);

  const ours = await swarmletSide(hosts);
  const swarm = await swarmSide(hosts);
  await stopHarness();
  const took = Date.now() - started - harness.timings.lockWaitMs;

  printTable(
    `update: ${REPLICAS} replicas v1 → v2 (env V), parallelism ${PARALLELISM}, delay ${DELAY}, monitor ${MONITOR}, stop-first; the update from ` +
      `POST /services/ID/update to the first GET /services/NAME on h1 whose UpdateStatus is no longer updating (polled every 100 ms)`,
    ['side', 'create → all running', 'update: request → ended', 'manager: StartedAt → CompletedAt', 'new task created → running (median / max)', 'fewest serving', `port ${PORT} before`],
    [sideRow(ours), sideRow(swarm)],
  );
  printTable(
    `update: the load (${RATE} requests/s in turn over h1..h${HOSTS}:${PORT}, half on fresh connections, never retried, 3 s timeout), ` +
      `from ${seconds(LEAD_MS)} before the update request to ${seconds(TAIL_MS)} after its end`,
    ['side', 'requests', 'failed', 'p50', 'p99', 'max', 'last v1 answer after the request', 'failures by kind'],
    [loadRow(ours), loadRow(swarm)],
  );
  console.log(`update: done in ${seconds(took)} (not counting ${seconds(harness.timings.lockWaitMs)} waiting for the harness lock); load average ${loadAverage()}`);

  const oursMs = completedIn(ours);
  const swarmMs = completedIn(swarm);
  const starts = (side: SideResult) => (side.rollout?.starts.length ? seconds(median(side.rollout.starts)) : 'n/a');
  summary(
    `update ${REPLICAS} replicas (parallelism ${PARALLELISM}, delay ${DELAY}, monitor ${MONITOR}; POST update → UpdateStatus no longer updating, polled on h1): ` +
      `swarmlet ${updateText(ours)}, Swarm mode --no-resolve-image ${updateText(swarm)}; swarmlet/Swarm ` +
      `${oursMs !== undefined && swarmMs !== undefined ? (oursMs / swarmMs).toFixed(2) : 'n/a'}; new task created → running, median: swarmlet ${starts(ours)}, Swarm ${starts(swarm)}`,
  );
  summary(`update under load (${RATE} req/s through the published port on every host, never retried), ${loadSummary(ours)}`);
  summary(`update under load, ${loadSummary(swarm)}`);
}

runBench('update', main);
