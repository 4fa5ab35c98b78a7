/**
 * Benchmark: how fast this engine creates and starts 20 containers at a given number of calls in flight, through
 * swarmlet's own engine client and the same calls the agent makes per task (image inspect, create, start,
 * inspect; src/agent/agent.ts). It bounds what the agent can reach and shows which concurrency the agent should
 * use (it uses 4 today). Each level runs twice, ascending then descending, so load drift hits all levels alike.
 */

import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts';
import { EngineClient } from '../../src/runtime/docker/engine-client.ts';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { docker } from '../helpers/docker.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { median, printTable, seconds, summary } from './lib/report.ts';
import { DOCKER_SOCKET } from './lib/tasks.ts';

const CONTAINERS = 20;
const LEVELS = (process.env.SWARMLET_BENCH_CONCURRENCY ?? '1,2,4,8,20').split(',').map(Number);
const ROUNDS = 2;
/** Every container this benchmark makes carries it, so a killed run's leftovers are found (build/bench.sh). */
const LABEL = 'com.swarmlet.bench';

const runtime = new DockerRuntime(new EngineClient(DOCKER_SOCKET));

async function removeAll(ids: string[]): Promise<void> {
  await Promise.all(ids.map((id) => runtime.removeContainer(id, { force: true }).catch(() => undefined)));
}

/** Creates and starts CONTAINERS containers with at most `limit` in flight; returns the wall time. */
async function createAndStart(limit: number, round: number): Promise<number> {
  const ids: string[] = [];
  const cleanup = defer(`bench containers (concurrency ${limit})`, () => removeAll(ids));
  let next = 0;
  const start = Date.now();
  const worker = async () => {
    while (next < CONTAINERS) {
      const i = next++;
      if (!(await runtime.inspectImage(TEST_IMAGE))) throw new Error(`no ${TEST_IMAGE} on the engine`);
      const id = await runtime.createContainer({
        name: `swarmlet-bench-c${limit}-r${round}-${i}`,
        image: TEST_IMAGE,
        labels: { [LABEL]: '1' },
        cmd: ['sleep', '3600'],
        stopTimeout: 10,
      });
      ids.push(id);
      await runtime.startContainer(id);
      await runtime.inspectContainer(id);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, CONTAINERS) }, worker));
  const elapsed = Date.now() - start;
  await cleanup();
  return elapsed;
}

async function main(): Promise<void> {
  // A killed earlier run may have left some.
  const left = (await docker(['ps', '-aq', '--filter', `label=${LABEL}=1`])).stdout.split('\n').filter(Boolean);
  await removeAll(left);

  console.log(`engine-${CONTAINERS}: create+start ${CONTAINERS} containers of ${TEST_IMAGE} straight on the engine, by calls in flight`);
  const times = new Map<number, number[]>(LEVELS.map((level) => [level, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? LEVELS : [...LEVELS].reverse();
    for (const level of order) times.get(level)!.push(await createAndStart(level, round));
  }
  const rows = LEVELS.map((level) => {
    const ms = times.get(level)!;
    return [String(level), ...ms.map(seconds), seconds(median(ms)), `${((CONTAINERS / median(ms)) * 1000).toFixed(1)}/s`];
  });
  printTable(`engine-${CONTAINERS}: wall time per concurrency level`, ['in flight', ...Array.from({ length: ROUNDS }, (_, i) => `run ${i + 1}`), 'median', 'containers/s'], rows);

  const best = LEVELS.reduce((a, b) => (median(times.get(b)!) < median(times.get(a)!) ? b : a));
  const atFour = times.get(4);
  summary(
    `engine-${CONTAINERS}: fastest at ${best} in flight, ${seconds(median(times.get(best)!))}` +
      (atFour ? `; at 4 (the agent's setting) ${seconds(median(atFour))}` : ''),
  );
}

runBench('engine-concurrency', main);
