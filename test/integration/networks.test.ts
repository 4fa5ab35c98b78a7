/**
 * Overlay networks on a one-node cluster with the machine's real Docker engine, through the stock docker CLI and
 * swarmlet's: `network create -d overlay`, `ls`, `inspect`, `rm`, and `service create --network`. The node's side
 * of the network is an engine bridge with the swarm network's subnet; a task reaches another service by name (its
 * virtual IP, answered by the network's DNS on the gateway) and each task by `tasks.NAME`, over TCP and UDP; a
 * container on another network gets neither. (Across hosts: test/cluster/mesh.test.ts.)
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { docker, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

/** Each task's page is its container's hostname. */
const SITE = ['sh', '-c', 'mkdir -p /srv && hostname > /srv/index.html && exec httpd -f -p 80 -h /srv'];

/**
 * A GET from inside a test container, printing only the body (the page). nc, not wget: the test image's static
 * busybox wget crashes on name lookups; nc and busybox's own nslookup do not.
 */
const httpGet = (target: string) => `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 ${target} 80 | tail -n 1 | grep .`;

describe('overlay networks on one node, through the docker CLI and swarmlet', () => {
  let daemon: DaemonHandle;
  let nodeId = '';
  const dockerCli = (args: string[]) => docker(args, daemon.socket);
  const engine = (args: string[]) => docker(args);
  const containerOf = async (service: string) =>
    (await engine(['ps', '--filter', `label=com.docker.swarm.node.id=${nodeId}`, '--filter', `label=com.docker.swarm.service.name=${service}`, '--format', '{{.ID}}'])).stdout.trim().split('\n').filter(Boolean);

  before(async () => {
    daemon = await startDaemon();
    assert.equal((await dockerCli(['swarm', 'init'])).code, 0);
    nodeId = (await dockerCli(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    // Bridges the test's networks left on the engine, if a step failed before their services were removed.
    for (const name of ['swl-it-app', 'swl-it-other']) await engine(['network', 'rm', name]);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('creates, lists and inspects overlay networks with the docker CLI, as swarmlet shows them', async () => {
    const created = await dockerCli(['network', 'create', '-d', 'overlay', '--subnet', '10.252.1.0/24', 'swl-it-app']);
    assert.equal(created.code, 0, created.stderr);
    assert.equal((await dockerCli(['network', 'create', '-d', 'overlay', '--subnet', '10.252.2.0/24', 'swl-it-other'])).code, 0);
    const overlap = await dockerCli(['network', 'create', '-d', 'overlay', '--subnet', '10.252.1.128/25', 'swl-it-clash']);
    assert.notEqual(overlap.code, 0);
    assert.match(overlap.stderr, /overlap/i);
    const ls = await dockerCli(['network', 'ls', '--filter', 'driver=overlay']);
    assert.match(ls.stdout, /swl-it-app\s+overlay\s+swarm/);
    assert.equal((await swarmlet(daemon.socket, ['network', 'ls', '--filter', 'driver=overlay'])).stdout, ls.stdout);
    const [inspected] = JSON.parse((await dockerCli(['network', 'inspect', 'swl-it-app'])).stdout);
    assert.equal(inspected.Scope, 'swarm');
    assert.deepEqual(inspected.IPAM.Config.map((c: { Subnet: string }) => c.Subnet), ['10.252.1.0/24']);
  });

  it('reaches a service by name and its tasks by tasks.NAME from a task on the same network, and not from another', async () => {
    const back = await dockerCli(['service', 'create', '-d', '--name', 'back', '--replicas', '2', '--network', 'swl-it-app', '--label', 'com.swarmlet.expose=80', TEST_IMAGE, ...SITE]);
    assert.equal(back.code, 0, back.stderr);
    for (const [name, network] of [['client', 'swl-it-app'], ['stranger', 'swl-it-other']]) {
      // The host's root, read-only, so the client can run this machine's Node for a UDP exchange (busybox has no UDP client).
      const created = await swarmlet(daemon.socket, ['service', 'create', '--detach', '--name', name!, '--network', network!, '--mount', 'type=bind,source=/,target=/host,readonly', TEST_IMAGE, 'sleep', '3600']);
      assert.equal(created.code, 0, created.stderr);
    }
    await waitFor('back, client and stranger running', async () => {
      const tasks = (await daemon.api<Task[]>('GET', '/tasks')).body.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running');
      return tasks.length === 4 ? tasks : undefined;
    }, 60_000);
    // The node's side: an engine bridge with the swarm network's subnet, hidden from the swarm API's listing.
    const bridge = await engine(['network', 'inspect', 'swl-it-app', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}}{{end}}']);
    assert.equal(bridge.stdout.trim(), '10.252.1.0/24 10.252.1.192/26');
    const tasks = (await daemon.api<Task[]>('GET', '/tasks')).body;
    const backAddresses = tasks.filter((t) => t.Status.State === 'running' && t.NetworksAttachments?.[0]?.Network.Spec.Name === 'swl-it-app' && (t.Spec.ContainerSpec.Args ?? []).includes('-c'))
      .map((t) => t.NetworksAttachments![0]!.Addresses[0]!.split('/')[0]!);
    assert.equal(backAddresses.length, 2);

    // service inspect --pretty names the network, as docker's does.
    const networksLine = (text: string) => text.split('\n').find((line) => line.startsWith('Networks:'));
    const pretty = (await swarmlet(daemon.socket, ['service', 'inspect', '--pretty', 'back'])).stdout;
    assert.equal(networksLine(pretty), networksLine((await dockerCli(['service', 'inspect', '--pretty', 'back'])).stdout));
    assert.match(networksLine(pretty) ?? '', /swl-it-app/);
    const [client] = await containerOf('client');
    const [stranger] = await containerOf('stranger');
    const inside = (container: string, command: string) => engine(['exec', container, 'sh', '-c', command]);
    const pages = new Set((await containerOf('back')).map((id) => id.slice(0, 12)));
    const byName = await waitFor('back answering by name', async () => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const reply = await inside(client!, httpGet('back'));
        if (reply.code !== 0) return undefined;
        seen.add(reply.stdout.trim());
      }
      return seen.size === 2 ? seen : undefined;
    }, 30_000);
    assert.deepEqual([...byName].sort(), [...pages].sort(), 'the VIP balanced over both tasks');
    const lookup = await inside(client!, 'busybox nslookup tasks.back');
    const listed = [...lookup.stdout.matchAll(/Address(?: \d+)?:\s+(10\.252\.\d+\.\d+)/g)].map((m) => m[1]!);
    assert.deepEqual(listed.sort(), backAddresses.sort(), `tasks.back lists the tasks' addresses:\n${lookup.stdout}`);

    // UDP on the VIP: a service declaring 53/udp answers datagrams sent to its name's address.
    const echo = "const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(Buffer.concat([Buffer.from('echo '),m]),r.port,r.address));s.bind(53)";
    assert.equal((await swarmlet(daemon.socket, [
      'service', 'create', '--detach', '--name', 'udpecho', '--network', 'swl-it-app', '--label', 'com.swarmlet.expose=53/udp',
      '--mount', 'type=bind,source=/,target=/host,readonly', TEST_IMAGE, 'busybox', 'chroot', '/host', process.execPath, '-e', echo,
    ])).code, 0);
    const udpVip = await waitFor('udpecho named on the network', async () => (await inside(client!, 'busybox nslookup udpecho')).stdout.match(/Address(?: \d+)?:\s+(10\.252\.1\.\d+)/)?.[1]);
    const ask = `const s=require('dgram').createSocket('udp4');s.on('message',(m)=>{console.log(String(m));process.exit(0)});s.send('ping',53,'${udpVip}');setTimeout(()=>process.exit(1),2000)`;
    const udpReply = await waitFor('a UDP answer through the VIP', async () => {
      const reply = await inside(client!, `busybox chroot /host ${process.execPath} -e "${ask}"`);
      return reply.code === 0 ? reply.stdout.trim() : undefined;
    }, 30_000);
    assert.equal(udpReply, 'echo ping');
    assert.notEqual((await inside(stranger!, `busybox chroot /host ${process.execPath} -e "${ask}"`)).code, 0, 'the VIP takes no flow from another network');

    assert.notEqual((await inside(stranger!, httpGet('back'))).code, 0, 'back is no name on another network');
    const vip = lookup.stdout && (await inside(client!, 'busybox nslookup back')).stdout.match(/Address(?: \d+)?:\s+(10\.252\.1\.\d+)/)?.[1];
    assert.ok(vip);
    assert.notEqual((await inside(stranger!, httpGet(vip))).code, 0, 'the VIP refuses another network');
  });

  it('refuses to remove a network a service uses, then removes it and its bridge once unused', async () => {
    const refused = await dockerCli(['network', 'rm', 'swl-it-app']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /back|client/);
    for (const name of ['back', 'client', 'stranger', 'udpecho']) assert.equal((await dockerCli(['service', 'rm', name])).code, 0);
    // Refused until the services' tasks have ended (a task holds its address until then); removed once, a network is
    // then not found, which counts as done.
    await waitFor('the networks removed', async () => {
      const results = await Promise.all(['swl-it-app', 'swl-it-other'].map((name) => dockerCli(['network', 'rm', name])));
      return results.every((r) => r.code === 0 || /not found/.test(r.stderr)) ? true : undefined;
    }, 30_000);
    assert.doesNotMatch((await dockerCli(['network', 'ls'])).stdout, /swl-it-/);
    await waitFor('the bridges gone from the engine', async () => {
      const left = await engine(['network', 'ls', '--filter', 'label=com.swarmlet.network.id', '--format', '{{.Name}}']);
      return left.stdout.trim() === '' ? true : undefined;
    }, 30_000);
  });
});
