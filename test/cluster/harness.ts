/**
 * Real hosts for multi-node tests: each host is a network namespace on one bridge, with its own dockerd, its own
 * hostname, and processes the harness starts inside it — so a cluster test runs the shipped executable against real
 * engines over a real (if virtual) LAN, with faults a test can inject and undo.
 *
 * ```
 *   root namespace:  swl-br0 10.77.0.1/24 (mcast_snooping off) ── iptables FORWARD: accept swl-br0 → swl-br0,
 *        │                                                       drop swl-br0 → anything else
 *        ├── swl-vh1 ══ eth0 10.77.0.11 in netns swl-h1 (UTS: hostname h1): dockerd on /run/swl-docker-h1.sock,
 *        │                                                                  docker0 172.30.1.1/24, test processes
 *        └── swl-vh2 ══ eth0 10.77.0.12 in netns swl-h2 ...
 * ```
 *
 * Why it is built this way:
 * - Processes enter a host with `nsenter --net=… --uts=…`, which execs in place: the PID the harness holds is the
 *   process itself, so it can be signalled and is the only thing ever killed. `ip netns exec` is not used: it
 *   remounts /sys, and dockerd then fails with "Devices cgroup isn't mounted" (DESIGN.md).
 * - Each host has a persistent UTS namespace (bind-mounted under /run/swl-uts), made once, so every process of a host,
 *   its dockerd included, sees the same hostname, as on a real machine.
 * - The engines run with iptables on: their rules land in the host's own namespace (verified: the root tables are not
 *   touched), which is what makes published ports answer on the host's address. `--dns 10.77.0.1` and the FORWARD
 *   drop rule keep containers and hosts from sending traffic beyond the bridge (the machine's resolver is elsewhere).
 * - Each engine starts on an empty data root, removed again at stop: a kept one started no faster (measured: ≈0.45 s
 *   either way), and an empty one cannot carry an earlier run's containers, networks or swarm-mode state. The test
 *   image is saved once per run and loaded into every engine (≈0.1 s). At stop, containers are removed (killed) before
 *   their engine is stopped, which would otherwise wait on PID 1s that ignore SIGTERM.
 * - A partition disables the host's bridge port (`bridge link set … state disabled`): the link stays up, addresses
 *   and processes are untouched, and every frame to or from the host is silently dropped, as when a switch port dies.
 * - One harness at a time on a machine (the names are fixed): a lock file holds the owner's PID and start time; a
 *   second harness waits for it, and a dead owner's leftovers are removed before a run (see {@link cleanupLeftovers}).
 *   Processes left in a dead run's namespaces are found by their network namespace, engines by pidfile and command line.
 * - A capture is tcpdump on the bridge, in the root namespace, so it sees every frame between hosts; a plaintext probe
 *   (this runner's node, run inside two hosts) gives a test that looks for secrets in a capture its positive control.
 *
 * Traffic stays on loopback and 10.77.0.0/24: the harness itself only talks to the hosts' addresses and unix sockets.
 * Logs of every process (engines, daemons, spawned commands) are in `harness.dir`/logs; SWARMLET_HARNESS_KEEP=1 keeps
 * that dir after stop, to read after a failure.
 *
 * ```ts
 * const harness = await Harness.start({ hosts: 3, log: console.log });
 * after(() => harness.stop());
 * const [h1, h2] = harness.hosts;
 * const d1 = await h1.startDaemon(['--some-flag', h1.address]);   // extra flags pass through as given
 * assert.equal((await d1.cli(['init'])).code, 0);
 * await h2.partition(); ...; await h2.heal();
 * ```
 */

import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createWriteStream, promises as fs, type WriteStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { swarmletCommand, swarmletEnv, TEST_IMAGE } from '../helpers/daemon.ts';
import { type CommandResult, docker } from '../helpers/docker.ts';
import { type Reply, request } from '../helpers/unix-http.ts';

export const BRIDGE = 'swl-br0';
export const SUBNET = '10.77.0';
export const GATEWAY = `${SUBNET}.1`;
/** Marks the iptables rules the harness adds, so a later run can find those a killed run left. */
const RULE_COMMENT = 'swl-harness';
const NETNS_DIR = '/var/run/netns';
const UTS_DIR = '/run/swl-uts';
const LOCK_FILE = '/run/swl-harness.lock';
const TEMP_PREFIX = 'swl-harness-';
const MAX_HOSTS = 50;

