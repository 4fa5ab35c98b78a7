/**
 * Benchmark (a): from `service create` of 20 replicas to 20 running tasks, swarmlet against Docker Swarm mode on
 * the same engine. Both sides are driven by their CLI with -d (what a user types) and watched through GET /tasks
 * on their socket with the same poller; each side runs SWARMLET_BENCH_RUNS times (default 3), swarmlet with a
 * fresh daemon and data dir each time. Goal: swarmlet's time at most half of Swarm's.
 */

import { docker } from '../helpers/docker.ts';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { runBench } from './lib/cleanup.ts';
import { median, printTable, seconds, summary, verdict } from './lib/report.ts';
import { removeSwarmService, startBenchSwarm, SWARM_SERVICE } from './lib/swarm.ts';
import { startInitialisedDaemon } from './lib/swarmlet.ts';
import { type Convergence, DOCKER_SOCKET, type EngineTimeline, engineTimeline, waitForRunning } from './lib/tasks.ts';

const REPLICAS = 20;
const RUNS = Number(process.env.SWARMLET_BENCH_RUNS ?? 3);
const COMMAND = [TEST_IMAGE, 'sleep', '3600'];

interface Run extends Convergence, EngineTimeline {
  side: string;
  /** When the create command returned. */
  created: number;
}

async function swarmletRun(): Promise<Run> {
  const daemon = await startInitialisedDaemon();
  try {
    const start = Date.now();
    await daemon.cli(['service', 'create', '-d', '--name', 'bench', '--replicas', String(REPLICAS), ...COMMAND]);
    const created = Date.now() - start;
    const converged = await waitForRunning(daemon.socket, 'bench', REPLICAS, start);
    const timeline = await engineTimeline(`com.docker.swarm.node.id=${await daemon.nodeId()}`, start);
    return { side: 'swarmlet', created, ...converged, ...timeline };
  } finally {
    await daemon.dispose();
  }
}

async function swarmRun(resolveImage: boolean): Promise<Run> {
  const start = Date.now();
  const flags = resolveImage ? [] : ['--no-resolve-image'];
  const result = await docker(['service', 'create', '-d', ...flags, '--name', SWARM_SERVICE, '--replicas', String(REPLICAS), ...COMMAND]);
  if (result.code !== 0) throw new Error(`docker service create: ${result.stderr.trim()}`);
  const created = Date.now() - start;
  try {
    const converged = await waitForRunning(DOCKER_SOCKET, SWARM_SERVICE, REPLICAS, start);
    const timeline = await engineTimeline(`com.docker.swarm.service.name=${SWARM_SERVICE}`, start);
    return { side: resolveImage ? 'swarm' : 'swarm --no-resolve-image', created, ...converged, ...timeline };
  } finally {
    await removeSwarmService();
  }
}

async function main(): Promise<void> {
  console.log(`create-${REPLICAS}: ${RUNS} run(s) per side, image ${TEST_IMAGE}, command "sleep 3600"`);
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await swarmletRun());

  const swarm = await startBenchSwarm();
  if (swarm.ok) {
    // Alternating the two variants spreads any drift of the machine's load over both.
    for (let i = 0; i < RUNS; i++) {
      runs.push(await swarmRun(true));
      runs.push(await swarmRun(false));
    }
  } else {
    console.warn(`bench: WARNING: skipping Docker Swarm mode: ${swarm.reason}`);
  }

  printTable(
    `create-${REPLICAS}: times from the create command (s); "engine" columns are the engine's own timestamps`,
    ['side', 'cli returned', 'first running', `${REPLICAS} running`, 'engine: 1st created', 'engine: last started', 'engine: create→start (median)'],
    runs.map((r) => [r.side, seconds(r.created), seconds(r.firstRunning), seconds(r.allRunning), seconds(r.firstCreated), seconds(r.lastStarted), seconds(r.createToStart)]),
  );

  const medianOf = (side: string) => {
    const times = runs.filter((r) => r.side === side).map((r) => r.allRunning);
    return times.length ? median(times) : undefined;
  };
  const ours = medianOf('swarmlet')!;
  const withResolve = medianOf('swarm');
  const withoutResolve = medianOf('swarm --no-resolve-image');
  if (withResolve === undefined || withoutResolve === undefined) {
    summary(`create-${REPLICAS}: swarmlet ${seconds(ours)} (median of ${RUNS}), swarm not measured (see warning)`);
    return;
  }
  // The ratio is taken against Swarm's faster variant, so it never flatters swarmlet.
  const reference = Math.min(withResolve, withoutResolve);
  const ratio = ours / reference;
  summary(
    `create-${REPLICAS}: swarmlet ${seconds(ours)}, swarm ${seconds(withResolve)} (${seconds(withoutResolve)} with --no-resolve-image), ` +
      `ratio ${ratio.toFixed(2)} (goal ≤ 0.5: ${verdict(ratio <= 0.5)}; medians of ${RUNS}, vs Swarm's faster variant)`,
  );
}

runBench('convergence', main);
