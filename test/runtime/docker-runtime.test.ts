/**
 * DockerRuntime on the machine's real engine: the runtime contract, then what only a real engine can show
 * (the create body's mapping as `docker inspect` sees it, what an internal bridge lets its containers reach, and an
 * engine that is not there).
 * Needs dockerd at DOCKER_SOCKET (default /var/run/docker.sock), and root for port 53 on a bridge's gateway, as the
 * daemon binds it; builds the busybox test image when absent.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SwarmletError } from '../../src/errors.ts';
import { DnsServer } from '../../src/mesh/dns-server.ts';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts';
import { EngineClient } from '../../src/runtime/docker/engine-client.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { runtimeContract } from './contract.ts';
import { docker, ensureTestImage } from '../helpers/docker.ts';

const SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
const IMAGE = 'swarmlet-test/busybox:1';
const MB = 1024 * 1024;


runtimeContract('DockerRuntime', async () => {
  await ensureTestImage();
  const client = new EngineClient(SOCKET);
  return {
    runtime: new DockerRuntime(client),
    image: IMAGE,
    cleanup: async () => client.close(),
    networkIsInternal: async (id) => (await client.getJson<{ Internal: boolean }>(`/networks/${id}`)).Internal,
  };
});

/** A system tool from iproute2 or iptables, where a root shell finds it even when PATH leaves out the sbin dirs. */
function tool(name: string): string {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((dir) => path.join(dir, name)).find((file) => existsSync(file)) ?? name;
}

const run = async (file: string, args: string[]) => (await promisify(execFile)(tool(file), args)).stdout;

/**
 * An internal swarm network's bridge, as the agent makes it, on this machine's engine. The node serves the network
 * from the gateway address — its DNS server there, service VIPs and other nodes' task addresses bound on the bridge
 * — so the bridge must keep that address, and the containers must reach it and each other but nothing beyond.
 * Engines differ in how they keep them in: from 25 a container has no route out of its subnet; up to 24 it has a
 * default route to the gateway and the engine's FORWARD rules drop whatever it sends through it (the host's own
 * addresses stay reachable there, as on any internal Docker network of those engines). Nothing here sends a packet
 * beyond this machine: the only listeners are the test's own, on the gateway.
 */
