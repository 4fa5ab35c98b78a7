/**
 * Benchmark: a cluster of real hosts (test/cluster/harness.ts): five network namespaces on one bridge, each with
 * its own dockerd and the built x64 executable started with no flags. h1 inits; two managers (h2, h3) and two workers
 * (h4, h5) join with a token alone, finding the managers over mDNS. Measured:
 *
 * - join: from `swarmlet join --token T` to the node being Ready in GET /nodes on the leader (polled every 50 ms);
 * - worker down: from kill -9 of a worker's daemon to its node being `down` in GET /nodes on the leader (polled every
 *   100 ms), three times, the worker started again and Ready between kills. Goal < 5 s; Swarm mode takes 13–16 s;
 * - leader failover, SWARMLET_BENCH_CLUSTER_FAILOVERS times (default 10): kill -9 of the leader's daemon, then a probe of
 *   GET /nodes every 50 ms on the surviving managers in turn, none waiting for another (a read held up by the dead
 *   leader must not hide the moment a new one answers), until a 200 names another leader. The killed daemon is then
 *   started again and must be `reachable` and answer GET /services with 200 (caught up) before the next kill, and
 *   the round's other probes must have their answers: when the last came, and how many were not 200, is what a
 *   command typed during the failover would have met. Goal < 3 s.
 *
 * A failover round that finds no new leader, or whose old leader does not catch up, is reported with the daemons'
 * last log lines and the rounds go on; ERROR lines a manager logs during a round are reported with it (a restarted
 * manager can answer reads while its Raft storage has failed). Takes about a minute once the machine's harness lock is free; SWARMLET_HARNESS_KEEP=1 keeps
 * every daemon's log (the harness's temp dir, logs/) after the run.
 */

import type { Node } from '../../src/api/types.ts';
import { type Daemon, Harness } from '../cluster/harness.ts';
import { defer, runBench } from './lib/cleanup.ts';
import { percentile } from './lib/raft-workload.ts';
import { median, printTable, seconds, summary, verdict } from './lib/report.ts';

const FAILOVERS = Number(process.env.SWARMLET_BENCH_CLUSTER_FAILOVERS ?? 10);
const MANAGERS = ['h1', 'h2', 'h3'];
const WORKERS = ['h4', 'h5'];
const DOWN_KILLS = 3;

const DOWN_GOAL_MS = 5_000;
const FAILOVER_GOAL_MS = 3_000;
/** How long a step may take before it is recorded as failed: several times its goal, or Swarm's figure. */
const STEP_TIMEOUT_MS = 30_000;
/** A single request unanswered for this long counts as no answer (a read may wait on a dead leader). */
const REQUEST_TIMEOUT_MS = 2_000;
const FAILOVER_PROBE_MS = 50;
/** Another harness (cluster tests) may hold the machine's lock for a while. */
const LOCK_TIMEOUT_MS = 30 * 60_000;

