/**
 * Benchmark: orchestration on real hosts (test/cluster/harness.ts), three network namespaces on one bridge, each
 * with its own dockerd. Two figures, each taken for three sides on the same three engines, one after the other,
 * the engines emptied between sides:
 *
 * - converge: N replicas (SWARMLET_BENCH_ORCH_REPLICAS, default 60) of `sleep 100000` over the three hosts, from the
 *   command to N running — the manager's GET /tasks counting N running tasks *and* the engines running N containers
 *   of the service (both are timed; the figure is when both hold);
 * - recover: SIGKILL of the engine of the worker holding the most tasks (and kill -9 of its swarmlet daemon), to N
 *   running on the two other hosts, counted the same way. When the manager marks the node down is shown too.
 *
 * The sides:
 * 1. floor: N `docker run -d` at once, a third per engine; then the recovery floor, the dead host's share started
 *    with `docker run -d` on the two others beside what runs there. It has no failure to detect, so it bounds only
 *    the restart part of a recovery. Shown beside it, not as the goal's floor: the same N created and started through
 *    the engines' API at once, with no CLI process per container (swarmlet's agents use the API).
 * 2. swarmlet (the built x64 executable): h1 inits, h2 and h3 join as workers with the token and h1's address;
 *    `service create -d`. After the death the host is restored, the service removed, the daemons stopped and the
 *    engines emptied, so the Swarm side shares no engine with a swarmlet that manages containers.
 * 3. Docker Swarm mode: h1's engine inits on its bridge address, h2 and h3 join as workers;
 *    `docker service create -d --no-resolve-image`. Swarm's agent still tries to pull the image from a registry
 *    before it falls back to the local one; no registry is reachable from the hosts, so each try waits for a
 *    timeout, which is where most of Swarm's time goes here (as for a field box with no internet). A side that does
 *    not converge, or recover, within its limit is reported as a timeout with what ran by then; the bench goes on.
 *    SWARMLET_BENCH_ORCH_RESOLVE=1 also times a convergence without --no-resolve-image on a fresh swarm, its create
 *    command capped (the CLI asks the engine for the image's digest on a registry first).
 *
 * Every swarm is left on every engine (`docker swarm leave --force`) when the run ends, on an error or a signal too;
 * if the runner itself dies, the next harness removes the engines with their data roots, swarm state included.
 * Polls every 100 ms. One run per side: a Swarm side takes minutes. Takes about 8 minutes with the defaults (477 s
 * measured), once the machine's harness lock is free; SWARMLET_HARNESS_KEEP=1 keeps the daemons' and engines' logs.
 */

import os from 'node:os';
import { type Daemon, Harness, type Host } from '../cluster/harness.ts';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { formSwarm } from './lib/host-swarm.ts';
import { type ManagerApi, nodeIdsByHost, runningContainersByHost, runningTasksByNode, total, type Watch, watchUntilRunning } from './lib/host-watch.ts';
import { printTable, seconds, summary, verdict } from './lib/report.ts';

const REPLICAS = Number(process.env.SWARMLET_BENCH_ORCH_REPLICAS ?? 60);
const RESOLVE_VARIANT = process.env.SWARMLET_BENCH_ORCH_RESOLVE === '1';
const HOSTS = 3;
const SERVICE = 'orch-bench';
const COMMAND = [TEST_IMAGE, 'sleep', '100000'];
const SERVICE_LABEL = `com.docker.swarm.service.name=${SERVICE}`;
const FLOOR_LABEL = 'com.swarmlet.bench.floor';

/** Goals: converge within 1.5 times the floor; a dead node's tasks running elsewhere within 8 s. */
const CONVERGE_GOAL_RATIO = 1.5;
const RECOVER_GOAL_MS = 8_000;
/** Limits, each several times what the side took when measured here earlier (floor 5.9 s; Swarm 211 s and 141 s). */
const FLOOR_TIMEOUT_MS = 2 * 60_000;
const SWARMLET_TIMEOUT_MS = 5 * 60_000;
const SWARM_TIMEOUT_MS = 10 * 60_000;
const RESOLVE_CREATE_TIMEOUT_MS = 3 * 60_000;
/** How long swarmlet is given to stop the service's containers after `service rm`, before the engines are emptied by hand. */
const REMOVE_WAIT_MS = 30_000;
/** Another harness (the cluster tests, another benchmark) may hold the machine's lock for a while. */
const LOCK_TIMEOUT_MS = 60 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const loadAverage = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');

