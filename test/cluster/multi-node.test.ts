/**
 * A cluster of real hosts (test/cluster/harness.ts): five network namespaces on one bridge, each with its own
 * dockerd and the built executable. Three managers and two workers form a cluster from tokens alone — nobody types
 * an address; joiners find the managers over mDNS on the bridge — and then live through what a small cluster
 * meets: the leader killed with SIGKILL, a manager cut off and healed, a worker's address changed, a wrong token,
 * garbage on the transport port, and a removed node trying to come back. Time limits are about three times the
 * goals (issue 4: down within 5 s, failover in seconds), so a busy two-core machine does not make them flaky;
 * the benchmark reports the real figures.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { docker } from '../helpers/docker.ts';
import { byHost, ClusterClient, sleep, until } from './cluster-client.ts';
import type { Harness } from './harness.ts';

let harness: Harness;

/** Run inside a host by node: writes bytes that are not HTTP to ip:port and says whether the peer closed. */
const GARBAGE_PROBE = `
const net = require('node:net');
const [ip, port] = process.argv.slice(-2);
const s = net.connect(Number(port), ip, () => s.write(Buffer.from('\\x00\\xff garbage, not HTTP\\r\\n\\r\\n')));
s.on('data', (d) => console.log('answer', JSON.stringify(String(d).split('\\r\\n')[0])));
s.on('error', () => {});
s.on('close', () => { console.log('closed'); process.exit(0); });
setTimeout(() => { console.log('still open'); process.exit(0); }, 5000);
`;

/** Connects and never sends anything: a half-open handshake the daemon must time out. */
const IDLE_PROBE = `
const net = require('node:net');
const [ip, port] = process.argv.slice(-2);
const s = net.connect(Number(port), ip);
s.resume();
s.on('error', () => {});
s.on('close', () => { console.log('closed by the daemon'); });
setTimeout(() => process.exit(0), 60000);
`;
const cluster = new ClusterClient();
const { daemons } = cluster;
const daemon = (name: string) => cluster.daemon(name);
const cli = (name: string, args: string[]) => cluster.cli(name, args);
const nodes = (name: string) => cluster.nodes(name);
const leaderHost = (asking: string) => cluster.leaderHost(asking);
/** The manager the kill -9 step restarted: the partition step cuts another one, so the two faults read apart in logs. */
let restarted = '';

