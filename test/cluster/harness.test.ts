/**
 * The cluster-test harness checked against the real thing: two namespaced hosts whose engines run containers that
 * reach each other across the bridge; faults that really cut and restore that path; a capture that really holds what
 * crossed the bridge; hostnames, multicast (mDNS depends on it) and swarmlet daemons inside the hosts; and a stop, or
 * a later run after a killed one, that leaves nothing behind. Each check is made so it fails when the thing it checks
 * does not happen (a partition that drops nothing, a capture on the wrong interface...).
 */

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { TEST_IMAGE } from '../helpers/daemon.ts';
import { waitFor } from '../helpers/unix-http.ts';
import { cleanupLeftovers, Harness, holdingLock, type Host } from './harness.ts';

const WEB_PORT = 8080;

/**
 * GETs `url` from inside `host` with node's fetch; resolves with the body, or with an `error:` line. It exits as soon
 * as it has an answer: an aborted fetch would otherwise hold the process until its connect attempt gives up (10 s).
 */
async function fetchFrom(host: Host, url: string, timeoutMs = 1_500): Promise<string> {
  const script = `fetch(process.argv[1], { signal: AbortSignal.timeout(${timeoutMs}) })
    .then((r) => r.text()).then((t) => process.stdout.write(t), (e) => process.stdout.write('error: ' + e.name))
    .finally(() => process.exit(0))`;
  const result = await host.exec([process.execPath, '-e', script, url]);
  return result.stdout.trim();
}