/** One side's figure for one phase. */
interface Figure {
  /** When the create command (or the last `docker run`) returned; for a recovery, when the kill was done. */
  command: number;
  watch: Watch;
  /** The tasks (or containers) the dead host held, for a recovery. */
  lost?: number;
  /** 1-minute load average when the phase ended. */
  load: number;
}

/** When the phase was done: the manager and the engines both at the target; undefined on a timeout. */
function done(figure: Figure | undefined): number | undefined {
  if (!figure || figure.watch.timedOut) return undefined;
  return Math.max(figure.watch.tasks ?? 0, figure.watch.containers!);
}

const perHostText = (counts: Map<string, number>) => [...counts].map(([host, n]) => `${host} ${n}`).join(', ');

/** Hands out `count` items over `hosts` in turn: item i goes to hosts[i % hosts.length]. */
const spread = (count: number, hosts: Host[]) => Array.from({ length: count }, (_, i) => hosts[i % hosts.length]!);

/** An engine killed by the benchmark is started again, so the engines can be emptied and the next side use them. */
async function reviveEngines(hosts: Host[]): Promise<void> {
  for (const host of hosts) if (!host.dockerd?.running) await host.restartEngine();
}

async function clearEngines(hosts: Host[]): Promise<void> {
  await reviveEngines(hosts);
  await Promise.all(hosts.map((host) => host.clearEngine()));
}

// ---------------------------------------------------------------------------------------------------------------
// 1. The floor: plain docker run

async function dockerRunAll(hosts: Host[], label: string): Promise<void> {
  const results = await Promise.all(hosts.map((host) => host.docker(['run', '-d', '--label', label, ...COMMAND])));
  const failed = results.filter((r) => r.code !== 0);
  if (failed.length > 0) throw new Error(`${failed.length} docker run failed, first: ${failed[0]!.stderr.trim()}`);
}

async function floorSide(hosts: Host[]): Promise<{ converge: Figure; recover: Figure; api: Figure }> {
  const clear = defer('the floor\'s containers', () => clearEngines(hosts));
  const [, ...workers] = hosts;
  const victim = workers.at(-1)!;
  const survivors = hosts.filter((h) => h !== victim);

  const initial = spread(REPLICAS, hosts);
  const start = Date.now();
  const watching = watchUntilRunning({ start, target: REPLICAS, timeoutMs: FLOOR_TIMEOUT_MS, engines: hosts, label: `${FLOOR_LABEL}=converge` });
  await dockerRunAll(initial, `${FLOOR_LABEL}=converge`);
  const converge: Figure = { command: Date.now() - start, watch: await watching, load: os.loadavg()[0]! };
  console.log(`orchestration: floor: ${REPLICAS} containers running after ${seconds(converge.watch.containers ?? NaN)} (${perHostText(converge.watch.perHost)})`);

  // The recovery floor: the victim's share, started on the survivors beside what already runs there.
  const lost = initial.filter((h) => h === victim).length;
  const again = Date.now();
  const rewatching = watchUntilRunning({ start: again, target: lost, timeoutMs: FLOOR_TIMEOUT_MS, engines: survivors, label: `${FLOOR_LABEL}=recover` });
  await dockerRunAll(spread(lost, survivors), `${FLOOR_LABEL}=recover`);
  const recover: Figure = { command: Date.now() - again, watch: await rewatching, lost, load: os.loadavg()[0]! };
  console.log(`orchestration: floor: ${lost} more containers running on ${survivors.map((h) => h.name).join(' and ')} after ${seconds(recover.watch.containers ?? NaN)}`);
  await Promise.all(hosts.map((host) => host.clearEngine()));

  // The same N through the engines' API, with no CLI process per container: how much of the floor is the CLI.
  const viaApi = Date.now();
  const apiWatching = watchUntilRunning({ start: viaApi, target: REPLICAS, timeoutMs: FLOOR_TIMEOUT_MS, engines: hosts, label: `${FLOOR_LABEL}=api` });
  await Promise.all(initial.map((host) => createAndStart(host, `${FLOOR_LABEL}=api`)));
  const api: Figure = { command: Date.now() - viaApi, watch: await apiWatching, load: os.loadavg()[0]! };
  console.log(`orchestration: floor: ${REPLICAS} containers created and started through the engine API, running after ${seconds(api.watch.containers ?? NaN)}`);
  await clear();
  return { converge, recover, api };
}