describe('a cluster of real hosts', { timeout: 900_000 }, () => {
  before(async () => {
    harness = await cluster.startHosts(5);
  });

  after(async () => {
    await harness?.stop();
  });

  it('forms from tokens alone: three managers and two workers join over mDNS, with no address typed', async () => {
    await cli('h1', ['init']);
    const managerToken = (await cli('h1', ['join-token', '-q', 'manager'])).trim();
    const workerToken = (await cli('h1', ['join-token', '-q', 'worker'])).trim();
    assert.match(workerToken, /^SWLTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const joined: Record<string, number> = {};
    for (const [host, token] of [['h2', managerToken], ['h3', managerToken], ['h4', workerToken], ['h5', workerToken]] as const) {
      const t0 = Date.now();
      assert.match(await cli(host, ['join', '--token', token]), /joined a swarm as a (manager|worker)/);
      await until(`${host} to be Ready`, async () => byHost(await nodes('h1'), host)?.Status.State === 'ready', 15_000);
      joined[host] = Date.now() - t0;
    }
    console.log(`join to Ready (ms): ${JSON.stringify(joined)}`);
    const list = await until('three managers, all voting and reachable', async () => {
      const current = await nodes('h1');
      const managers = current.filter((n) => n.ManagerStatus?.Reachability === 'reachable');
      return managers.length === 3 && current.length === 5 ? current : undefined;
    }, 30_000);
    assert.deepEqual(list.map((n) => n.Description.Hostname).sort(), ['h1', 'h2', 'h3', 'h4', 'h5']);
    assert.equal(byHost(list, 'h1')!.ManagerStatus?.Leader, true);
    assert.equal(byHost(list, 'h4')!.Spec.Role, 'worker');
    // Each node advertises the address on the bridge, never its docker0's 172.30.x.
    for (const n of list) assert.match(n.Status.Addr, /^10\.77\.0\.\d+$/, `${n.Description.Hostname} reports ${n.Status.Addr}`);
    // The docker CLI's view of the same table, through a follower (forwarded, linearizable read).
    const table = await cli('h2', ['node', 'ls']);
    assert.match(table, /h1\s+Ready\s+Active\s+Leader/);
    assert.match(table, /h4\s+Ready\s+Active\s+\n|h4\s+Ready\s+Active\s+\s+20/);
    // A worker holds no cluster state and says where to go instead.
    const refused = await daemon('h4').cli(['node', 'ls']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not a swarm manager/);
  });

  it('runs a service across the hosts, created through a follower', async () => {
    await cli('h3', ['service', 'create', '--name', 'web', '--replicas', '5', 'swarmlet-test/busybox:1', 'sleep', '100000']);
    const hosts = await until('5 running tasks on several hosts', async () => {
      const reply = await daemon('h1').api<Array<{ NodeID: string; Status: { State: string }; DesiredState: string }>>('GET', '/tasks');
      const running = reply.body.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
      const list = await nodes('h1');
      const names = new Set(running.map((t) => list.find((n) => n.ID === t.NodeID)?.Description.Hostname));
      return running.length === 5 ? names : undefined;
    }, 60_000);
    assert.ok(hosts.size >= 3, `tasks ran on ${[...hosts].join(', ')}`);
    // The containers really run in the hosts' own engines.
    const h4 = await harness.host('h4').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web']);
    const h5 = await harness.host('h5').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=web']);
    assert.ok(h4.stdout.trim().length + h5.stdout.trim().length > 0, 'the workers run some of the tasks');
  });

  it('works with the stock docker CLI: node ls, node update --availability, node promote and demote', async () => {
    const sock = daemon('h2').socket;
    const dockerCli = async (args: string[]) => {
      const result = await docker(args, sock);
      assert.equal(result.code, 0, `docker ${args.join(' ')}: ${result.stderr}`);
      return result.stdout;
    };
    const table = await dockerCli(['node', 'ls']);
    assert.match(table, /h1\s+Ready\s+Active\s+Leader/);
    assert.equal(table.trim().split('\n').length, 6, table);
    await dockerCli(['node', 'update', '--availability', 'drain', '--label-add', 'disk=ssd', 'h5']);
    const drained = byHost(await nodes('h1'), 'h5')!;
    assert.equal(drained.Spec.Availability, 'drain');
    assert.equal(drained.Spec.Labels?.disk, 'ssd');
    await dockerCli(['node', 'update', '--availability', 'active', 'h5']);
    // A worker promoted becomes a learner, then a voter once it has caught up; demoted, it leaves Raft again.
    assert.match(await dockerCli(['node', 'promote', 'h5']), /promoted to a manager/);
    await until('h5 to be a reachable manager', async () => byHost(await nodes('h1'), 'h5')?.ManagerStatus?.Reachability === 'reachable', 20_000);
    await until('the promoted node to serve manager reads', async () => (await daemon('h5').api('GET', '/nodes')).status === 200, 20_000);
    assert.match(await dockerCli(['node', 'demote', 'h5']), /demoted/);
    await until('h5 to be a worker again', async () => {
      const n = byHost(await nodes('h1'), 'h5');
      return n?.Spec.Role === 'worker' && !n.ManagerStatus && (await daemon('h5').api('GET', '/nodes')).status === 503;
    }, 20_000);
  });

  it('carries nothing in plaintext: a marker in a service\'s env is nowhere on the wire, a plaintext control is', async () => {
    const secret = `SWARMLET-SECRET-${Date.now().toString(36)}`;
    const control = `PLAINTEXT-CONTROL-${Date.now().toString(36)}`;
    const capture = await harness.capture();
    // The service spec (with the marker) goes to the leader, is replicated to every manager and its tasks are
    // pushed to the workers that run them: it crosses the bridge many times, always sealed.
    await cli('h2', ['service', 'create', '--name', 'secretive', '--replicas', '4', '--env', `TOKEN=${secret}`, 'swarmlet-test/busybox:1', 'sleep', '100000']);
    await until('the secretive service to run on the workers', async () => {
      const h4 = await harness.host('h4').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=secretive']);
      const h5 = await harness.host('h5').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=secretive']);
      return h4.stdout.trim() !== '' || h5.stdout.trim() !== '';
    }, 30_000);
    await harness.plaintextProbe(control);
    const pcap = await capture.stop();
    assert.ok(pcap.length > 10_000, `the capture holds traffic (${pcap.length} bytes)`);
    assert.ok(pcap.includes(Buffer.from(control)), 'the plaintext control marker is in the capture: the capture sees the wire');
    assert.ok(!pcap.includes(Buffer.from(secret)), 'the service\'s secret env crossed the bridge in plaintext');
    // The task really carries it, so it did travel.
    const ids = (await harness.host('h4').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=secretive'])).stdout.trim().split('\n').filter(Boolean);
    const where = ids.length > 0 ? harness.host('h4') : harness.host('h5');
    const id = ids[0] ?? (await where.docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=secretive'])).stdout.trim().split('\n')[0]!;
    const env = (await where.docker(['inspect', '--format', '{{json .Config.Env}}', id])).stdout;
    assert.match(env, new RegExp(secret));
    await cli('h1', ['service', 'rm', 'secretive']);
  });

  it('refuses a wrong token and garbage on the port, times out a silent connection, and keeps serving', async () => {
    const token = (await cli('h1', ['join-token', '-q', 'worker'])).trim();
    const wrong = `${token.slice(0, -5)}00000`;
    // A fresh data dir on h5 would need its own daemon; h5 is in the cluster, so ask the refusal of h1's admission
    // through a daemon that is not: restart h5's daemon after it leaves.
    const h5 = daemon('h5');
    await cli('h5', ['leave']);
    const refused = await h5.cli(['join', '--token', wrong, '10.77.0.11']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /invalid join token/);
    // Garbage on the transport port, sent from another host, and a connection that never says anything.
    const probe = await harness.host('h2').exec([process.execPath, '-e', GARBAGE_PROBE, '10.77.0.11', '4377'], { timeoutMs: 20_000 });
    assert.match(probe.stdout, /answer "HTTP\/1.1 400 Bad Request"\nclosed/, `the daemon answers garbage with 400 and closes (probe: ${probe.stdout} ${probe.stderr})`);
    const idle = harness.host('h3').spawn([process.execPath, '-e', IDLE_PROBE, '10.77.0.11', '4377'], { name: 'idle-probe' });
    // The daemon keeps serving: the right token admits h5 again (a left node may rejoin; only removed ones may not).
    assert.match(await cli('h5', ['join', '--token', token, '10.77.0.11']), /joined/);
    await until('h5 Ready again', async () => (await nodes('h1')).filter((n) => n.Description.Hostname === 'h5' && n.Status.State === 'ready').length === 1, 15_000);
    // The silent connection was closed by the handshake deadline (5 s), and the daemon served everyone meanwhile.
    await until('the silent connection to be closed by the daemon', async () => /closed by the daemon/.test(idle.stdout()), 15_000);
    idle.kill('SIGKILL');
    // Each refusal is logged with the peer's address and the reason.
    assert.match(daemon('h1').logs(), /refused a join from 10\.77\.0\.15:\d+: invalid join token/);
    assert.match(daemon('h1').logs(), /refused a connection from 10\.77\.0\.12:\d+: malformed/);
    assert.match(daemon('h1').logs(), /refused a connection from 10\.77\.0\.13:\d+: timeout/);
  });

  it('marks a killed worker down within 15 s, and ready again when it returns', async () => {
    const t0 = Date.now();
    await daemon('h4').kill9();
    await until('h4 down', async () => byHost(await nodes('h1'), 'h4')?.Status.State === 'down', 15_000);
    const downAfter = Date.now() - t0;
    console.log(`worker down after ${downAfter} ms`);
    await daemon('h4').start();
    await until('h4 ready', async () => byHost(await nodes('h1'), 'h4')?.Status.State === 'ready', 15_000);
  });

  it('survives kill -9 of the leader: a new leader within seconds, and the old one rejoins and catches up', async () => {
    const leader = (await leaderHost('h2'))!;
    const others = ['h1', 'h2', 'h3'].filter((h) => h !== leader);
    const t0 = Date.now();
    await daemon(leader).kill9();
    // Probes start every 100 ms without waiting for each other: a read that waits on the dead leader must not
    // hide the moment a new one answers.
    const next = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        if (Date.now() - t0 > 15_000) {
          clearInterval(timer);
          reject(new Error('no new leader within 15 s'));
        }
        leaderHost(others[0]!).then((found) => {
          if (found && found !== leader) {
            clearInterval(timer);
            resolve(found);
          }
        }, () => {});
      }, 100);
    });
    console.log(`failover: ${leader} killed, ${next} leads (answering reads) after ${Date.now() - t0} ms`);
    // The cluster works: a change through the other survivor.
    // (--detach: a task may be placed on the dead node before it is marked down; moving it is issue 5's work.)
    await cli(others[1]!, ['service', 'scale', '--detach', 'web=6']);
    await daemon(leader).start();
    restarted = leader;
    await until(`${leader} back and reachable`, async () => byHost(await nodes(next), leader)?.ManagerStatus?.Reachability === 'reachable', 20_000);
    // It caught up: its own answer (a linearizable read on it) has the scaled service.
    const services = await daemon(leader).api<Array<{ Spec: { Mode: { Replicated?: { Replicas: number } } } }>>('GET', '/services');
    assert.equal(services.body[0]?.Spec.Mode.Replicated?.Replicas, 6);
  });

  it('a partitioned manager rejoins and catches up after healing', async () => {
    const leader = (await leaderHost('h1'))!;
    const follower = ['h1', 'h2', 'h3'].find((h) => h !== leader && h !== restarted)!;
    console.log(`partition: ${follower} cut off the bridge`);
    await harness.host(follower).partition();
    try {
      // --detach: in the moment before the cut-off node misses a heartbeat its task may still be placed there, and it
      // moves only once the node is marked down: converging can take seconds, which the CLI's wait is not about.
      await cli(leader, ['service', 'create', '--detach', '--name', 'while-cut', '--replicas', '1', 'swarmlet-test/busybox:1', 'sleep', '100000']);
      await until(`${follower} unreachable`, async () => byHost(await nodes(leader), follower)?.ManagerStatus?.Reachability === 'unreachable', 15_000);
    } finally {
      await harness.host(follower).heal();
      console.log(`partition: ${follower} healed`);
    }
    await until(`${follower} has the service created while it was cut off`, async () => {
      const reply = await daemon(follower).api<Array<{ Spec: { Name: string } }>>('GET', '/services');
      return reply.status === 200 && reply.body.some((s) => s.Spec.Name === 'while-cut');
    }, 20_000);
  });

  it('follows a worker whose address changed', async () => {
    await harness.host('h5').changeAddress(55);
    await until('h5 ready at its new address', async () => {
      const n = byHost(await nodes('h1'), 'h5');
      return n?.Status.State === 'ready' && n.Status.Addr === '10.77.0.55';
    }, 20_000);
  });

  it('removes a stopped node and refuses it afterwards: its certificate is revoked', async () => {
    await daemon('h4').stop();
    await until('h4 down', async () => byHost(await nodes('h1'), 'h4')?.Status.State === 'down', 15_000);
    const id = byHost(await nodes('h1'), 'h4')!.ID;
    await cli('h1', ['node', 'rm', 'h4']);
    assert.equal(byHost(await nodes('h1'), 'h4'), undefined);
    await daemon('h4').start();
    await until('the managers to refuse the removed node', async () => /revoked|removed/.test(daemon('h1').logs() + daemon('h2').logs() + daemon('h3').logs()), 15_000);
    await sleep(2_000);
    assert.equal(byHost(await nodes('h1'), 'h4'), undefined, `removed node ${id} came back`);
  });

  it('refuses a copy of a node\'s identity (a cloned SD card) and says how to give it a new one', async () => {
    // h4 was removed; its machine now boots a copy of h5's data directory while h5 runs.
    const h4 = daemon('h4');
    await h4.stop();
    await harness.host('h4').exec(['sh', '-c', `rm -rf ${h4.dataDir} && cp -a ${daemon('h5').dataDir} ${h4.dataDir}`]);
    await h4.start();
    await until('the copy to be refused as a duplicate identity', async () => /already connected from/.test(daemon('h1').logs() + daemon('h2').logs() + daemon('h3').logs()), 20_000);
    assert.match(h4.logs(), /refused this node: .*same identity.*new identity/);
    // h5 itself carries on.
    await sleep(2_000);
    assert.equal(byHost(await nodes('h1'), 'h5')?.Status.State, 'ready');
    await h4.stop();
  });

  it('admits a node whose clock is three years behind (no real-time clock) and runs its tasks', async () => {
    // h4's machine, wiped, boots with its clock in the past, as a Raspberry Pi without an RTC does before NTP.
    const h4 = daemon('h4');
    await harness.host('h4').exec(['rm', '-rf', h4.dataDir]);
    const skewed = await harness.host('h4').startDaemon([], {
      env: { LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1', FAKETIME: '-1095d', FAKETIME_DONT_RESET: '1' },
    });
    daemons.set('h4', skewed);
    const date = await harness.host('h4').exec(['sh', '-c', 'LD_PRELOAD=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 FAKETIME=-1095d date +%Y']);
    assert.ok(Number(date.stdout) <= new Date().getUTCFullYear() - 2, `the faked clock says ${date.stdout}`);
    const token = (await cli('h3', ['join-token', '-q', 'worker'])).trim();
    assert.match(await cli('h4', ['join', '--token', token]), /joined a swarm as a worker/);
    await until('the skewed node to be Ready', async () => byHost(await nodes('h3'), 'h4')?.Status.State === 'ready', 20_000);
    // It learned the cluster's time: its certificate is judged by the managers, and its renewals by that time.
    const membership = JSON.parse((await harness.host('h4').exec(['cat', `${skewed.dataDir}/membership.json`])).stdout).data;
    assert.ok(membership.clockOffsetMs > 1_000 * 86_400_000, `clock offset ${membership.clockOffsetMs} ms`);
    await cli('h3', ['service', 'create', '--detach', '--name', 'on-skewed', '--constraint', 'node.hostname==h4', 'swarmlet-test/busybox:1', 'sleep', '100000']);
    await until('the task on the skewed node to run', async () => {
      const ps = await harness.host('h4').docker(['ps', '-q', '--filter', 'label=com.docker.swarm.service.name=on-skewed']);
      return ps.stdout.trim() !== '';
    }, 30_000);
  });

  it('rotates the root key without disconnecting anyone: every node moves to the new root and the tokens change', async () => {
    const before = (await cli('h3', ['join-token', '-q', 'worker'])).trim();
    const oldDigest = before.split('-')[2];
    const out = await cli('h3', ['ca', '--rotate']);
    const newDigest = (await cli('h3', ['ca', '-q'])).trim();
    assert.notEqual(newDigest, oldDigest, out);
    const after = (await cli('h3', ['join-token', '-q', 'worker'])).trim();
    assert.equal(after.split('-')[2], newDigest, 'the tokens name the new root');
    const swarm = await daemon('h3').api<{ RootRotationInProgress: boolean }>('GET', '/swarm');
    assert.equal(swarm.body.RootRotationInProgress, false, 'every member renewed, so the old root was dropped');
    // Nobody was cut off: every running node is still Ready a few heartbeats later (the skewed h4 included).
    await sleep(4_000);
    for (const n of await nodes('h3')) {
      if (n.Description.Hostname !== 'h1' && n.Description.Hostname !== 'h5') continue;
      assert.equal(n.Status.State, 'ready', `${n.Description.Hostname} after the rotation`);
    }
    assert.equal(byHost(await nodes('h3'), 'h4')?.Status.State, 'ready', 'the node with the skewed clock renewed too');
  });

  it('recovers with init --force-new-cluster after losing two of three managers', async () => {
    const survivor = 'h3';
    const lost = ['h1', 'h2'];
    for (const h of lost) await daemon(h).kill9();
    const refused = await daemon(survivor).cli(['service', 'ls']);
    assert.notEqual(refused.code, 0, 'without a quorum nothing can be read');
    assert.match(await cli(survivor, ['init', '--force-new-cluster']), /Swarm initialized/);
    const list = await until('the recovered cluster to answer', async () => nodes(survivor), 15_000);
    assert.equal(list.filter((n) => n.Spec.Role === 'manager').length, 1, 'the survivor is the only manager');
    const services = await daemon(survivor).api<Array<{ Spec: { Name: string } }>>('GET', '/services');
    assert.ok(services.body.some((svc) => svc.Spec.Name === 'web'), 'the state survived');
    // A change commits with one manager.
    await cli(survivor, ['service', 'scale', '--detach', 'web=2']);
  });
});