class StepTimeout extends Error {
  readonly code = 'timeout';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const daemons = new Map<string, Daemon>();

function daemon(host: string): Daemon {
  const found = daemons.get(host);
  if (!found) throw new Error(`no daemon on ${host}`);
  return found;
}

/** The last lines of a daemon's current run, indented and named, for a report of what went wrong. */
function tail(host: string, lines = 25): string {
  return daemon(host).logs().trimEnd().split('\n').slice(-lines).map((line) => `    ${host}| ${line}`).join('\n');
}

/** `promise`'s value, or undefined if it fails or has not settled within `ms` (it is left to settle on its own). */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([promise.catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** GET /nodes on `host`, or undefined without a 200 in time. */
async function nodes(host: string): Promise<Node[] | undefined> {
  const reply = await within(daemon(host).api<Node[]>('GET', '/nodes'), REQUEST_TIMEOUT_MS);
  return reply?.status === 200 ? reply.body : undefined;
}

/** GET /nodes on the first of `hosts` that answers it. */
async function nodesFromAny(hosts: string[]): Promise<Node[] | undefined> {
  for (const host of hosts) {
    const list = await nodes(host);
    if (list) return list;
  }
  return undefined;
}

const byHost = (list: Node[] | undefined, host: string) => list?.find((n) => n.Description.Hostname === host);
const leaderOf = (list: Node[]) => list.find((n) => n.ManagerStatus?.Leader)?.Description.Hostname;

/**
 * Calls `check` every `everyMs` (from the start of one call to the next, a slow answer not delaying the schedule
 * further) until it returns a value; the caller times the answer that had it.
 */
async function poll<T>(what: string, check: () => Promise<T | undefined | false>, everyMs: number, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let next = performance.now();
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) throw new StepTimeout(`${what}: not within ${seconds(timeoutMs)}`);
    next += everyMs;
    await sleep(Math.max(0, next - performance.now()));
  }
}

/** The leader, as the first running manager to answer names it. */
function findLeader(): Promise<string> {
  return poll('a manager naming a running leader', async () => {
    const list = await nodesFromAny(MANAGERS.filter((h) => daemon(h).running));
    const leader = list && leaderOf(list);
    return leader && daemon(leader).running ? leader : undefined;
  }, 200);
}

// ---------------------------------------------------------------------------------------------------------------
// Join

interface Join {
  host: string;
  role: 'manager' | 'worker';
  /** Until `swarmlet join` returned. */
  command: number;
  /** Until the node was Ready on the leader. */
  ready: number;
}

async function join(host: string, role: Join['role'], token: string): Promise<Join> {
  const t0 = performance.now();
  const result = await daemon(host).cli(['join', '--token', token]);
  const command = performance.now() - t0;
  if (result.code !== 0) throw new Error(`swarmlet join on ${host} failed (${result.code}): ${result.stderr.trim()}\n${tail(host)}`);
  await poll(`${host} Ready on h1`, async () => byHost(await nodes('h1'), host)?.Status.State === 'ready', 50);
  return { host, role, command, ready: performance.now() - t0 };
}

async function formCluster(): Promise<Join[]> {
  const init = await daemon('h1').cli(['init']);
  if (init.code !== 0) throw new Error(`swarmlet init on h1 failed: ${init.stderr.trim()}\n${tail('h1')}`);
  const token = async (role: Join['role']) => {
    const result = await daemon('h1').cli(['join-token', '-q', role]);
    if (result.code !== 0) throw new Error(`swarmlet join-token ${role} failed: ${result.stderr.trim()}`);
    return result.stdout.trim();
  };
  const tokens = { manager: await token('manager'), worker: await token('worker') };
  const joins: Join[] = [];
  // One after another, as someone walking from machine to machine would.
  for (const host of MANAGERS.slice(1)) joins.push(await join(host, 'manager', tokens.manager));
  for (const host of WORKERS) joins.push(await join(host, 'worker', tokens.worker));
  await poll('five nodes and three reachable managers', async () => {
    const list = await nodes('h1');
    return list?.length === 5 && list.filter((n) => n.ManagerStatus?.Reachability === 'reachable').length === 3;
  }, 100);
  return joins;
}

// ---------------------------------------------------------------------------------------------------------------
// A worker killed

interface Down {
  host: string;
  /** Kill to `down` on the leader; undefined if not within STEP_TIMEOUT_MS. */
  down: number | undefined;
  /** Start of the daemon again to Ready on the leader. */
  readyAgain: number;
}

async function killWorker(host: string, manager: string): Promise<Down> {
  const worker = daemon(host);
  const t0 = performance.now();
  await worker.kill9();
  let down: number | undefined;
  try {
    await poll(`${host} down on ${manager}`, async () => byHost(await nodes(manager), host)?.Status.State === 'down', 100);
    down = performance.now() - t0;
  } catch (err) {
    if (!(err instanceof StepTimeout)) throw err;
    console.log(`cluster: worker down: ${err.message}\n${tail(manager)}`);
  }
  const t1 = performance.now();
  await worker.start();
  await poll(`${host} Ready again on ${manager}`, async () => byHost(await nodes(manager), host)?.Status.State === 'ready', 100);
  return { host, down, readyAgain: performance.now() - t1 };
}

// ---------------------------------------------------------------------------------------------------------------
// The leader killed

interface NewLeader {
  /** Kill to the first 200 naming another leader; undefined if none came within STEP_TIMEOUT_MS. */
  elected: number | undefined;
  leader: string | undefined;
  answeredBy: string | undefined;
  probes: number;
  /** Probes still unanswered when the measurement ended: reads held up (by the dead leader, or an election). */
  pending: number;
  /** Every probe's answer: when it came (from the kill) and its status, 0 for a failed request. */
  answers: Promise<{ at: number; status: number }>[];
}

/**
 * Probes GET /nodes on the survivors in turn every FAILOVER_PROBE_MS, each on its own, until a 200 names a leader
 * other than `killed`. The time is taken when that answer arrives, counted from `t0`.
 */
function awaitNewLeader(killed: string, survivors: string[], t0: number): Promise<NewLeader> {
  return new Promise((resolve) => {
    const answers: NewLeader['answers'] = [];
    let pending = 0;
    let settled = false;
    const finish = (found: Pick<NewLeader, 'elected' | 'leader' | 'answeredBy'>) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      clearTimeout(limit);
      resolve({ ...found, probes: answers.length, pending, answers });
    };
    const probe = () => {
      const host = survivors[answers.length % survivors.length]!;
      pending++;
      answers.push(daemon(host).api<Node[]>('GET', '/nodes').then((reply) => {
        const at = performance.now() - t0;
        pending--;
        const leader = reply.status === 200 ? leaderOf(reply.body) : undefined;
        if (leader && leader !== killed) finish({ elected: at, leader, answeredBy: host });
        return { at, status: reply.status };
      }, () => {
        pending--;
        return { at: performance.now() - t0, status: 0 };
      }));
    };
    const timer = setInterval(probe, FAILOVER_PROBE_MS);
    const limit = setTimeout(() => finish({ elected: undefined, leader: undefined, answeredBy: undefined }), STEP_TIMEOUT_MS);
    probe();
  });
}