/** POST /containers/create, then /start, on the host's engine: what `docker run -d` asks for, without the CLI. */
async function createAndStart(host: Host, label: string): Promise<void> {
  const [key, value] = label.split('=') as [string, string];
  const created = await host.engineApi<{ Id: string }>('POST', '/containers/create', { Image: COMMAND[0], Cmd: COMMAND.slice(1), Labels: { [key]: value } });
  if (created.status !== 201) throw new Error(`POST /containers/create on ${host.name}: ${created.status} ${JSON.stringify(created.body)}`);
  const started = await host.engineApi('POST', `/containers/${created.body.Id}/start`);
  if (started.status !== 204) throw new Error(`POST /containers/${created.body.Id}/start on ${host.name}: ${started.status} ${JSON.stringify(started.body)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// 2. swarmlet

async function cli(daemon: Daemon, args: string[]): Promise<string> {
  const result = await daemon.cli(args);
  if (result.code !== 0) {
    throw new Error(`swarmlet ${args.join(' ')} on ${daemon.host.name} failed: ${result.stderr.trim()}\n--- its log ---\n${daemon.logs().slice(-3000)}`);
  }
  return result.stdout.trim();
}

async function untilTrue(what: string, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function allReady(api: ManagerApi, count: number): Promise<boolean> {
  const nodes = await api<{ Status: { State: string } }[]>('GET', '/nodes');
  return nodes.status === 200 && nodes.body.length === count && nodes.body.every((n) => n.Status.State === 'ready');
}

/**
 * The worker holding the most running tasks (what a dead node costs is its tasks), with its node ID and the other
 * hosts' node IDs.
 */
async function pickVictim(api: ManagerApi, hosts: Host[]): Promise<{ victim: Host; victimId: string; survivorIds: Set<string>; lost: number }> {
  const ids = await nodeIdsByHost(api);
  const tasks = await runningTasksByNode(api, SERVICE);
  const held = (host: Host) => tasks.get(ids.get(host.name) ?? '') ?? 0;
  const victim = hosts.slice(1).reduce((a, b) => (held(b) >= held(a) ? b : a));
  const survivorIds = new Set(hosts.filter((h) => h !== victim).map((h) => ids.get(h.name)!));
  return { victim, victimId: ids.get(victim.name)!, survivorIds, lost: held(victim) };
}

/** Converges, then kills the busiest worker; `kill` is what a death means on this side. */
async function measureSide(
  name: string,
  hosts: Host[],
  api: ManagerApi,
  create: () => Promise<void>,
  kill: (victim: Host) => Promise<void>,
  timeoutMs: number,
): Promise<{ converge: Figure; recover: Figure | undefined }> {
  const start = Date.now();
  await create();
  const command = Date.now() - start;
  const watch = await watchUntilRunning({ start, target: REPLICAS, timeoutMs, engines: hosts, label: SERVICE_LABEL, manager: { api, service: SERVICE } });
  const converge: Figure = { command, watch, load: os.loadavg()[0]! };
  if (watch.timedOut) {
    console.log(`orchestration: ${name}: TIMEOUT: ${watch.lastTasks} tasks and ${watch.lastContainers} containers running after ${seconds(timeoutMs)}; no recovery measured`);
    return { converge, recover: undefined };
  }
  console.log(`orchestration: ${name}: ${REPLICAS} tasks running after ${seconds(watch.tasks!)}, ${REPLICAS} containers after ${seconds(watch.containers!)} ` +
    `(command returned after ${seconds(command)}; ${perHostText(watch.perHost)})`);
  if (watch.lastContainers > REPLICAS) console.log(`orchestration: ${name}: ODD: the engines ran ${watch.lastContainers} containers of the service for ${REPLICAS} replicas`);

  const { victim, victimId, survivorIds, lost } = await pickVictim(api, hosts);
  const survivors = hosts.filter((h) => h !== victim);
  const t0 = Date.now();
  await kill(victim);
  const killed = Date.now() - t0;
  const rewatch = await watchUntilRunning({
    start: t0, target: REPLICAS, timeoutMs, engines: survivors, label: SERVICE_LABEL, manager: { api, service: SERVICE, nodes: survivorIds, down: victimId },
  });
  const recover: Figure = { command: killed, watch: rewatch, lost, load: os.loadavg()[0]! };
  if (rewatch.timedOut) {
    console.log(`orchestration: ${name}: TIMEOUT: ${victim.name} (${lost} tasks) killed; after ${seconds(timeoutMs)}, ${rewatch.lastTasks} tasks and ` +
      `${rewatch.lastContainers} containers run on the others${rewatch.down === undefined ? ', and it is not marked down' : ''}`);
  } else {
    console.log(`orchestration: ${name}: ${victim.name} (${lost} tasks) killed; down after ${rewatch.down === undefined ? 'n/a' : seconds(rewatch.down)}, ` +
      `${REPLICAS} tasks running elsewhere after ${seconds(rewatch.tasks!)}, ${REPLICAS} containers after ${seconds(rewatch.containers!)} (${perHostText(rewatch.perHost)})`);
    if (rewatch.lastContainers > REPLICAS) console.log(`orchestration: ${name}: ODD: the survivors ran ${rewatch.lastContainers} containers of the service for ${REPLICAS} replicas`);
  }
  return { converge, recover };
}

async function swarmletSide(hosts: Host[]): Promise<{ converge: Figure; recover: Figure | undefined }> {
  const h1 = hosts[0]!;
  const daemons: Daemon[] = [];
  const stop = defer('the swarmlet daemons', async () => {
    await Promise.all(daemons.map((d) => d.stop()));
    await clearEngines(hosts);
  });
  daemons.push(...(await Promise.all(hosts.map((host) => host.startDaemon()))));
  const [d1] = daemons as [Daemon, ...Daemon[]];
  await cli(d1, ['init']);
  const token = await cli(d1, ['join-token', '-q', 'worker']);
  for (const worker of daemons.slice(1)) await cli(worker, ['join', '--token', token, h1.address]);
  await untilTrue(`${HOSTS} ready swarmlet nodes`, () => allReady(d1.api.bind(d1), HOSTS), 60_000);

  const figures = await measureSide(
    'swarmlet',
    hosts,
    d1.api.bind(d1),
    async () => void (await cli(d1, ['service', 'create', '-d', '--name', SERVICE, '--replicas', String(REPLICAS), ...COMMAND])),
    async (victim) => {
      await victim.daemon!.kill9();
      await victim.killEngine();
    },
    SWARMLET_TIMEOUT_MS,
  );

  // Restore the dead host as a reboot would, then take the service down through swarmlet itself.
  const dead = hosts.find((h) => !h.dockerd?.running);
  if (dead) {
    await dead.restartEngine();
    await dead.daemon!.start();
    await untilTrue(`${dead.name} ready again`, () => allReady(d1.api.bind(d1), HOSTS), 60_000);
  }
  // Not a figure of the goal, but shown: how long swarmlet takes to stop what it runs (a `sleep` ignores SIGTERM, so
  // each stop waits out the 10 s grace period). Capped, then the engines are emptied by hand.
  const removing = Date.now();
  await cli(d1, ['service', 'rm', SERVICE]);
  let left = await runningContainersByHost(hosts, SERVICE_LABEL);
  while (total(left) > 0 && Date.now() - removing < REMOVE_WAIT_MS) {
    await sleep(250);
    left = await runningContainersByHost(hosts, SERVICE_LABEL);
  }
  console.log(`orchestration: swarmlet: service rm: ${total(left) === 0
    ? `no container of it running after ${seconds(Date.now() - removing)}`
    : `${total(left)} of its containers still running after ${seconds(REMOVE_WAIT_MS)} (${perHostText(left)}); emptied by hand`}`);
  await stop();
  return figures;
}

// ---------------------------------------------------------------------------------------------------------------
// 3. Docker Swarm mode

async function dockerMust(host: Host, args: string[]): Promise<void> {
  const result = await host.docker(args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} on ${host.name}: ${result.stderr.trim()}`);
}