/** The machine's view of what the harness makes: namespaces, links, FORWARD rules and engines. */
function leftovers() {
  const env = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` };
  const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { encoding: 'utf8', env });
  return {
    // Only the harness's own names: other tests may have namespaces of their own (swl-mdns-*...).
    namespaces: sh('ip netns list').split('\n').filter((l) => /^swl-h\d+\b/.test(l)),
    links: sh('ip -o link show').split('\n').filter((l) => /^\d+: (swl-vh\d+|swl-br0)[@:]/.test(l)),
    rules: sh('iptables -S FORWARD').split('\n').filter((l) => l.includes('swl-br0') || l.includes('swl-harness')),
    engines: sh('ps -eo stat=,args=').split('\n').filter((l) => !l.startsWith('Z') && /swarmlet-test-docker-|\/run\/swl-docker-h/.test(l)),
    mounts: sh('cat /proc/self/mountinfo').split('\n').filter((l) => /swarmlet-test-docker-|\/run\/swl-docker-h|\/run\/swl-uts|\/netns\/swl-h\d/.test(l)),
    pidFiles: sh('ls /run').split('\n').filter((f) => /^swl-docker-h\d+\.pid$/.test(f)),
    dataRoots: sh('ls /var/lib').split('\n').filter((f) => /^swarmlet-test-docker-h\d+$/.test(f)),
  };
}

describe('cluster test harness', () => {
  let harness: Harness;
  let h1: Host;
  let h2: Host;

  before(async () => {
    harness = await Harness.start({ hosts: 2, log: (line) => console.log(line) });
    [h1, h2] = [harness.host('h1'), harness.host('h2')];
    // A web server on each host's engine, published on the host's port 8080, each serving its own name.
    for (const host of harness.hosts) {
      const run = await host.docker(['run', '-d', '--name', 'web', '-p', `${WEB_PORT}:80`, TEST_IMAGE, 'sh', '-c',
        `mkdir -p /www && echo web-on-${host.name} > /www/index.html && exec httpd -f -p 80 -h /www`]);
      assert.equal(run.code, 0, run.stderr);
    }
  });

  after(() => harness?.stop());

  it('starts each host with its own engine, address and hostname', async () => {
    assert.deepEqual(Object.keys(harness.timings.hostsMs), ['h1', 'h2']);
    for (const host of harness.hosts) {
      const info = await host.engineApi<{ Name: string }>('GET', '/info');
      assert.equal(info.body.Name, host.name, 'the engine runs in the host UTS namespace');
      const hostname = await host.exec(['hostname']);
      assert.equal(hostname.stdout.trim(), host.name);
      const link = await host.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
      assert.match(link.stdout, new RegExp(`inet ${host.address.replaceAll('.', '\\.')}/24`));
      const flags = await host.exec(['ip', '-o', 'link', 'show', 'dev', 'eth0']);
      assert.match(flags.stdout, /MULTICAST/);
    }
    assert.notEqual((await h1.exec(['hostname'])).stdout, execFileSync('hostname', { encoding: 'utf8' }), 'the machine keeps its own name');
    const spawned = h2.spawn(['sh', '-c', 'echo "I am $(hostname)"']);
    await spawned.exited;
    assert.equal(spawned.logs().trim(), 'I am h2');
  });

  it("reaches the other host's published port, from a container and from the host", async () => {
    // nc, not the image's wget: busybox-static's wget dies of SIGSEGV in these containers (on the machine's engine too).
    const fromContainer = await h1.docker(['run', '--rm', TEST_IMAGE, 'sh', '-c',
      `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${h2.address} ${WEB_PORT}`]);
    assert.equal(fromContainer.code, 0, fromContainer.stderr);
    assert.match(fromContainer.stdout, /^HTTP\/1\.[01] 200 .*\r\n\r\nweb-on-h2\n$/s);
    assert.equal(await fetchFrom(h2, `http://${h1.address}:${WEB_PORT}/`), 'web-on-h1');
    // And on the host itself, by its own address and by loopback, as a routing mesh would reach a local task.
    assert.equal(await fetchFrom(h2, `http://${h2.address}:${WEB_PORT}/`), 'web-on-h2');
    assert.equal(await fetchFrom(h2, `http://127.0.0.1:${WEB_PORT}/`), 'web-on-h2');
  });

  it('carries multicast between hosts (what mDNS needs)', async () => {
    const group = '224.0.0.251';
    const receiver = h2.spawn([process.execPath, '-e', `
      const s = require('node:dgram').createSocket({ type: 'udp4', reuseAddr: true });
      s.on('message', (m, r) => { console.log('got ' + m + ' from ' + r.address); process.exit(0); });
      s.bind(5353, () => { s.addMembership('${group}'); console.log('joined'); });`]);
    await receiver.waitForOutput('joined');
    // Sent a few times, as mDNS itself repeats a query: one datagram lost on a busy machine is not the bridge's fault.
    const sender = h1.spawn([process.execPath, '-e', `
      const s = require('node:dgram').createSocket('udp4');
      s.bind(() => { s.setMulticastTTL(255); setInterval(() => s.send('hello-mdns', 5353, '${group}'), 200).unref(); });
      setTimeout(() => process.exit(0), 1100);`]);
    try {
      await receiver.waitForOutput(`got hello-mdns from ${h1.address}`, 5_000);
    } finally {
      await sender.end(1_000);
    }
  });

  it('partitions a host off the bridge and heals it', async () => {
    const url = `http://${h2.address}:${WEB_PORT}/`;
    await h2.partition();
    try {
      assert.match(await fetchFrom(h1, url), /^error: TimeoutError/);
      assert.equal(await fetchFrom(h2, `http://127.0.0.1:${WEB_PORT}/`), 'web-on-h2', 'inside, the host runs and answers');
    } finally {
      await h2.heal();
    }
    assert.equal(await fetchFrom(h1, url, 5_000), 'web-on-h2');
  });

  it("changes a host's address and keeps its default route", async () => {
    const old = h2.address;
    await h2.changeAddress(42);
    try {
      assert.equal(h2.address, '10.77.0.42');
      assert.equal(await fetchFrom(h1, `http://10.77.0.42:${WEB_PORT}/`), 'web-on-h2');
      assert.match(await fetchFrom(h1, `http://${old}:${WEB_PORT}/`), /^error/);
      const routes = await h2.exec(['ip', 'route', 'show', 'default']);
      assert.match(routes.stdout, /default via 10\.77\.0\.1 dev eth0/);
    } finally {
      await h2.changeAddress(12);
    }
    assert.equal(await fetchFrom(h1, `http://${h2.address}:${WEB_PORT}/`, 5_000), 'web-on-h2');
  });

  it('captures the bridge: a plaintext probe is in the capture', async () => {
    const marker = `swarmlet-probe-${randomBytes(8).toString('hex')}`;
    const capture = await harness.capture();
    await harness.plaintextProbe(marker);
    const pcap = await capture.stop();
    assert.equal(pcap.readUInt32LE(0), 0xa1b2c3d4, 'a pcap file');
    assert.ok(pcap.includes(marker), `the capture (${pcap.length} bytes) holds the marker`);
  });

  it('runs swarmlet daemons inside the hosts, through kill -9 and restart', async () => {
    const daemon = await h1.startDaemon();
    const init = await daemon.cli(['init']);
    assert.equal(init.code, 0, `${init.stderr}\n${daemon.logs()}`);
    // After a restart the API answers /_ping before its manager has its state back: /nodes is waited for.
    const nodes = () => waitFor('the node list', async () => {
      const reply = await daemon.api<{ Description: { Hostname: string } }[]>('GET', '/nodes');
      return reply.status === 200 && reply.body.map((n) => n.Description.Hostname);
    }, 10_000, 50);
    assert.deepEqual(await nodes(), ['h1']);
    const pid = daemon.process.pid;
    await daemon.kill9();
    await daemon.start();
    assert.notEqual(daemon.process.pid, pid);
    assert.deepEqual(await nodes(), ['h1'], 'the same data dir after kill -9');
    const ls = await daemon.cli(['node', 'ls']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /\bh1\b/);
    await daemon.restart();
    assert.deepEqual(await nodes(), ['h1']);
    await daemon.stop();
    assert.equal(daemon.running, false);
  });

  it('stops everything it started, and can be stopped twice', async () => {
    const sleeper = h1.spawn(['sleep', '300']);
    const daemon = await h2.startDaemon();
    const dir = harness.dir;
    // Under the lock, so a harness queued behind this one (another test file) does not start before the listing.
    await holdingLock(async () => {
      await harness.stop();
      await harness.stop();
      assert.equal(sleeper.running, false);
      assert.equal(daemon.running, false);
      assert.deepEqual(harness.processes, []);
      assert.deepEqual(leftovers(), { namespaces: [], links: [], rules: [], engines: [], mounts: [], pidFiles: [], dataRoots: [] });
      assert.equal(existsSync(dir), false);
    });
  });
});