describe('DockerRuntime: an internal bridge on a real engine', () => {
  const client = new EngineClient(SOCKET);
  const runtime = new DockerRuntime(client);
  const id = randomUUID().slice(0, 6);
  const label = `com.swarmlet.test.internal=${id}`;
  const labels = { 'com.swarmlet.test': '1', 'com.swarmlet.test.internal': id };
  const subnet = '10.251.12.0/24';
  const gateway = '10.251.12.1';
  const bridge = `swlt-${id}`;
  const peer = '10.251.12.10';
  let network = '';
  let tcp: Server | undefined;
  let dns: DnsServer | undefined;

  before(async () => {
    await ensureTestImage();
    network = await runtime.createNetwork({ name: `swarmlet-internal-${id}`, labels, subnet, gateway, ipRange: '10.251.12.192/26', bridgeName: bridge, internal: true });
  });

  after(async () => {
    try {
      for (const c of await runtime.listContainers([label])) await runtime.removeContainer(c.id, { force: true });
      if (network) await runtime.removeNetwork(network);
    } finally {
      await dns?.stop();
      if (tcp) await new Promise<void>((resolve) => tcp!.close(() => resolve()));
      client.close();
    }
  });

  it('is internal to the engine, and the bridge on the host holds the gateway address', async () => {
    assert.equal((await client.getJson<{ Internal: boolean }>(`/networks/${network}`)).Internal, true);
    const addresses = await run('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge]);
    assert.match(addresses, new RegExp(`\\sinet ${gateway.replaceAll('.', '\\.')}/24\\s`), `the bridge ${bridge} has no ${gateway}/24: ${addresses}`);
  });

  it('lets a container reach the gateway, resolve through it and reach a peer, and nothing beyond the subnet', async () => {
    // What the node serves on the gateway: a TCP listener stands for a VIP, and swarmlet's own DNS server answers a name.
    // Read what the client sends (a newline), or its end never surfaces and the connection stays open.
    tcp = createServer((socket) => socket.resume().end('gateway-ok\n'));
    await new Promise<void>((resolve, reject) => tcp!.once('error', reject).listen(0, gateway, resolve));
    const tcpPort = (tcp.address() as { port: number }).port;
    dns = new DnsServer({ host: gateway, lookup: (name) => (name === 'web.internal.test' ? ['10.251.12.77'] : null), upstreams: [], log: silentLogger });
    await dns.start();

    const container = (name: string, address: string, cmd: string[]) =>
      runtime.createContainer({ name: `swarmlet-internal-${id}-${name}`, image: IMAGE, labels, cmd, init: true, stopTimeout: 1, networks: [{ name: `swarmlet-internal-${id}`, address }], dns: [gateway] });
    const server = await container('peer', peer, ['sh', '-c', 'mkdir /www && echo peer-ok > /www/i && exec httpd -f -p 8080 -h /www']);
    await runtime.startContainer(server);
    const script = [
      'echo "routes:"; busybox ip -4 route',
      `echo "gateway: $(echo | nc -w 3 ${gateway} ${tcpPort})"`,
      // httpd may still be starting: a few tries. (nc speaks the HTTP: this image's wget is not dependable.)
      `for i in 1 2 3 4 5; do out=$(printf 'GET /i HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${peer} 8080 | tail -n 1); [ -n "$out" ] && break; sleep 0.2; done; echo "peer: $out"`,
      'echo "name: $(busybox nslookup -type=a web.internal.test 2>&1 | tr "\\n" " ")"',
    ].join('\n');
    const asker = await container('client', '10.251.12.9', ['sh', '-c', script]);
    await runtime.startContainer(asker);
    const waited = await docker(['wait', asker]);
    assert.equal(waited.stdout.trim(), '0', `the client container failed: ${waited.stderr}`);
    const output = (await docker(['logs', asker])).stdout;

    assert.match(output, /^gateway: gateway-ok$/m, output);
    assert.match(output, /^peer: peer-ok$/m, output);
    assert.match(output, /^name: .*Address:\s*10\.251\.12\.77/m, output);
    assert.ok(dns.stats().answered >= 1, 'the name was answered by the DNS server on the gateway');

    const routes = output.slice(output.indexOf('routes:'), output.indexOf('gateway:')).split('\n').slice(1).filter(Boolean);
    const outward = routes.filter((route) => !route.startsWith(`${subnet} `));
    if (outward.length === 0) return; // Engine 25 and later: nowhere to send beyond the subnet.
    // Up to engine 24: the one way out is the default route to the gateway, where the engine drops what is forwarded.
    assert.deepEqual(outward.map((route) => route.trim()), [`default via ${gateway} dev eth0`], `routes: ${routes}`);
    const rules = await run('iptables', ['-S', 'DOCKER-ISOLATION-STAGE-1']);
    const drop = rules.split('\n').find((rule) => rule.includes(`-i ${bridge} `) && rule.includes(`! -d ${subnet} `) && rule.endsWith('-j DROP'));
    assert.ok(drop, `the engine drops nothing forwarded from ${bridge} beyond ${subnet}:\n${rules}`);
  });
});

describe('DockerRuntime on a real engine', () => {
  const client = new EngineClient(SOCKET);
  const runtime = new DockerRuntime(client);
  const made: string[] = [];

  before(ensureTestImage);
  after(async () => {
    for (const id of made) await runtime.removeContainer(id, { force: true }).catch(() => {});
    client.close();
  });

  it('creates with the limits, reservation, init, entrypoint and stop settings the engine then reports', async () => {
    const id = await runtime.createContainer({
      name: `swarmlet-test-create-${process.pid}-${Date.now()}`,
      image: IMAGE,
      labels: { 'com.swarmlet.test': '1' },
      entrypoint: ['sleep'],
      cmd: ['30'],
      env: ['K=V'],
      hostname: 'task-host',
      workingDir: '/tmp',
      memoryLimit: 64 * MB,
      memoryReservation: 32 * MB,
      nanoCpus: 500_000_000,
      init: true,
      stopSignal: 'SIGINT',
      stopTimeout: 7,
    });
    made.push(id);
    const { body } = await client.request<any>('GET', `/containers/${id}/json`);
    assert.equal(body.HostConfig.Memory, 64 * MB);
    assert.equal(body.HostConfig.MemoryReservation, 32 * MB);
    assert.equal(body.HostConfig.NanoCpus, 500_000_000);
    assert.equal(body.HostConfig.Init, true);
    assert.deepEqual(body.Config.Entrypoint, ['sleep']);
    assert.deepEqual(body.Config.Cmd, ['30']);
    assert.ok(body.Config.Env.includes('K=V'));
    assert.equal(body.Config.Hostname, 'task-host');
    assert.equal(body.Config.WorkingDir, '/tmp');
    assert.equal(body.Config.StopSignal, 'SIGINT');
    assert.equal(body.Config.StopTimeout, 7);
    assert.equal(body.Config.Labels['com.swarmlet.test'], '1');
  });

  it("reports the engine's MemoryLimit from /info", async () => {
    const raw = await client.getJson<{ MemoryLimit: boolean }>('/info');
    assert.equal((await runtime.info()).MemoryLimit, raw.MemoryLimit);
  });
});

describe('DockerRuntime without an engine', () => {
  const missing = path.join(os.tmpdir(), `swarmlet-no-engine-${process.pid}.sock`);
  const client = new EngineClient(missing);
  const runtime = new DockerRuntime(client);
  after(() => client.close());

  const isUnreachable = (err: unknown) => {
    assert.ok(err instanceof SwarmletError);
    assert.equal(err.code, 'engine_unreachable');
    assert.equal(
      err.message,
      `cannot reach the container engine at unix://${missing} (connect ENOENT): is dockerd running? start it, or point swarmlet at another engine with --engine unix:///path`,
    );
    return true;
  };

  it('fails calls with one line naming the socket and the fix', async () => {
    await assert.rejects(runtime.info(), isUnreachable);
    await assert.rejects(runtime.inspectContainer('x'), isUnreachable);
  });

  it('reports a broken event stream once, through onError', async () => {
    const err = await new Promise<Error>((resolve) => runtime.subscribeEvents([], () => assert.fail('no event expected'), resolve));
    isUnreachable(err);
  });
});