async function swarmSide(hosts: Host[]): Promise<{ converge: Figure; recover: Figure | undefined }> {
  const h1 = hosts[0]!;
  const leave = await formSwarm(hosts, SERVICE);
  const figures = await measureSide(
    'Swarm mode',
    hosts,
    h1.engineApi.bind(h1),
    () => dockerMust(h1, ['service', 'create', '-d', '--no-resolve-image', '--name', SERVICE, '--replicas', String(REPLICAS), ...COMMAND]),
    (victim) => victim.killEngine(),
    SWARM_TIMEOUT_MS,
  );
  await leave();
  return figures;
}

/**
 * Swarm as a user first meets it, without --no-resolve-image: the create command asks the manager's engine for the
 * image's digest on a registry, which no host can reach. Capped; convergence only.
 */
async function swarmResolveVariant(hosts: Host[]): Promise<{ command: number | undefined; converged: Watch | undefined }> {
  const h1 = hosts[0]!;
  const leave = await formSwarm(hosts, SERVICE);
  try {
    const start = Date.now();
    const created = await h1.exec(['docker', '-H', h1.engine, 'service', 'create', '-d', '--name', SERVICE, '--replicas', String(REPLICAS), ...COMMAND], {
      timeoutMs: RESOLVE_CREATE_TIMEOUT_MS,
    });
    const command = Date.now() - start;
    if (created.code !== 0) {
      console.log(`orchestration: Swarm mode (resolving the image): create gave up or was stopped after ${seconds(command)} (exit ${created.code}): ${created.stderr.trim().split('\n').at(-1)}`);
      return { command: undefined, converged: undefined };
    }
    const converged = await watchUntilRunning({
      start, target: REPLICAS, timeoutMs: SWARM_TIMEOUT_MS, engines: hosts, label: SERVICE_LABEL, manager: { api: h1.engineApi.bind(h1), service: SERVICE },
    });
    return { command, converged };
  } finally {
    await leave();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const time = (ms: number | undefined) => (ms === undefined ? 'n/a' : seconds(ms));

/** A figure as the table shows it: the time, or the timeout and how far it got. */
function shown(figure: Figure | undefined, limitMs: number): string {
  if (!figure) return 'not measured';
  if (figure.watch.timedOut) return `> ${seconds(limitMs)} (timeout; ${figure.watch.lastContainers}/${REPLICAS} running)`;
  return seconds(done(figure)!);
}

const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? 'n/a' : (a / b).toFixed(2));

async function main(): Promise<void> {
  if (!Number.isInteger(REPLICAS) || REPLICAS < HOSTS) throw new Error(`SWARMLET_BENCH_ORCH_REPLICAS must be an integer ≥ ${HOSTS}, not ${process.env.SWARMLET_BENCH_ORCH_REPLICAS}`);
  const started = Date.now();
  const loadBefore = loadAverage();
  const harness = await Harness.start({ hosts: HOSTS, log: (line) => console.log(line), lockTimeoutMs: LOCK_TIMEOUT_MS });
  const stopHarness = defer('the harness', () => harness.stop());
  const hosts = harness.hosts;
  console.log(`orchestration: ${REPLICAS} replicas of "${COMMAND.join(' ')}" over ${HOSTS} hosts; ${os.cpus().length} CPU(s), load average ${loadAverage()} ` +
    `(${loadBefore} before the harness lock, waited ${seconds(harness.timings.lockWaitMs)}); logs in ${harness.dir}/logs`);

  const floor = await floorSide(hosts);
  const ours = await swarmletSide(hosts);
  const swarm = await swarmSide(hosts);
  const resolve = RESOLVE_VARIANT ? await swarmResolveVariant(hosts) : undefined;
  await stopHarness();
  const took = Date.now() - started - harness.timings.lockWaitMs;

  const rows: (string | number)[][] = [];
  const detail = (side: string, phase: string, f: Figure | undefined) => {
    if (!f) return rows.push([side, phase, 'not measured', '', '', '', '', '']);
    return rows.push([
      side, phase, f.lost ?? REPLICAS, seconds(f.command), f.watch.tasks === undefined ? (side.startsWith('floor') ? '-' : 'n/a') : seconds(f.watch.tasks),
      time(f.watch.containers), f.watch.down === undefined ? '-' : seconds(f.watch.down), f.load.toFixed(2),
    ]);
  };
  detail('floor', 'converge', floor.converge);
  detail('floor', 'recover (restart only)', floor.recover);
  detail('floor (engine API, no CLI)', 'converge', floor.api);
  detail('swarmlet', 'converge', ours.converge);
  detail('swarmlet', 'recover', ours.recover);
  detail('Swarm --no-resolve-image', 'converge', swarm.converge);
  detail('Swarm --no-resolve-image', 'recover', swarm.recover);
  printTable(
    `orchestration: each phase from its command (converge: create, or the first docker run; recover: the kill); one run per side`,
    ['side', 'phase', 'tasks', 'command / kill done', `manager: all running`, 'engines: all running', 'node down', 'load (1 min) after'],
    rows,
  );

  const floorConverge = done(floor.converge);
  const oursConverge = done(ours.converge);
  const swarmConverge = done(swarm.converge);
  const floorRecover = done(floor.recover);
  const oursRecover = done(ours.recover);
  const swarmRecover = done(swarm.recover);
  const convergeMet = oursConverge !== undefined && floorConverge !== undefined && oursConverge <= CONVERGE_GOAL_RATIO * floorConverge;
  const recoverMet = oursRecover !== undefined && oursRecover < RECOVER_GOAL_MS;
  printTable(
    `orchestration: ${REPLICAS} replicas on ${HOSTS} hosts, the time until the manager and the engines both count them running`,
    ['phase', 'floor (docker run)', 'swarmlet', 'Swarm mode', 'swarmlet/floor', 'swarmlet/Swarm', 'goal', 'verdict'],
    [
      ['converge', shown(floor.converge, FLOOR_TIMEOUT_MS), shown(ours.converge, SWARMLET_TIMEOUT_MS), shown(swarm.converge, SWARM_TIMEOUT_MS),
        ratio(oursConverge, floorConverge), ratio(oursConverge, swarmConverge), `≤ ${CONVERGE_GOAL_RATIO}× floor`, verdict(convergeMet)],
      [`recover (${ours.recover?.lost ?? '?'} tasks)`, `${shown(floor.recover, FLOOR_TIMEOUT_MS)} (no detection)`, shown(ours.recover, SWARMLET_TIMEOUT_MS),
        shown(swarm.recover, SWARM_TIMEOUT_MS), ratio(oursRecover, floorRecover), ratio(oursRecover, swarmRecover), `< ${seconds(RECOVER_GOAL_MS)}`, verdict(recoverMet)],
    ],
  );
  if (resolve) {
    const converged = resolve.converged;
    console.log(`orchestration: Swarm mode without --no-resolve-image: create returned after ${time(resolve.command)}; ` +
      (converged === undefined ? 'not converged' : converged.timedOut
        ? `TIMEOUT after ${seconds(SWARM_TIMEOUT_MS)} (${converged.lastContainers}/${REPLICAS} running)`
        : `${REPLICAS} running after ${seconds(Math.max(converged.tasks!, converged.containers!))}`));
  }
  console.log(`orchestration: done in ${seconds(took)} (not counting ${seconds(harness.timings.lockWaitMs)} waiting for the harness lock); load average ${loadAverage()}`);

  const swarmText = (figure: Figure | undefined, ms: number | undefined) =>
    figure === undefined ? 'not measured' : ms === undefined ? `timed out after ${seconds(SWARM_TIMEOUT_MS)}` : seconds(ms);
  summary(
    `orchestration converge ${REPLICAS} over ${HOSTS} hosts: floor (docker run) ${time(floorConverge)}, swarmlet ${time(oursConverge)}, ` +
      `Swarm --no-resolve-image ${swarmText(swarm.converge, swarmConverge)}; swarmlet/floor ${ratio(oursConverge, floorConverge)} ` +
      `(goal ≤ ${CONVERGE_GOAL_RATIO}: ${verdict(convergeMet)}; ${ratio(oursConverge, done(floor.api))} against the engine-API floor of ${time(done(floor.api))}), ` +
      `swarmlet/Swarm ${ratio(oursConverge, swarmConverge)}; load ${ours.converge.load.toFixed(2)} after swarmlet's`,
  );
  summary(
    `orchestration recover (${ours.recover?.lost ?? '?'} tasks of a dead worker, engine SIGKILLed): swarmlet ${time(oursRecover)} ` +
      `(goal < ${seconds(RECOVER_GOAL_MS)}: ${verdict(recoverMet)}; node down after ${time(ours.recover?.watch.down)}), ` +
      `Swarm ${swarmText(swarm.recover, swarmRecover)} (${swarm.recover?.lost ?? '?'} tasks), swarmlet/Swarm ${ratio(oursRecover, swarmRecover)}; ` +
      `floor (restart only) ${time(floorRecover)}`,
  );
}

runBench('orchestration', main);