/** Starts the old leader again (`restart`: stop it first) and waits until it is reachable and answers GET /services. */
async function rejoin(host: string, survivors: string[], restart: boolean): Promise<number> {
  const old = daemon(host);
  if (restart) await old.stop();
  const t0 = performance.now();
  await old.start();
  await poll(`${host} reachable and answering GET /services`, async () => {
    if (byHost(await nodesFromAny(survivors), host)?.ManagerStatus?.Reachability !== 'reachable') return false;
    return (await within(old.api('GET', '/services'), REQUEST_TIMEOUT_MS))?.status === 200;
  }, 100);
  return performance.now() - t0;
}

interface Failover extends NewLeader {
  round: number;
  killed: string;
  /** Start of the killed daemon to it being reachable and caught up; undefined if it did not within STEP_TIMEOUT_MS. */
  caughtUp: number | undefined;
  /** Kill to the last probe's answer (reads sent during the failover), undefined if some never came. */
  lastAnswer: number | undefined;
  /** Probes answered with something else than 200 (a failed request counts); undefined if some never came. */
  refused: number | undefined;
  /** What went wrong in the round, for the report. */
  problems: string[];
}

/** Where each manager's log stands, so the lines a round added can be told apart. */
function logMark(): Map<string, { run: Daemon['process']; length: number }> {
  return new Map(MANAGERS.map((h) => [h, { run: daemon(h).process, length: daemon(h).logs().length }]));
}

/** ERROR lines the managers logged since `mark` (a restarted daemon's whole new run). */
function errorsSince(mark: ReturnType<typeof logMark>): string[] {
  return MANAGERS.flatMap((h) => {
    const before = mark.get(h)!;
    const added = daemon(h).process === before.run ? daemon(h).logs().slice(before.length) : daemon(h).logs();
    return added.split('\n').filter((line) => / ERROR /.test(line)).map((line) => `${h}| ${line}`);
  });
}

