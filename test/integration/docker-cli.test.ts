/**
 * The stock docker CLI against the swarmlet socket: `docker swarm init`, `service create/ls/ps/inspect/scale/rm`
 * and `node ls` work, and swarmlet's own CLI prints the same tables for the same state.
 */

import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Task } from '../../src/api/types.ts';
import { type DaemonHandle, startDaemon, TEST_IMAGE } from '../helpers/daemon.ts';
import { docker, removeNodeContainers, swarmlet } from '../helpers/docker.ts';
import { waitFor } from '../helpers/unix-http.ts';

/** `Running 3 seconds ago` and `Running 4 seconds ago` are the same state seen a second apart. */
const withoutAges = (table: string) => table.replace(/ (less than a second|about a minute|an? \w+|\d+ \w+) ago/g, ' … ago').replace(/ +/g, ' ');

describe('the stock docker CLI through the swarmlet socket', () => {
  let daemon: DaemonHandle;
  let nodeId = '';
  const dockerCli = (args: string[]) => docker(args, daemon.socket);

  before(async () => {
    daemon = await startDaemon();
    const version = await docker(['version', '--format', '{{.Client.Version}} (API {{.Client.APIVersion}})']);
    console.log(`# docker CLI ${version.stdout.trim()}`);
  });

  after(async () => {
    await daemon?.stop();
    if (nodeId) await removeNodeContainers(nodeId);
    if (daemon) await fs.rm(daemon.dir, { recursive: true, force: true });
  });

  it('docker swarm init makes a one-node cluster and docker info shows it', async () => {
    const init = await dockerCli(['swarm', 'init']);
    assert.equal(init.code, 0, init.stderr);
    nodeId = (await dockerCli(['info', '--format', '{{.Swarm.NodeID}}'])).stdout.trim();
    assert.match(init.stdout, new RegExp(`Swarm initialized: current node \\(${nodeId}\\) is now a manager`));
    assert.equal((await dockerCli(['info', '--format', '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}'])).stdout.trim(), 'active true');
  });

  it('docker service create waits for convergence; ls and node ls match swarmlet\'s tables', async () => {
    const created = await dockerCli(['service', 'create', '--name', 'web', '--replicas', '3', '--limit-memory', '64M', TEST_IMAGE, 'sleep', '3600']);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout + created.stderr, /verify: Service (web|\w+) converged/);

    const dockerLs = await dockerCli(['service', 'ls']);
    assert.match(dockerLs.stdout, /web\s+replicated\s+3\/3\s+swarmlet-test\/busybox:1/);
    assert.equal((await swarmlet(daemon.socket, ['service', 'ls'])).stdout, dockerLs.stdout);
    const dockerNodes = await dockerCli(['node', 'ls']);
    assert.match(dockerNodes.stdout, /^ID\s+HOSTNAME\s+STATUS\s+AVAILABILITY\s+MANAGER STATUS\s+ENGINE VERSION/);
    assert.match(dockerNodes.stdout, new RegExp(`${nodeId} \\*\\s+\\S+\\s+Ready\\s+Active\\s+Leader`));
    assert.equal((await swarmlet(daemon.socket, ['node', 'ls'])).stdout, dockerNodes.stdout);
    for (const command of [['service', 'ls'], ['node', 'ls']]) {
      const args = [...command, '--format', 'json'];
      assert.equal((await swarmlet(daemon.socket, args)).stdout, (await dockerCli(args)).stdout, args.join(' '));
    }
  });

  it('docker service ps shows the tasks as swarmlet service ps does', async () => {
    const dockerPs = await dockerCli(['service', 'ps', 'web']);
    assert.equal(dockerPs.code, 0, dockerPs.stderr);
    assert.match(dockerPs.stdout, /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR\s+PORTS/);
    assert.equal(dockerPs.stdout.match(/web\.[123]\s+swarmlet-test\/busybox:1\s+\S+\s+Running\s+Running/g)?.length, 3);
    assert.equal(withoutAges((await swarmlet(daemon.socket, ['service', 'ps', 'web'])).stdout), withoutAges(dockerPs.stdout));
  });

  it('docker service inspect, scale and rm work', async () => {
    const inspected = JSON.parse((await dockerCli(['service', 'inspect', 'web'])).stdout);
    assert.equal(inspected[0].Spec.Name, 'web');
    assert.equal(inspected[0].Spec.TaskTemplate.Resources.Limits.MemoryBytes, 64 * 1024 * 1024);

    const scaled = await dockerCli(['service', 'scale', 'web=5']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const filters = encodeURIComponent(JSON.stringify({ service: ['web'], 'desired-state': ['running'] }));
    await waitFor('5 running tasks', async () => (await daemon.api<Task[]>('GET', `/tasks?filters=${filters}`)).body.filter((t) => t.Status.State === 'running').length === 5);
    assert.match((await dockerCli(['service', 'ls'])).stdout, /web\s+replicated\s+5\/5/);

    const removed = await dockerCli(['service', 'rm', 'web']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await dockerCli(['service', 'ls', '-q'])).stdout.trim(), '');
    const missing = await dockerCli(['service', 'inspect', 'web']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /no such service|not found/i);
  });

  it('docker service create -p publishes a port: ls, inspect and update show it, and a second service cannot take it', async () => {
    const created = await dockerCli(['service', 'create', '--name', 'pub', '-p', '8080:80', '-p', '90', TEST_IMAGE, 'sleep', '3600']);
    assert.equal(created.code, 0, created.stderr);
    const dockerLs = await dockerCli(['service', 'ls']);
    assert.match(dockerLs.stdout, /pub\s+replicated\s+1\/1\s+swarmlet-test\/busybox:1\s+\*:8080->80\/tcp, \*:30000->90\/tcp\n/);
    assert.equal((await swarmlet(daemon.socket, ['service', 'ls'])).stdout, dockerLs.stdout);
    const [inspected] = JSON.parse((await dockerCli(['service', 'inspect', 'pub'])).stdout);
    assert.deepEqual(inspected.Endpoint.Ports, [
      { Protocol: 'tcp', TargetPort: 80, PublishedPort: 8080, PublishMode: 'ingress' },
      { Protocol: 'tcp', TargetPort: 90, PublishedPort: 30000, PublishMode: 'ingress' },
    ]);
    const pretty = await dockerCli(['service', 'inspect', '--pretty', 'pub']);
    // From the endpoint on: above it, docker prints an empty "Resources:" for the empty Resources its own create sent.
    const fromEndpoint = (text: string) => text.slice(text.indexOf('Endpoint Mode:'));
    assert.match(pretty.stdout, /PublishedPort = 30000\n  Protocol = tcp\n  TargetPort = 90\n  PublishMode = ingress \n/);
    assert.equal(fromEndpoint((await swarmlet(daemon.socket, ['service', 'inspect', '--pretty', 'pub'])).stdout), fromEndpoint(pretty.stdout));

    const taken = await dockerCli(['service', 'create', '-d', '--name', 'pub2', '-p', '8080:81', TEST_IMAGE, 'sleep', '3600']);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /port '8080' is already in use by service 'pub' \(\w+\) as an ingress port/);

    const updated = await dockerCli(['service', 'update', '-d', '--publish-add', 'published=8081,target=81,protocol=udp', '--publish-rm', '80', 'pub']);
    assert.equal(updated.code, 0, updated.stderr);
    const [after] = JSON.parse((await dockerCli(['service', 'inspect', 'pub'])).stdout);
    assert.deepEqual(after.Endpoint.Ports, [
      { Protocol: 'tcp', TargetPort: 90, PublishedPort: 30000, PublishMode: 'ingress' },
      { Protocol: 'udp', TargetPort: 81, PublishedPort: 8081, PublishMode: 'ingress' },
    ]);
    const mine = await swarmlet(daemon.socket, ['service', 'update', '-d', '--publish-rm', '81/udp', 'pub']);
    assert.equal(mine.code, 0, mine.stderr);
    assert.match((await dockerCli(['service', 'ls'])).stdout, /\*:30000->90\/tcp\n/);
    assert.equal((await dockerCli(['service', 'rm', 'pub'])).code, 0);
  });

  it('a host-mode port is bound by the engine on the task\'s node, one task per node, shown in service ps', async () => {
    const port = 18_000 + Math.floor(Math.random() * 1000);
    const created = await dockerCli([
      'service', 'create', '-d', '--name', 'hostport', '--replicas', '2', '--publish', `mode=host,published=${port},target=80`,
      TEST_IMAGE, 'sh', '-c', 'mkdir -p /srv && echo host-mode > /srv/index.html && exec httpd -f -p 80 -h /srv',
    ]);
    assert.equal(created.code, 0, created.stderr);
    // One node: the second task cannot bind the same port there, and says so.
    const tasks = await waitFor('one task running, one pending with the reason', async () => {
      const all = await swarmlet(daemon.socket, ['service', 'ps', 'hostport', '--no-trunc']);
      const bound = new RegExp(`Running \\w.*\\*:${port}->80/tcp`).test(all.stdout);
      return bound && /host-mode port already in use on 1 node/.test(all.stdout) ? all.stdout : undefined;
    });
    assert.match(tasks, new RegExp(`Running\\s+Running .*\\*:${port}->80/tcp`), 'PORTS shows the binding of the running task');
    const page = await waitFor('the page through the bound port', async () => {
      const response = await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined);
      return response?.ok ? response.text() : undefined;
    });
    assert.equal(page.trim(), 'host-mode');
    const dockerPs = await dockerCli(['service', 'ps', 'hostport', '--no-trunc']);
    assert.equal(withoutAges((await swarmlet(daemon.socket, ['service', 'ps', 'hostport', '--no-trunc'])).stdout), withoutAges(dockerPs.stdout));
    assert.equal((await dockerCli(['service', 'rm', 'hostport'])).code, 0);
  });
});