/** The FORWARD rules the harness inserts: bridged traffic between hosts passes, everything else leaving them is dropped. */
const FORWARD_RULES = [
  ['-i', BRIDGE, '-o', BRIDGE, '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'ACCEPT'],
  ['-i', BRIDGE, '!', '-o', BRIDGE, '-m', 'comment', '--comment', RULE_COMMENT, '-j', 'DROP'],
];

const engineSocketOf = (n: number) => `/run/swl-docker-h${n}.sock`;
const engineDataRootOf = (n: number) => `/var/lib/swarmlet-test-docker-h${n}`;
const engineExecRootOf = (n: number) => `/run/swl-docker-h${n}`;
const enginePidFileOf = (n: number) => `/run/swl-docker-h${n}.pid`;

export class HarnessError extends Error {
  readonly code: 'command_failed' | 'timeout' | 'busy' | 'invalid_argument' | 'teardown_failed';
  override readonly cause?: unknown;

  constructor(code: HarnessError['code'], message: string, options: { cause?: unknown } = {}) {
    super(message);
    this.name = 'HarnessError';
    this.code = code;
    this.cause = options.cause;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Commands run in the root namespace (ip, iptables, bridge)

const execFileAsync = promisify(execFile);

/** The runner's environment with the sbin directories on PATH, where ip, iptables, bridge and dockerd live. */
const SYSTEM_ENV: NodeJS.ProcessEnv = { ...process.env, PATH: `${process.env.PATH ?? '/usr/bin:/bin'}:/usr/sbin:/sbin` };

/** Runs a setup command; a failure says which command and what it printed. */
async function run(file: string, args: string[]): Promise<string> {
  try {
    return (await execFileAsync(file, args, { env: SYSTEM_ENV, maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new HarnessError('command_failed', `${file} ${args.join(' ')} failed: ${(e.stderr || e.message).trim()}`, { cause: err });
  }
}

/** Runs a cleanup command whose failure (the thing is already gone) is expected. */
async function attempt(file: string, args: string[]): Promise<boolean> {
  return run(file, args).then(() => true, () => false);
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// Processes: liveness by PID (zombies count as dead), and their identity for the lock

async function procStat(pid: number): Promise<{ state: string; ppid: number; startTime: string } | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0]!, ppid: Number(fields[1]), startTime: fields[19]! };
  } catch {
    return undefined;
  }
}

async function isAlive(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X';
}

async function cmdline(pid: number): Promise<string[]> {
  return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0').filter(Boolean);
}

/** SIGKILL now, for a process of a host that the harness owns (a fault being injected); gone already is fine. */
function killNow(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

async function waitGone(pid: number): Promise<void> {
  while (await isAlive(pid)) await delay(20);
}

/** SIGTERM, then SIGKILL after `graceMs`, for a process this harness (or a killed run of it) started. */
async function terminate(pid: number, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(pid, s);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(pid))) return;
    await delay(50);
  }
  signal('SIGKILL');
  while (await isAlive(pid)) await delay(20);
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A process the harness started (inside a host, or tcpdump in the root namespace): its output is kept in memory and
 * written to a log file in the harness's directory, and it is ended by {@link Harness.stop} if still running.
 */
export class HostProcess {
  readonly pid: number;
  readonly name: string;
  /** Where stdout and stderr are written as they come, or undefined for short commands run by `exec`. */
  readonly logFile: string | undefined;
  readonly exited: Promise<Exit>;
  #child: ChildProcess;
  #stdout = '';
  #stderr = '';
  #all = '';
  #exit: Exit | undefined;
  #watchers = new Set<() => void>();

  constructor(child: ChildProcess, name: string, logFile: string | undefined) {
    if (child.pid === undefined) throw new HarnessError('command_failed', `could not start ${name}: ${child.spawnfile} did not run`);
    this.pid = child.pid;
    this.name = name;
    this.logFile = logFile;
    this.#child = child;
    const log: WriteStream | undefined = logFile ? createWriteStream(logFile) : undefined;
    // A log file that cannot be written (its directory removed under a run) loses the copy on disk, not the run:
    // the output is kept in memory all the same.
    log?.on('error', () => undefined);
    const take = (which: 'out' | 'err') => (text: string) => {
      if (which === 'out') this.#stdout += text;
      else this.#stderr += text;
      this.#all += text;
      log?.write(text);
      for (const watcher of this.#watchers) watcher();
    };
    // Decoded by the streams, so a character split across two reads stays whole.
    child.stdout?.setEncoding('utf8').on('data', take('out'));
    child.stderr?.setEncoding('utf8').on('data', take('err'));
    this.exited = new Promise((resolve) => {
      // 'close' comes after the output streams end, so logs() is complete when exited resolves.
      child.once('close', (code, signal) => {
        this.#exit = { code, signal };
        log?.end();
        for (const watcher of this.#watchers) watcher();
        resolve(this.#exit);
      });
    });
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** stdout and stderr interleaved as they arrived. */
  logs(): string {
    return this.#all;
  }

  stdout(): string {
    return this.#stdout;
  }

  stderr(): string {
    return this.#stderr;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.running) this.#child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async end(graceMs = 5_000): Promise<Exit> {
    if (!this.running) return this.exited;
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Resolves with the output once it matches `pattern`; rejects if the process exits first or on timeout. */
  waitForOutput(pattern: string | RegExp, timeoutMs = 10_000): Promise<string> {
    const matches = () => (typeof pattern === 'string' ? this.#all.includes(pattern) : pattern.test(this.#all));
    return new Promise((resolve, reject) => {
      const done = (err?: Error) => {
        this.#watchers.delete(check);
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(this.#all);
      };
      const check = () => {
        if (matches()) done();
        else if (!this.running) done(new HarnessError('command_failed', `${this.name} exited (${JSON.stringify(this.#exit)}) before printing ${pattern}:\n${this.#all}`));
      };
      const timer = setTimeout(() => done(new HarnessError('timeout', `${this.name} did not print ${pattern} within ${timeoutMs} ms:\n${this.#all}`)), timeoutMs);
      this.#watchers.add(check);
      check();
    });
  }
}

/** What a host needs from its harness: where to write, and the registry of processes to end at stop. */
interface HarnessContext {
  dir: string;
  track(process: HostProcess): void;
  nextLogFile(name: string): string;
}

function startProcess(ctx: HarnessContext, argv: string[], options: { name: string; env?: NodeJS.ProcessEnv; log?: boolean }): HostProcess {
  const [file, ...args] = argv;
  const child = spawn(file!, args, { env: options.env ?? SYSTEM_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  child.on('error', () => {
    // A failed spawn is reported by HostProcess (no pid) or by its exit; this keeps it from being an uncaught error.
  });
  const proc = new HostProcess(child, options.name, options.log === false ? undefined : ctx.nextLogFile(options.name));
  ctx.track(proc);
  return proc;
}

/**
 * Polls `ready` (an error counts as not yet: the socket may not exist) until it says yes, failing at once with the
 * process's output if `proc` exits first, and after `timeoutMs` otherwise.
 */
async function until(what: string, proc: HostProcess, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!proc.running) throw new HarnessError('command_failed', `${what} exited before it was ready:\n${proc.logs().slice(-4000)}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline) throw new HarnessError('timeout', `${what} was not ready within ${timeoutMs} ms:\n${proc.logs().slice(-4000)}`);
    await delay(50);
  }
}

const signalNumber = (signal: NodeJS.Signals | null) => (signal ? (os.constants.signals[signal] ?? 0) : 0);

// ---------------------------------------------------------------------------------------------------------------
// A host

/** One machine of the test cluster: a network namespace on the bridge, its hostname, its engine, its processes. */
export class Host {
  /** 1-based: host h1 has index 1. */
  readonly index: number;
  /** The hostname processes in the host see, and the name swarmlet daemons are given: `h1`. */
  readonly name: string;
  readonly netns: string;
  /** The root-namespace end of the host's veth, the port on the bridge. */
  readonly veth: string;
  /** The host's engine as swarmlet's --engine flag takes it. */
  readonly engine: string;
  readonly engineSocket: string;
  /** This host's own directory in the harness's temp dir (daemon data dirs and sockets live here). */
  readonly dir: string;
  #address: string;
  #ctx: HarnessContext;
  #dockerd: HostProcess | undefined;
  #daemon: Daemon | undefined;
  #partitioned = false;

  constructor(ctx: HarnessContext, index: number) {
    this.index = index;
    this.name = `h${index}`;
    this.netns = `swl-h${index}`;
    this.veth = `swl-vh${index}`;
    this.engineSocket = engineSocketOf(index);
    this.engine = `unix://${this.engineSocket}`;
    this.dir = path.join(ctx.dir, this.name);
    this.#address = `${SUBNET}.${10 + index}`;
    this.#ctx = ctx;
  }

  /** The host's current IPv4 address on the bridge (see {@link changeAddress}). */
  get address(): string {
    return this.#address;
  }

  get partitioned(): boolean {
    return this.#partitioned;
  }

  /** The engine's process, for tests that want its logs. */
  get dockerd(): HostProcess | undefined {
    return this.#dockerd;
  }

  /** The swarmlet daemon last started on this host. */
  get daemon(): Daemon | undefined {
    return this.#daemon;
  }

  /** The prefix that runs a command inside this host; it execs in place, so the PID is the command's own. */
  wrap(argv: string[]): string[] {
    return ['/usr/bin/nsenter', `--net=${NETNS_DIR}/${this.netns}`, `--uts=${UTS_DIR}/${this.netns}`, '--', ...argv];
  }

  /**
   * Starts `argv` inside the host; it runs until it exits, is killed, or the harness stops. `env` is the whole
   * environment (default: the runner's, with the sbin directories on PATH).
   */
  spawn(argv: string[], options: { env?: NodeJS.ProcessEnv; name?: string } = {}): HostProcess {
    const name = options.name ?? `${this.name}-${path.basename(argv[0] ?? 'process')}`;
    return startProcess(this.#ctx, this.wrap(argv), { name, ...(options.env ? { env: options.env } : {}) });
  }

  /** Runs `argv` inside the host to completion; killed after `timeoutMs`. A signal exit gives code 128 + signal. */
  async exec(argv: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CommandResult> {
    const proc = startProcess(this.#ctx, this.wrap(argv), { name: `${this.name}-exec`, log: false, ...(options.env ? { env: options.env } : {}) });
    const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    const exit = await proc.exited;
    clearTimeout(timer);
    return { code: exit.code ?? 128 + signalNumber(exit.signal), stdout: proc.stdout(), stderr: proc.stderr() };
  }

  /** The stock docker CLI against this host's engine. */
  docker(args: string[]): Promise<CommandResult> {
    return docker(args, this.engineSocket);
  }

  /** The engine's API, for tests that want it without the CLI. */
  engineApi<T = any>(method: string, apiPath: string, body?: unknown): Promise<Reply<T>> {
    return request<T>(this.engineSocket, method, apiPath, body);
  }

  /**
   * Runs `swarmlet daemon` inside the host against the host's engine, with hostname hN, and waits until its API
   * answers. `extraArgs` are passed as they are (e.g. listen or advertise flags). One daemon per host: its data dir
   * is the host's, so a daemon started after an earlier one stopped is the same node, as on a real machine.
   */
  async startDaemon(extraArgs: string[] = [], options: { env?: Record<string, string>; readyTimeoutMs?: number } = {}): Promise<Daemon> {
    if (this.#daemon?.running) throw new HarnessError('invalid_argument', `${this.name} already runs a swarmlet daemon: stop it first`);
    const daemon = new Daemon(this, extraArgs, options.env ?? {}, options.readyTimeoutMs ?? 30_000);
    this.#daemon = daemon;
    await daemon.start();
    return daemon;
  }

  /** Cuts the host off the bridge: its link stays up and its processes run, but no frame reaches it or leaves it. */
  async partition(): Promise<void> {
    await run('bridge', ['link', 'set', 'dev', this.veth, 'state', '0']);
    this.#partitioned = true;
  }

  /** Undoes {@link partition}. */
  async heal(): Promise<void> {
    await run('bridge', ['link', 'set', 'dev', this.veth, 'state', '3']);
    this.#partitioned = false;
  }

  /**
   * Moves the host to 10.77.0.`lastOctet`, as a DHCP lease change would. Removing the old address takes the default
   * route with it, so the route is put back.
   */
  async changeAddress(lastOctet: number): Promise<void> {
    if (!Number.isInteger(lastOctet) || lastOctet < 2 || lastOctet > 254) throw new HarnessError('invalid_argument', `invalid last octet ${lastOctet}: use 2..254`);
    const next = `${SUBNET}.${lastOctet}`;
    await run('ip', ['-n', this.netns, 'addr', 'del', `${this.#address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', this.netns, 'addr', 'add', `${next}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', this.netns, 'route', 'replace', 'default', 'via', GATEWAY]);
    this.#address = next;
  }

  /** Makes the namespace, its link on the bridge, its hostname, and starts its engine with the test image loaded. */
  async setUp(imageTar: Promise<string>): Promise<void> {
    const { netns, veth } = this;
    await run('ip', ['netns', 'add', netns]);
    await run('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
    await run('ip', ['link', 'set', veth, 'master', BRIDGE, 'up']);
    await run('ip', ['-n', netns, 'addr', 'add', `${this.#address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', netns, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', netns, 'route', 'add', 'default', 'via', GATEWAY]);
    const uts = path.join(UTS_DIR, netns);
    await fs.mkdir(UTS_DIR, { recursive: true });
    await fs.writeFile(uts, '');
    await run('unshare', [`--uts=${uts}`, 'hostname', this.name]);
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(path.join(this.dir, 'dockerd.json'), '{}\n'); // Not /etc/docker/daemon.json: the machine's engine settings are not the test's.
    await this.#startEngine();
    const loaded = await this.docker(['load', '-i', await imageTar]);
    if (loaded.code !== 0) throw new HarnessError('command_failed', `loading ${TEST_IMAGE} into ${this.name}: ${loaded.stderr}`);
  }

  /** Starts the host's dockerd on its data root (what an earlier run of it left is kept) and waits for it to answer. */
  async #startEngine(): Promise<void> {
    const { index } = this;
    const dockerd = startProcess(this.#ctx, this.wrap([
      'dockerd', '--config-file', path.join(this.dir, 'dockerd.json'), '--data-root', engineDataRootOf(index),
      '--exec-root', engineExecRootOf(index), '--pidfile', enginePidFileOf(index), '--host', this.engine,
      '--bip', `172.30.${index}.1/24`, '--dns', GATEWAY, '--shutdown-timeout', '3',
    ]), { name: `${this.name}-dockerd` });
    this.#dockerd = dockerd;
    await until(`${this.name}'s dockerd`, dockerd, async () => (await this.engineApi('GET', '/_ping')).status === 200, 60_000);
  }

  /**
   * The engine crashes: dockerd and its containerd die by SIGKILL and stay down. The containers' shims and the
   * containers live on, as after a real engine crash; {@link restartEngine} brings the engine back on the same data
   * root, and it ends them (no live-restore).
   */
  async killEngine(): Promise<void> {
    const engine = await this.#engineProcesses(['containerd']);
    this.#dockerd?.kill('SIGKILL');
    for (const pid of engine) killNow(pid);
    await Promise.all([this.#dockerd?.exited, ...engine.map(waitGone)]);
    await this.#forgetContainerd();
  }

  /**
   * The power goes: every process of the host dies at once by SIGKILL — its swarmlet daemon, its engine, the
   * containers' shims and the containers themselves. Bring it back with {@link restartEngine} and the daemon's start.
   */
  async powerCut(): Promise<void> {
    const containers = await this.#containerProcesses();
    const engine = await this.#engineProcesses(['containerd', 'containerd-shim']);
    const daemon = this.#daemon?.running ? this.#daemon.process : undefined;
    daemon?.kill('SIGKILL');
    this.#dockerd?.kill('SIGKILL');
    for (const pid of [...containers, ...engine]) killNow(pid);
    await Promise.all([daemon?.exited, this.#dockerd?.exited, ...[...containers, ...engine].map(waitGone)]);
    await this.#forgetContainerd();
  }

  /**
   * A killed containerd whose parent died too waits as a zombie until init reaps it, which here may be a while; the
   * next dockerd would find its pid file, take it for a live containerd and wait on it in vain. It is dead: forget it.
   */
  async #forgetContainerd(): Promise<void> {
    await fs.rm(path.join(engineExecRootOf(this.index), 'containerd', 'containerd.pid'), { force: true });
  }

  /** Every process running in the host: its engine, its daemon, whatever was started in it (not its containers). */
  processes(): Promise<number[]> {
    return processesInNetns(path.join(NETNS_DIR, this.netns));
  }

  /** Processes of the host's engine other than dockerd, by command name: they live in the host's network namespace. */
  async #engineProcesses(names: string[]): Promise<number[]> {
    const pids = await this.processes();
    // /proc/PID/comm holds the first 15 bytes of the name: containerd-shim-runc-v2 reads containerd-shim.
    const named = await Promise.all(pids.map(async (pid) => (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim()));
    return pids.filter((_, i) => names.includes(named[i]!));
  }

  /** The processes of this engine's containers: each container's cgroup, found from the containers in its data root. */
  async #containerProcesses(): Promise<number[]> {
    const pids: number[] = [];
    for (const dir of await containerCgroups(this.index)) {
      const text = await fs.readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      pids.push(...text.split('\n').filter(Boolean).map(Number));
    }
    return [...new Set(pids)];
  }

  /**
   * Restarts the host's engine on the same data root, as an upgrade, or a crash and restart, would: SIGTERM if it
   * runs (see {@link killEngine} for a crash), then a new dockerd. Containers and images are kept; running ones end.
   */
  async restartEngine(): Promise<void> {
    if (this.#dockerd?.running) await this.#dockerd.end(20_000);
    await this.#startEngine();
  }

  /** Removes every container, and the networks and volumes nothing uses, from this host's engine. */
  clearEngine(): Promise<void> {
    return clearEngineAt(this.engineSocket);
  }

  /** Empties the engine and stops it; the namespace itself is removed by the harness. */
  async stopEngine(): Promise<void> {
    const dockerd = this.#dockerd;
    if (!dockerd?.running) return;
    await this.clearEngine().catch(() => undefined); // Stopping still matters when the engine does not answer.
    await dockerd.end(20_000);
  }
}

/**
 * Removes every container (killed, not stopped: a test container's PID 1 often ignores SIGTERM, and an engine
 * stopping it would wait for it), and the networks and volumes nothing uses, from the engine at `socket`.
 */
async function clearEngineAt(socket: string, timeoutMs = 30_000): Promise<void> {
  const clear = async () => {
    const containers = await request<{ Id: string }[]>(socket, 'GET', '/containers/json?all=1');
    await Promise.all(containers.body.map(async (c) => {
      const removed = await request(socket, 'DELETE', `/containers/${c.Id}?force=1&v=1`);
      if (removed.status >= 300 && removed.status !== 404) throw new HarnessError('command_failed', `removing container ${c.Id} from ${socket}: ${JSON.stringify(removed.body)}`);
    }));
    await request(socket, 'POST', '/networks/prune');
    await request(socket, 'POST', '/volumes/prune');
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HarnessError('timeout', `the engine at ${socket} did not clear within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([clear(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// A swarmlet daemon on a host

/** `swarmlet daemon` running inside a host; its data dir survives stop, kill9 and restart. */
export class Daemon {
  readonly host: Host;
  readonly extraArgs: readonly string[];
  readonly dataDir: string;
  readonly socket: string;
  #env: Record<string, string>;
  #readyTimeoutMs: number;
  #process: HostProcess | undefined;

  constructor(host: Host, extraArgs: string[], env: Record<string, string>, readyTimeoutMs: number) {
    this.host = host;
    this.extraArgs = extraArgs;
    this.dataDir = path.join(host.dir, 'data');
    this.socket = path.join(host.dir, 'swarmlet.sock');
    this.#env = env;
    this.#readyTimeoutMs = readyTimeoutMs;
  }

  /** The current run of the daemon (a new one after each start). */
  get process(): HostProcess {
    if (!this.#process) throw new HarnessError('invalid_argument', `the daemon on ${this.host.name} was never started`);
    return this.#process;
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** The current run's output. */
  logs(): string {
    return this.#process?.logs() ?? '';
  }

  /** Starts the daemon (again, after stop or kill9) and waits until `GET /_ping` answers. */
  async start(): Promise<void> {
    if (this.running) throw new HarnessError('invalid_argument', `the daemon on ${this.host.name} is already running`);
    const argv = [
      ...swarmletCommand(), 'daemon', '--data-dir', this.dataDir, '--socket', this.socket, '--engine', this.host.engine,
      '--hostname', this.host.name, ...this.extraArgs,
    ];
    const proc = this.host.spawn(argv, { env: swarmletEnv(this.#env), name: `${this.host.name}-swarmlet` });
    this.#process = proc;
    await until(`the swarmlet daemon on ${this.host.name}`, proc, async () => (await this.api('GET', '/_ping')).status === 200, this.#readyTimeoutMs);
  }

  api<T = any>(method: string, apiPath: string, body?: unknown): Promise<Reply<T>> {
    return request<T>(this.socket, method, apiPath, body);
  }

  /** `swarmlet -H unix://<socket> ...args`, run inside the host with no node on PATH. */
  cli(args: string[]): Promise<CommandResult> {
    return this.host.exec([...swarmletCommand(), '-H', `unix://${this.socket}`, ...args], { env: swarmletEnv(this.#env) });
  }

  /** kill -9, as a power cut or an OOM kill would. */
  async kill9(): Promise<void> {
    this.#process?.kill('SIGKILL');
    await this.#process?.exited;
  }

  /** SIGTERM and wait (SIGKILL after `graceMs`). */
  async stop(graceMs = 10_000): Promise<void> {
    await this.#process?.end(graceMs);
  }

  /** Stop, then start on the same data dir. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The harness

export interface HarnessOptions {
  /** How many hosts, h1..hN. */
  hosts: number;
  /** Progress lines (start-up timings, waiting for another run); default: none. */
  log?: (line: string) => void;
  /** How long to wait for another harness on this machine to finish; default 10 minutes. */
  lockTimeoutMs?: number;
}

export interface HarnessTimings {
  /** Waiting for another harness on this machine to stop. */
  lockWaitMs: number;
  /** Removing an earlier run's leftovers. */
  cleanupMs: number;
  /** Per host, from its namespace being made to its engine answering with the test image loaded (hosts start in parallel). */
  hostsMs: Record<string, number>;
  totalMs: number;
}

/** A packet capture on the bridge; stop() returns the pcap file's bytes. */
export interface Capture {
  file: string;
  stop(): Promise<Buffer>;
}

export class Harness {
  readonly hosts: Host[];
  /** The per-run temp dir: logs, daemon data dirs, captures. Removed at stop unless SWARMLET_HARNESS_KEEP=1. */
  readonly dir: string;
  timings: HarnessTimings = { lockWaitMs: 0, cleanupMs: 0, hostsMs: {}, totalMs: 0 };
  #processes = new Set<HostProcess>();
  #rulesAdded: string[][] = [];
  #logSeq = 0;
  #stopping: Promise<void> | undefined;
  #ctx: HarnessContext;
  /** If the runner exits without stop() (a forgotten after hook, process.exit), its processes are at least signalled. */
  #onExit = () => {
    for (const proc of this.#processes) proc.kill('SIGTERM');
  };

  private constructor(dir: string, count: number) {
    this.dir = dir;
    this.#ctx = {
      dir,
      track: (proc) => {
        this.#processes.add(proc);
        void proc.exited.then(() => this.#processes.delete(proc));
      },
      nextLogFile: (name) => path.join(dir, 'logs', `${String(++this.#logSeq).padStart(3, '0')}-${name}.log`),
    };
    this.hosts = Array.from({ length: count }, (_, i) => new Host(this.#ctx, i + 1));
    process.once('exit', this.#onExit);
  }

  /** Makes the bridge and `hosts` hosts, each with a running engine holding the test image. */
  static async start(options: HarnessOptions): Promise<Harness> {
    const { hosts: count } = options;
    if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS) throw new HarnessError('invalid_argument', `hosts must be 1..${MAX_HOSTS}, not ${count}`);
    if (current) throw new HarnessError('busy', 'a harness is already running in this process: stop it before starting another');
    const started = Date.now();
    await acquireLock(options.lockTimeoutMs ?? 10 * 60_000, options.log);
    const lockWaitMs = Date.now() - started;
    let harness: Harness | undefined;
    try {
      await removeLeftovers();
      const cleanupMs = Date.now() - started - lockWaitMs;
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), TEMP_PREFIX));
      await fs.writeFile(path.join(dir, 'owner'), `${process.pid}\n`);
      await fs.mkdir(path.join(dir, 'logs'));
      harness = new Harness(dir, count);
      current = harness;
      const imageTar = path.join(dir, 'image.tar');
      // Saved once, in parallel with the bridge, and loaded into every engine.
      const saved = docker(['save', '-o', imageTar, TEST_IMAGE]).then((r) => {
        if (r.code !== 0) throw new HarnessError('command_failed', `docker save ${TEST_IMAGE}: ${r.stderr} (build/setup.sh builds it)`);
        return imageTar;
      });
      saved.catch(() => undefined); // Awaited by each host; this keeps an early failure from being unhandled.
      await harness.#makeBridge();
      const took = await Promise.all(harness.hosts.map(async (host) => {
        const t0 = Date.now();
        await host.setUp(saved);
        return [host.name, Date.now() - t0] as const;
      }));
      const hostsMs = Object.fromEntries(took);
      harness.timings = { lockWaitMs, cleanupMs, hostsMs, totalMs: Date.now() - started };
      const each = Object.entries(hostsMs).map(([h, ms]) => `${h} ${ms} ms`).join(', ');
      options.log?.(`harness: ${count} host(s) ready in ${harness.timings.totalMs} ms (lock wait ${lockWaitMs} ms, leftover cleanup ${cleanupMs} ms; ${each})`);
      return harness;
    } catch (err) {
      if (harness) await harness.stop().catch(() => undefined);
      else await releaseLock();
      throw err;
    }
  }

  async #makeBridge(): Promise<void> {
    // Snooping off: the bridge floods multicast to every port, so mDNS queries and answers reach every host.
    await run('ip', ['link', 'add', BRIDGE, 'type', 'bridge', 'mcast_snooping', '0']);
    await run('ip', ['addr', 'add', `${GATEWAY}/24`, 'dev', BRIDGE]);
    await run('ip', ['link', 'set', BRIDGE, 'up']);
    // Inserted in reverse so they end up in FORWARD_RULES' order, at the top of FORWARD, before Docker's chains
    // (the machine's dockerd sets FORWARD's policy to DROP and loads br_netfilter, so bridged frames meet these rules).
    for (const rule of [...FORWARD_RULES].reverse()) {
      await run('iptables', ['-I', 'FORWARD', ...rule]);
      this.#rulesAdded.push(rule);
    }
  }

  /** Host `h2` by name, or by index. */
  host(which: string | number): Host {
    const host = typeof which === 'number' ? this.hosts[which - 1] : this.hosts.find((h) => h.name === which);
    if (!host) throw new HarnessError('invalid_argument', `no host ${which}: this harness has h1..h${this.hosts.length}`);
    return host;
  }

  /** Processes started by the harness that are still running. */
  get processes(): HostProcess[] {
    return [...this.#processes];
  }

  /** Starts `tcpdump -i swl-br0` into a file in the harness's dir; resolves once tcpdump is listening. */
  async capture(): Promise<Capture> {
    const file = path.join(this.dir, `capture-${++this.#logSeq}.pcap`);
    // --immediate-mode: without it libpcap hands packets over in blocks, and those still in the ring when tcpdump is
    // stopped are never written. -U writes each packet as it is handed over.
    const proc = startProcess(this.#ctx, ['tcpdump', '-i', BRIDGE, '-n', '--immediate-mode', '-U', '-w', file], { name: 'tcpdump' });
    await proc.waitForOutput('listening on');
    return {
      file,
      async stop() {
        // tcpdump says nothing when it has written a packet: the file not growing for 150 ms is the sign it is done
        // with what already crossed the bridge. A live cluster never stops talking (heartbeats, Raft), so this
        // waits at most a second: by then what crossed before stop() was called has been written.
        let size = -1;
        const deadline = Date.now() + 1_000;
        for (let still = 0; still < 3 && proc.running && Date.now() < deadline; ) {
          const now = (await fs.stat(file).catch(() => undefined))?.size ?? 0;
          still = now === size ? still + 1 : 0;
          size = now;
          await delay(50);
        }
        proc.kill('SIGINT');
        await proc.end(5_000);
        return fs.readFile(file);
      },
    };
  }

  /**
   * Sends `marker` in plaintext over TCP from one host to another (h1 to h2 by default) and waits until it arrived:
   * the positive control for a capture that must not contain a secret. Runs this test runner's node inside the hosts.
   */
  async plaintextProbe(marker: string, options: { from?: Host; to?: Host; port?: number } = {}): Promise<void> {
    const from = options.from ?? this.hosts[0]!;
    const to = options.to ?? this.hosts[1];
    if (!to || to === from) throw new HarnessError('invalid_argument', 'a plaintext probe crosses the bridge: it needs two different hosts');
    const port = String(options.port ?? 47_123);
    const server = to.spawn([process.execPath, '-e', PROBE_SERVER, to.address, port, marker], { name: `${to.name}-probe-server` });
    try {
      await server.waitForOutput('listening');
      const client = await from.exec([process.execPath, '-e', PROBE_CLIENT, to.address, port, marker], { timeoutMs: 10_000 });
      if (client.code !== 0) throw new HarnessError('command_failed', `probe client on ${from.name} failed (${client.code}): ${client.stderr}`);
      await server.waitForOutput('received', 10_000);
    } finally {
      await server.end(1_000);
    }
  }

  /**
   * Ends every process the harness started, stops the engines, and removes the namespaces, links, bridge, rules and
   * temp dir. Safe to call twice (the second call waits for the first); throws once at the end if a step failed.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#teardown();
    return this.#stopping;
  }

  async #teardown(): Promise<void> {
    process.off('exit', this.#onExit);
    const errors: unknown[] = [];
    const step = async (what: Promise<unknown>) => {
      try {
        await what;
      } catch (err) {
        errors.push(err);
      }
    };
    const engines = new Set(this.hosts.map((h) => h.dockerd));
    // Test processes first (daemons would otherwise react to their engine going away), then the engines.
    await Promise.all([...this.#processes].filter((p) => !engines.has(p)).map((p) => step(p.end(5_000))));
    await Promise.all(this.hosts.map((h) => step(h.stopEngine())));
    await Promise.all([...this.#processes].map((p) => step(p.end(1_000))));
    for (const host of this.hosts) {
      await step(removeTree(engineExecRootOf(host.index)));
      await step(removeContainerCgroups(host.index));
      await step(removeTree(engineDataRootOf(host.index)));
      await step(removeHostNetwork(host.index));
    }
    await step(attempt('ip', ['link', 'del', BRIDGE]));
    await fs.rmdir(UTS_DIR).catch(() => undefined); // When empty.
    for (const rule of this.#rulesAdded.splice(0)) await step(run('iptables', ['-D', 'FORWARD', ...rule]));
    if (process.env.SWARMLET_HARNESS_KEEP === '1') console.error(`harness: kept ${this.dir}`);
    else await step(fs.rm(this.dir, { recursive: true, force: true }));
    await step(releaseLock());
    if (current === this) current = undefined;
    if (errors.length > 0) {
      throw new HarnessError('teardown_failed', `harness teardown: ${errors.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`, { cause: errors });
    }
  }
}

const PROBE_SERVER = `
const [address, port, marker] = process.argv.slice(1);
let seen = '';
require('node:net').createServer((socket) => socket.on('data', (chunk) => {
  seen += chunk;
  if (seen.includes(marker)) { console.log('received'); process.exit(0); }
})).listen(Number(port), address, () => console.log('listening'));
`;

const PROBE_CLIENT = `
const [address, port, marker] = process.argv.slice(1);
const socket = require('node:net').connect(Number(port), address, () => socket.end(marker));
socket.setTimeout(5000, () => { console.error('probe: timed out'); process.exit(1); });
socket.on('close', () => process.exit(0));
socket.on('error', (err) => { console.error('probe: ' + err.message); process.exit(1); });
`;

// ---------------------------------------------------------------------------------------------------------------
// Leftovers and the lock

/** Removes a host's UTS namespace file and network namespace (its veth goes with it), ignoring what is gone. */
async function removeHostNetwork(index: number): Promise<void> {
  const name = `swl-h${index}`;
  const uts = path.join(UTS_DIR, name);
  await attempt('umount', [uts]);
  await fs.rm(uts, { force: true });
  await attempt('ip', ['netns', 'del', name]);
  await attempt('ip', ['link', 'del', `swl-vh${index}`]);
}

/**
 * Removes an engine's exec root or data root once the engine is gone. What is mounted in them is unmounted first:
 * dockerd leaves network namespaces bind-mounted in its exec root (netns/default, made for host-network containers,
 * holds the host's namespace alive), and an engine killed with SIGKILL leaves its data root bind-mounted on itself
 * and its containers' layers mounted. Nothing is deleted through a mount that would not go.
 */
async function removeTree(dir: string): Promise<void> {
  await unmountUnder(dir);
  const still = (await mountPoints()).filter((p) => p === dir || p.startsWith(`${dir}/`));
  if (still.length > 0) throw new HarnessError('command_failed', `${dir} not removed: ${still.join(', ')} would not unmount`);
  await fs.rm(dir, { recursive: true, force: true });
}

async function mountPoints(): Promise<string[]> {
  return (await fs.readFile('/proc/self/mountinfo', 'utf8')).split('\n').map((line) => line.split(' ')[4] ?? '').filter(Boolean);
}

/** Unmounts `dir` and everything mounted below it, deepest first, once no engine uses them. */
async function unmountUnder(dir: string): Promise<void> {
  const points = (await mountPoints()).filter((p) => p === dir || p.startsWith(`${dir}/`));
  for (const point of points.sort((a, b) => b.length - a.length)) {
    if (!(await attempt('umount', [point]))) await attempt('umount', ['-l', point]);
  }
}

/** Stops a dockerd a killed run left, found by its pidfile and checked by its command line before it is signalled. */
async function stopStaleEngine(index: number): Promise<void> {
  const pidFile = enginePidFileOf(index);
  const pid = Number((await fs.readFile(pidFile, 'utf8').catch(() => '')).trim());
  if (pid > 0 && (await isAlive(pid))) {
    const argv = await cmdline(pid);
    if (path.basename(argv[0] ?? '') === 'dockerd' && argv.includes(engineDataRootOf(index))) {
      await clearEngineAt(engineSocketOf(index), 10_000).catch(() => undefined); // Else it would stop them, slowly.
      await terminate(pid, 20_000);
    }
  }
  // Gone now, or the PID was reused by something else: either way the next dockerd must not find the pidfile.
  await fs.rm(pidFile, { force: true });
  await fs.rm(engineSocketOf(index), { force: true });
}

/** The cgroup directories of an engine's containers, under each controller (cgroup v1) or the unified tree (v2). */
async function containerCgroups(index: number): Promise<string[]> {
  const ids = await fs.readdir(path.join(engineDataRootOf(index), 'containers')).catch(() => [] as string[]);
  const roots = (await fs.readdir('/sys/fs/cgroup').catch(() => [] as string[])).map((c) => path.join('/sys/fs/cgroup', c, 'docker'));
  roots.push('/sys/fs/cgroup/docker');
  return ids.flatMap((id) => roots.map((root) => path.join(root, id)));
}

/**
 * A container killed with its engine (a power cut) leaves its cgroups behind, empty: nobody was left to remove
 * them. Removing an empty cgroup is all rmdir does; one still in use is refused by the kernel and kept.
 */
async function removeContainerCgroups(index: number): Promise<void> {
  await Promise.all((await containerCgroups(index)).map((dir) => fs.rmdir(dir).catch(() => undefined)));
}

async function allPids(): Promise<number[]> {
  return (await fs.readdir('/proc')).map(Number).filter((pid) => Number.isInteger(pid) && pid !== process.pid);
}

/** PIDs of the processes in the network namespace mounted at `file`. */
/** Every process whose network namespace is the one at `file` (a host's, or a container's /proc/PID/ns/net). */
export async function processesInNetns(file: string): Promise<number[]> {
  const inode = (await fs.stat(file).catch(() => undefined))?.ino;
  if (inode === undefined) return [];
  const found: number[] = [];
  for (const pid of await allPids()) {
    const link = await fs.readlink(`/proc/${pid}/ns/net`).catch(() => '');
    if (link === `net:[${inode}]`) found.push(pid);
  }
  return found;
}

/**
 * Ends a process a killed run left in a host. A container shim there (its engine died without stopping its
 * containers) takes its containers with it: they would otherwise run on, orphaned, in namespaces nothing names.
 */
async function endStrayProcess(pid: number): Promise<void> {
  const argv0 = path.basename((await cmdline(pid))[0] ?? '');
  if (argv0.startsWith('containerd-shim')) {
    for (const child of await allPids()) {
      if ((await procStat(child))?.ppid === pid) await terminate(child, 0);
    }
  }
  await terminate(pid, 5_000);
}

async function removeLeftovers(): Promise<void> {
  const indexes = new Set<number>();
  const collect = (re: RegExp, names: string[]) => {
    for (const name of names) {
      const m = re.exec(name);
      if (m) indexes.add(Number(m[1]));
    }
  };
  collect(/^swl-docker-h(\d+)(\.pid)?$/, await fs.readdir('/run').catch(() => []));
  collect(/^swarmlet-test-docker-h(\d+)$/, await fs.readdir('/var/lib').catch(() => []));
  collect(/^swl-h(\d+)$/, await fs.readdir(NETNS_DIR).catch(() => []));
  collect(/^swl-h(\d+)$/, await fs.readdir(UTS_DIR).catch(() => []));
  collect(/^\d+: swl-vh(\d+)[@:]/, (await run('ip', ['-o', 'link', 'show'])).split('\n'));
  collect(/^\/var\/lib\/swarmlet-test-docker-h(\d+)$/, await mountPoints());

  // Engines first, gracefully, so their containers stop with them; then whatever else still runs in the namespace
  // (test daemons of the killed run, or an engine's containerd and shims if the engine itself had died).
  await Promise.all([...indexes].map(async (index) => {
    await stopStaleEngine(index);
    await Promise.all((await processesInNetns(path.join(NETNS_DIR, `swl-h${index}`))).map(endStrayProcess));
    await removeTree(engineExecRootOf(index));
    await removeContainerCgroups(index);
    await removeTree(engineDataRootOf(index));
    await removeHostNetwork(index);
  }));
  await attempt('ip', ['link', 'del', BRIDGE]);
  await fs.rmdir(UTS_DIR).catch(() => undefined);
  for (const line of (await run('iptables', ['-S', 'FORWARD'])).split('\n')) {
    if (line.startsWith('-A FORWARD ') && line.includes(`--comment ${RULE_COMMENT} `)) {
      await run('iptables', ['-D', ...line.slice(3).trim().split(/\s+/)]);
    }
  }
  // Lock candidates of runs killed while they waited for the lock.
  for (const entry of await fs.readdir(path.dirname(LOCK_FILE))) {
    const m = /^swl-harness\.lock\.(\d+)$/.exec(entry);
    if (m && !(await isAlive(Number(m[1])))) await fs.rm(path.join(path.dirname(LOCK_FILE), entry), { force: true });
  }
  // Temp dirs of runs whose process is gone (unless they were kept on purpose).
  if (process.env.SWARMLET_HARNESS_KEEP === '1') return;
  for (const entry of await fs.readdir(os.tmpdir())) {
    if (!entry.startsWith(TEMP_PREFIX)) continue;
    const dir = path.join(os.tmpdir(), entry);
    const owner = Number((await fs.readFile(path.join(dir, 'owner'), 'utf8').catch(() => '')).trim());
    if (!(owner > 0 && owner !== process.pid && (await isAlive(owner)))) await fs.rm(dir, { recursive: true, force: true });
  }
}

interface LockOwner {
  pid: number;
  startTime: string;
}

async function lockOwnerAlive(owner: LockOwner): Promise<boolean> {
  const stat = await procStat(owner.pid);
  return stat !== undefined && stat.state !== 'Z' && stat.startTime === owner.startTime;
}

/** The harness this process runs, if any: one at a time, as on the machine. */
let current: Harness | undefined;
/** How many holders in this process share the machine-wide lock (a harness, {@link holdingLock} scopes). */
let lockDepth = 0;

async function acquireLock(timeoutMs: number, log?: (line: string) => void): Promise<void> {
  if (lockDepth > 0) {
    lockDepth++;
    return;
  }
  const me: LockOwner = { pid: process.pid, startTime: (await procStat(process.pid))!.startTime };
  const deadline = Date.now() + timeoutMs;
  // Written aside, then linked into place: the lock appears with its content, or not at all.
  const mine = `${LOCK_FILE}.${process.pid}`;
  await fs.writeFile(mine, JSON.stringify(me));
  try {
    await lockLoop(mine, deadline, timeoutMs, log);
    lockDepth = 1;
  } finally {
    await fs.rm(mine, { force: true });
  }
}

async function lockLoop(mine: string, deadline: number, timeoutMs: number, log?: (line: string) => void): Promise<void> {
  let told = false;
  for (;;) {
    try {
      await fs.link(mine, LOCK_FILE);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner: LockOwner | undefined;
    try {
      owner = JSON.parse(await fs.readFile(LOCK_FILE, 'utf8')) as LockOwner;
    } catch {
      owner = undefined; // Unreadable (removed meanwhile, or not ours to parse): treated as stale.
    }
    if (!owner || !(await lockOwnerAlive(owner))) {
      await fs.rm(LOCK_FILE, { force: true });
      continue;
    }
    if (owner.pid === process.pid) throw new HarnessError('busy', `${LOCK_FILE} names this process, which does not hold it`);
    if (Date.now() > deadline) throw new HarnessError('busy', `another harness (pid ${owner.pid}) still holds ${LOCK_FILE} after ${timeoutMs} ms`);
    if (!told) log?.(`harness: waiting for the harness of pid ${owner.pid} to finish`);
    told = true;
    await delay(250);
  }
}

async function releaseLock(): Promise<void> {
  if (lockDepth === 0) return;
  if (--lockDepth > 0) return;
  const owner = await fs.readFile(LOCK_FILE, 'utf8').then((t) => JSON.parse(t) as LockOwner, () => undefined);
  if (owner?.pid === process.pid) await fs.rm(LOCK_FILE, { force: true });
}

/**
 * Runs `fn` holding the machine-wide harness lock (waiting up to `timeoutMs` for another run to finish), so what it
 * looks at is not changed by another harness meanwhile: e.g. a test that checks stop() left nothing behind, before
 * the next run in the queue starts. Nests with a harness this process runs.
 */
export async function holdingLock<T>(fn: () => Promise<T>, timeoutMs = 10 * 60_000): Promise<T> {
  await acquireLock(timeoutMs);
  try {
    return await fn();
  } finally {
    await releaseLock();
  }
}

/**
 * Removes what a killed run left: its engines (by pidfile, after checking the command line), the processes still in
 * its namespaces, the namespaces, links, bridge and FORWARD rules, and temp dirs whose owner is gone. Harness.start
 * does this itself; this is for scripts. Fails at once while another live harness holds the lock.
 */
export async function cleanupLeftovers(): Promise<void> {
  if (current) throw new HarnessError('busy', 'this process runs a harness: its hosts are not leftovers');
  await holdingLock(removeLeftovers, 0);
}