async function failover(round: number): Promise<Failover> {
  const killed = await findLeader();
  const survivors = MANAGERS.filter((h) => h !== killed);
  const problems: string[] = [];
  const mark = logMark();
  const t0 = performance.now();
  await daemon(killed).kill9();
  const found = await awaitNewLeader(killed, survivors, t0);
  if (found.elected === undefined) {
    problems.push(`no new leader answered within ${seconds(STEP_TIMEOUT_MS)}`);
    console.log(`cluster: failover round ${round}: FAILED: no new leader within ${seconds(STEP_TIMEOUT_MS)} after killing ${killed}\n${survivors.map((h) => tail(h)).join('\n')}`);
  }
  let caughtUp: number | undefined;
  try {
    caughtUp = await rejoin(killed, survivors, false);
  } catch (err) {
    const reason = err instanceof Error ? err.message.split('\n')[0]! : String(err);
    problems.push(`old leader ${killed} not caught up: ${reason}`);
    console.log(`cluster: failover round ${round}: FAILED: the restarted old leader ${killed} did not catch up (${reason}); its log and the survivors':\n` +
      `${[killed, ...survivors].map((h) => tail(h)).join('\n')}`);
    // Once more from a fresh start, so that the next rounds begin with three managers if that is possible at all.
    try {
      const again = await rejoin(killed, survivors, true);
      problems.push(`caught up ${seconds(again)} after a second restart`);
    } catch (second) {
      problems.push(`not after a second restart either: ${second instanceof Error ? second.message.split('\n')[0] : String(second)}`);
    }
    console.log(`cluster: failover round ${round}: ${problems.at(-1)}; going on with the next round`);
  }
  // The reads sent during the failover settle before the next kill (a read gives up after 5 s without a leader).
  const answers = await within(Promise.all(found.answers), STEP_TIMEOUT_MS);
  const refused = answers?.filter((a) => a.status !== 200).length;
  const errors = errorsSince(mark);
  if (errors.length > 0) {
    problems.push(`${errors.length} ERROR line(s) logged`);
    console.log(`cluster: failover round ${round}: ERROR lines in the managers' logs:\n${errors.map((line) => `    ${line}`).join('\n')}`);
  }
  return { round, killed, ...found, caughtUp, lastAnswer: answers && Math.max(...answers.map((a) => a.at)), refused, problems };
}

// ---------------------------------------------------------------------------------------------------------------

const optional = (ms: number | undefined) => (ms === undefined ? 'n/a' : seconds(ms));

