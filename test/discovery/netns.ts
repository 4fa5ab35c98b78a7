/**
 * Network namespaces for the discovery tests, so no multicast ever reaches the machine's real network card:
 *
 *   swl-mdns-a                         swl-mdns-b
 *     swl-mdva 10.78.0.1/24 ── veth ── swl-mdvb 10.78.0.2/24
 *     docker0  172.31.0.1/24 ─ veth ── swl-mdvc 172.31.0.2/24
 *                                      swl-mdns-c
 *
 * Namespace a is a Docker host: its `docker0` (a veth here; this kernel has no dummy links) must never be
 * advertised nor carry a packet of ours, and c sits on its other end to listen. Everything is made with unique
 * names, removed at the end, and removed first too in case a killed run left it behind. Roles run in child
 * processes (fixtures/mdns-node.ts) entered into a namespace with nsenter, speaking JSON lines.
 */

import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import readline from 'node:readline';

export const NS = { a: 'swl-mdns-a', b: 'swl-mdns-b', c: 'swl-mdns-c' } as const;
const FIXTURE = path.join(import.meta.dirname, 'fixtures', 'mdns-node.ts');

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why these tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to make network namespaces';
  try {
    execFileSync('nsenter', ['--version'], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'needs iproute2 and nsenter';
  }
  return undefined;
}

export function teardownNetwork(): void {
  for (const ns of Object.values(NS)) {
    try {
      ip('netns', 'del', ns); // takes the veths in it along
    } catch {
      // not there
    }
  }
}

export function setupNetwork(): void {
  teardownNetwork();
  for (const ns of Object.values(NS)) {
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  // Both ends are made inside the namespaces, so no name ever exists in the host's namespace (which has its own docker0).
  ip('-n', NS.a, 'link', 'add', 'swl-mdva', 'type', 'veth', 'peer', 'name', 'swl-mdvb', 'netns', NS.b);
  ip('-n', NS.a, 'link', 'add', 'docker0', 'type', 'veth', 'peer', 'name', 'swl-mdvc', 'netns', NS.c);
  ip('-n', NS.a, 'addr', 'add', '10.78.0.1/24', 'dev', 'swl-mdva');
  ip('-n', NS.b, 'addr', 'add', '10.78.0.2/24', 'dev', 'swl-mdvb');
  ip('-n', NS.a, 'addr', 'add', '172.31.0.1/24', 'dev', 'docker0');
  ip('-n', NS.c, 'addr', 'add', '172.31.0.2/24', 'dev', 'swl-mdvc');
  ip('-n', NS.a, 'link', 'set', 'swl-mdva', 'up');
  ip('-n', NS.a, 'link', 'set', 'docker0', 'up');
  ip('-n', NS.b, 'link', 'set', 'swl-mdvb', 'up');
  ip('-n', NS.c, 'link', 'set', 'swl-mdvc', 'up');
  // A veth reports carrier a moment after it is set up, and until then Node does not list its addresses.
  const links: Array<[string, string]> = [[NS.a, 'swl-mdva'], [NS.a, 'docker0'], [NS.b, 'swl-mdvb'], [NS.c, 'swl-mdvc']];
  const deadline = Date.now() + 10_000;
  for (const [ns, link] of links) {
    while (!execFileSync('ip', ['-n', ns, 'link', 'show', 'dev', link], { encoding: 'utf8' }).includes('LOWER_UP')) {
      if (Date.now() > deadline) throw new Error(`${link} in ${ns} did not come up`);
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

export type FixtureEvent = Record<string, unknown> & { event: string };

/** A fixture process in a namespace. */
export class FixtureProcess {
  readonly events: FixtureEvent[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(child: ChildProcessWithoutNullStreams) {
    this.child = child;
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.events.push(JSON.parse(line) as FixtureEvent);
      } catch {
        this.stderr += `stdout: ${line}\n`;
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exit = new Promise((resolve) => child.on('exit', () => ((this.exited = true), resolve())));
  }

  static start(ns: string, config: Record<string, unknown>): FixtureProcess {
    const child = spawn('nsenter', [`--net=/var/run/netns/${ns}`, process.execPath, FIXTURE, JSON.stringify(config)], { stdio: 'pipe' });
    return new FixtureProcess(child);
  }

  send(command: Record<string, unknown>): void {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
  }

  /** The first event (from the start) that matches; waits for it. */
  async waitFor(match: (event: FixtureEvent) => boolean, what: string, timeoutMs = 10_000): Promise<FixtureEvent> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.find(match);
      if (found) return found;
      const failed = this.events.find((event) => event.event === 'error');
      if (failed || this.exited || performance.now() > deadline) {
        throw new Error(`${what}: ${failed ? `fixture failed: ${String(failed.message)}` : this.exited ? 'fixture exited' : 'timed out'}\nevents: ${JSON.stringify(this.events)}\nstderr: ${this.stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Asks it to stop, then kills it if it has not exited within a few seconds. */
  async stop(): Promise<void> {
    if (this.exited) return;
    try {
      this.send({ cmd: 'stop' });
      this.child.stdin.end();
    } catch {
      // already gone
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await this.exit;
    clearTimeout(timer);
  }
}