/** A process is gone when /proc no longer has it or it is a zombie (this machine's PID 1 does not reap orphans). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^[ZX]$/.test(stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3));
  } catch {
    return false;
  }
}

/**
 * A run that is killed with SIGKILL mid-test, with a container on each engine, a swarmlet daemon, a spawned process
 * and a capture running. It prints the PIDs it started, then waits to be killed.
 */
const KILLED_RUN = `
import { Harness } from ${JSON.stringify(pathToFileURL(path.join(import.meta.dirname, 'harness.ts')).href)};
const harness = await Harness.start({ hosts: 2 });
const pids = { dir: harness.dir, containers: [], dockerds: harness.hosts.map((h) => h.dockerd.pid) };
for (const host of harness.hosts) {
  const run = await host.docker(['run', '-d', ${JSON.stringify(TEST_IMAGE)}, 'sleep', '3600']);
  pids.containers.push((await host.engineApi('GET', '/containers/' + run.stdout.trim() + '/json')).body.State.Pid);
}
pids.daemon = (await harness.hosts[0].startDaemon()).process.pid;
pids.sleeper = harness.hosts[1].spawn(['sleep', '3600']).pid;
await harness.capture();
pids.tcpdump = harness.processes.find((p) => p.name === 'tcpdump').pid;
console.log(JSON.stringify(pids));
setInterval(() => {}, 1000);
`;

describe('leftovers of a killed run', () => {
  it('are removed before the next run: processes, containers, engines, namespaces, links, bridge, rules, temp dir', async () => {
    const run = spawn(process.execPath, ['--input-type=module', '-e', KILLED_RUN], { stdio: ['ignore', 'pipe', 'pipe'] });
    const gone = new Promise((resolve) => run.once('exit', resolve));
    let pids: { dir: string; containers: number[]; dockerds: number[]; daemon: number; sleeper: number; tcpdump: number };
    try {
      pids = await new Promise((resolve, reject) => {
        let [out, err] = ['', ''];
        run.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
        run.stdout.setEncoding('utf8').on('data', (chunk: string) => {
          out += chunk;
          if (out.includes('\n')) resolve(JSON.parse(out));
        });
        run.once('exit', (code) => reject(new Error(`the run exited by itself (${code}): ${err}`)));
        setTimeout(() => reject(new Error(`the run did not start within 60 s: ${err}`)), 60_000).unref();
      });
      // Its h1 engine dies with it, as in a machine crash: that engine's container is left with only its shim.
      process.kill(pids.dockerds[0]!, 'SIGKILL');
      await waitFor('the engine to die', async () => !alive(pids.dockerds[0]!), 10_000, 20);
    } finally {
      run.kill('SIGKILL');
      await gone;
    }
    const everyPid = [...pids.containers, ...pids.dockerds, pids.daemon, pids.sleeper, pids.tcpdump];
    await holdingLock(async () => {
      assert.deepEqual(everyPid.filter(alive), [...pids.containers, pids.dockerds[1], pids.daemon, pids.sleeper, pids.tcpdump]);
      assert.ok(leftovers().namespaces.length === 2, 'the namespaces are there to remove');
      await cleanupLeftovers();
      assert.deepEqual(everyPid.filter(alive), []);
      assert.deepEqual(leftovers(), { namespaces: [], links: [], rules: [], engines: [], mounts: [], pidFiles: [], dataRoots: [] });
      assert.equal(existsSync(pids.dir), false);
    });
  });
});