async function main(): Promise<void> {
  if (!Number.isInteger(FAILOVERS) || FAILOVERS < 1) throw new Error(`SWARMLET_BENCH_CLUSTER_FAILOVERS must be a positive integer, not ${process.env.SWARMLET_BENCH_CLUSTER_FAILOVERS}`);
  const started = performance.now();
  const harness = await Harness.start({ hosts: 5, log: (line) => console.log(line), lockTimeoutMs: LOCK_TIMEOUT_MS });
  const stopHarness = defer('the harness', () => harness.stop());
  try {
    await Promise.all(harness.hosts.map(async (host) => daemons.set(host.name, await host.startDaemon())));
    console.log(`cluster: 5 hosts, a daemon on each, after ${seconds(performance.now() - started)}; logs in ${harness.dir}/logs`);

    const joins = await formCluster();
    printTable(
      'cluster join: h1 inits, the others join with a token and no address (mDNS); time from `swarmlet join`',
      ['host', 'role', 'join returned', 'Ready on the leader'],
      joins.map((j) => [j.host, j.role, seconds(j.command), seconds(j.ready)]),
    );
    summary(
      `cluster join (mDNS, no address) to Ready: ${joins.map((j) => `${j.host} ${j.role} ${seconds(j.ready)}`).join(', ')}; ` +
        `median ${seconds(median(joins.map((j) => j.ready)))}`,
    );

    const downs: Down[] = [];
    for (let i = 0; i < DOWN_KILLS; i++) downs.push(await killWorker(WORKERS[i % WORKERS.length]!, await findLeader()));
    printTable(
      'cluster worker down: kill -9 of a worker daemon, GET /nodes on the leader every 100 ms',
      ['kill', 'worker', 'down after', 'Ready again after its restart'],
      downs.map((d, i) => [i + 1, d.host, optional(d.down), seconds(d.readyAgain)]),
    );
    const measured = downs.flatMap((d) => (d.down === undefined ? [] : [d.down]));
    const missing = DOWN_KILLS - measured.length;
    const downMet = missing === 0 && measured.every((ms) => ms < DOWN_GOAL_MS);
    summary(
      `cluster worker down: ${DOWN_KILLS} kills, down after ${measured.map(seconds).join(', ') || 'none'}` +
        `${measured.length ? `, median ${seconds(median(measured))}` : ''}${missing ? `, ${missing} not within ${seconds(STEP_TIMEOUT_MS)}` : ''} ` +
        `(goal < 5 s: ${verdict(downMet)}; Swarm mode 13–16 s)`,
    );

    const failovers: Failover[] = [];
    for (let round = 1; round <= FAILOVERS; round++) {
      const f = await failover(round);
      failovers.push(f);
      console.log(`cluster: failover ${round}/${FAILOVERS}: ${f.killed} killed, ${f.leader ?? 'no one'} leads after ${optional(f.elected)}, ` +
        `old leader caught up after ${optional(f.caughtUp)}${f.problems.length ? ` (${f.problems.join('; ')})` : ''}`);
    }
    printTable(
      `cluster failover: ${FAILOVERS} kill -9 of the leader; GET /nodes every ${FAILOVER_PROBE_MS} ms on the survivors, none waiting for another`,
      ['round', 'killed', 'new leader', 'answered by', 'new leader after', 'probes', 'unanswered then', 'last answered after', 'not 200', 'old leader caught up after', 'problems'],
      failovers.map((f) => [
        f.round, f.killed, f.leader ?? '-', f.answeredBy ?? '-', optional(f.elected), f.probes, f.pending, optional(f.lastAnswer), f.refused ?? 'n/a', optional(f.caughtUp),
        f.problems.join('; ') || '-',
      ]),
    );
    const elected = failovers.flatMap((f) => (f.elected === undefined ? [] : [f.elected]));
    const leaderless = failovers.filter((f) => f.elected === undefined).map((f) => f.round);
    const behind = failovers.filter((f) => f.caughtUp === undefined).map((f) => f.round);
    const erring = failovers.filter((f) => f.problems.some((p) => p.includes('ERROR'))).map((f) => f.round);
    if (elected.length) {
      printTable(
        `cluster failover: kill to a 200 naming the new leader, over ${elected.length} round(s)`,
        ['min', 'p50', 'p90', 'max'],
        [[Math.min(...elected), percentile(elected, 50), percentile(elected, 90), Math.max(...elected)].map(seconds)],
      );
    }
    const over = elected.filter((ms) => ms >= FAILOVER_GOAL_MS).length;
    const figures = elected.length
      ? `min ${seconds(Math.min(...elected))}, p50 ${seconds(percentile(elected, 50))}, p90 ${seconds(percentile(elected, 90))}, max ${seconds(Math.max(...elected))}`
      : 'no round measured';
    summary(
      `cluster failover: ${FAILOVERS} leader kills on real hosts, new leader answering in ${figures} ` +
        `(goal < 3 s: ${verdict(elected.length > 0 && over === 0 && leaderless.length === 0)}${over ? `, ${over} over` : ''})` +
        `${leaderless.length ? `; FAILED rounds without a new leader: ${leaderless.join(', ')}` : ''}` +
        `${behind.length ? `; FAILED rounds whose restarted old leader did not catch up: ${behind.join(', ')}` : ''}` +
        `${erring.length ? `; rounds with ERROR lines in a manager's log: ${erring.join(', ')}` : ''}`,
    );
    console.log(`cluster: done in ${seconds(performance.now() - started)}`);
  } finally {
    await stopHarness();
  }
}

runBench('cluster', main);
