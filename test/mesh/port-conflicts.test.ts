/**
 * A published port another program holds, on loopback: the controller reports it (portConflicts) and says so once,
 * tries it again with a backoff that doubles up to its cap and starts over with a new table, takes the port soon
 * after the program lets go and answers there, and stops trying when the port is no longer published — for TCP and
 * for UDP. And what the node sends of it: bounded to what the leader's check of a description accepts.
 */

import assert from 'node:assert/strict';
import { createSocket, type Socket as DgramSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { MAX_MESH_PORT_CONFLICTS, MAX_MESH_PORT_ERROR } from '../../src/api/schemas.ts';
import type { NodeDescription } from '../../src/api/types.ts';
import { parseNodeDescription } from '../../src/cluster/node-report.ts';
import { withMeshPortConflicts } from '../../src/daemon/node-description.ts';
import type { MeshTable } from '../../src/manager/mesh-table.ts';
import { listenErrorText, MeshController, type MeshControllerOptions } from '../../src/mesh/controller.ts';
import type { Logger } from '../../src/util/logger.ts';
import { EchoBackend, roundTrip, UdpClient, UdpEchoBackend, until } from './helpers.ts';

/** A logger that keeps every line, by level. */
function recordingLogger(): Logger & { lines: Array<{ level: string; message: string }>; at(level: string, pattern: RegExp): string[] } {
  const lines: Array<{ level: string; message: string }> = [];
  const line = (level: string) => (message: string) => void lines.push({ level, message });
  return {
    lines,
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    at: (level, pattern) => lines.filter((l) => l.level === level && pattern.test(l.message)).map((l) => l.message),
  };
}

/** Holders not released yet: released after the tests, so that a failed test does not keep the process alive. */
const held = new Set<() => Promise<void>>();

/** Releases a holder once, whether the test or the cleanup gets there first. */
function holding(close: (done: () => void) => void): () => Promise<void> {
  let released: Promise<void> | null = null;
  const release = () => (released ??= new Promise<void>((resolve) => close(resolve)).finally(() => held.delete(release)));
  held.add(release);
  return release;
}

/** Another program holding a TCP port on 127.0.0.1 (a free one the system picks). */
async function holdTcp(): Promise<{ port: number; release(): Promise<void> }> {
  const server: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, release: holding((done) => server.close(() => done())) };
}

/** Another program holding a UDP port on 127.0.0.1. */
async function holdUdp(): Promise<{ port: number; release(): Promise<void> }> {
  const socket: DgramSocket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve());
  });
  return { port: socket.address().port, release: holding((done) => socket.close(() => done())) };
}

let tcpBackend: EchoBackend;
let udpBackend: UdpEchoBackend;
const controllers: MeshController[] = [];

function controller(log: Logger, portRetry?: MeshControllerOptions['portRetry']): MeshController {
  const mesh = new MeshController({
    selfId: 'n1',
    peers: () => null,
    containerAddress: async (id) => (id === 'c-tcp' ? tcpBackend.host : id === 'c-udp' ? udpBackend.host : null),
    log,
    host: '127.0.0.1',
    ...(portRetry ? { portRetry } : {}),
  });
  controllers.push(mesh);
  return mesh;
}

/** One service publishing `published` over `protocol`, with its one task on this node; `taskId` makes a new table. */
function table(published: number, protocol: 'tcp' | 'udp', taskId = 't1', serviceId = 'web'): MeshTable {
  const target = protocol === 'tcp' ? tcpBackend.port : udpBackend.port;
  return {
    services: [{ serviceId, ports: [{ published, target, protocol }], backends: [{ taskId, nodeId: 'n1', containerId: `c-${protocol}` }] }],
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

before(async () => {
  tcpBackend = await EchoBackend.listen('127.0.0.2');
  udpBackend = await UdpEchoBackend.listen('127.0.0.2');
});

after(async () => {
  for (const release of [...held]) await release();
  for (const mesh of controllers) await mesh.stop();
  await tcpBackend.close();
  await udpBackend.close();
});

describe('published ports another program holds', () => {
  it('reports a held TCP port, says it once, and takes the port and answers there soon after the program lets go', async () => {
    const log = recordingLogger();
    const mesh = controller(log, { initialMs: 50, maxMs: 200 });
    const holder = await holdTcp();
    await mesh.update(table(holder.port, 'tcp'));
    assert.deepEqual(mesh.ports, []);
    assert.deepEqual(mesh.portConflicts, [{ Port: holder.port, Protocol: 'tcp', ServiceID: 'web', Error: 'address already in use' }]);

    // Several retries later: still held, still said once, and the listeners' own warnings of each try left out.
    await sleep(700);
    assert.deepEqual(mesh.ports, []);
    const said = log.at('error', new RegExp(`published port ${holder.port}/tcp`));
    assert.equal(said.length, 1, JSON.stringify(log.lines));
    assert.match(said[0]!, /of service web on this node: .*EADDRINUSE.*trying again until it is free/);
    assert.deepEqual(log.lines.filter((l) => l.level === 'warn'), []);

    await holder.release();
    const released = performance.now();
    await until('the mesh takes the port', () => mesh.ports.includes(`${holder.port}/tcp`), 2_000);
    const took = performance.now() - released;
    assert.ok(took < 600, `taken ${took.toFixed(0)} ms after it was freed, with tries every 200 ms at most`);
    assert.deepEqual(mesh.portConflicts, []);
    assert.equal((await roundTrip(holder.port, Buffer.from('hello'))).reply.toString(), 'hellobye');
    assert.equal(log.at('info', new RegExp(`published port ${holder.port}/tcp of service web open on this node \\(it could not be opened before\\)`)).length, 1);
    assert.equal(log.at('error', /cannot open/).length, 1, 'said once when it failed, once when it opened');
    await mesh.update({ services: [] });
  });

  it('reports and retries a held UDP port the same way, then forwards datagrams through it', async () => {
    const log = recordingLogger();
    const mesh = controller(log, { initialMs: 50, maxMs: 200 });
    const holder = await holdUdp();
    await mesh.update(table(holder.port, 'udp'));
    assert.deepEqual(mesh.portConflicts, [{ Port: holder.port, Protocol: 'udp', ServiceID: 'web', Error: 'address already in use' }]);
    await sleep(400);
    assert.equal(log.at('error', new RegExp(`published port ${holder.port}/udp`)).length, 1);

    await holder.release();
    await until('the mesh takes the UDP port', () => mesh.ports.includes(`${holder.port}/udp`), 2_000);
    assert.deepEqual(mesh.portConflicts, []);
    const client = await UdpClient.open();
    try {
      assert.equal(await client.request(holder.port, 'ping'), 'ping');
    } finally {
      client.close();
    }
    await mesh.update({ services: [] });
  });

  it('tries no more once the port is not published any more, and reports nothing for it', async () => {
    const log = recordingLogger();
    const mesh = controller(log, { initialMs: 30, maxMs: 30 });
    const holder = await holdTcp();
    await mesh.update(table(holder.port, 'tcp'));
    assert.equal(mesh.portConflicts.length, 1);
    // The service is removed: its port leaves the table.
    await mesh.update({ services: [] });
    assert.deepEqual(mesh.portConflicts, []);
    await holder.release();
    await sleep(300);
    assert.deepEqual(mesh.ports, [], 'ten tries would have come and gone');
    // Nothing took it: another program can have it.
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(holder.port, '127.0.0.1', () => resolve());
    });
    await new Promise<void>((resolve) => again.close(() => resolve()));
    assert.equal(log.at('info', /open on this node/).length, 0);
  });

  it('reports the service that publishes the port now, when a new table gives the held port to another', async () => {
    const log = recordingLogger();
    const mesh = controller(log, { initialMs: 50, maxMs: 50 });
    const holder = await holdTcp();
    await mesh.update(table(holder.port, 'tcp', 't1', 'web'));
    await mesh.update(table(holder.port, 'tcp', 't1', 'api'));
    assert.deepEqual(mesh.portConflicts.map((c) => c.ServiceID), ['api']);
    await holder.release();
    await until('the port opens for api', () => mesh.ports.includes(`${holder.port}/tcp`), 2_000);
    assert.equal(log.at('info', /of service api open on this node/).length, 1);
    await mesh.update({ services: [] });
  });

  it('waits longer between tries up to the cap, and starts over at the shortest wait with a new table', async () => {
    // Tries at about 50, 150, 350, 750 and 1550 ms; by 1.7 s the next is 1.6 s away.
    const mesh = controller(recordingLogger(), { initialMs: 50, maxMs: 5_000 });
    const holder = await holdTcp();
    await mesh.update(table(holder.port, 'tcp', 't1'));
    await sleep(1_700);
    await holder.release();
    await sleep(400);
    assert.deepEqual(mesh.ports, [], 'no try within 400 ms once the wait has grown');
    // Held again, and a new table: it is tried at once and then after 50 ms, 100 ms...
    const second = await holdTcp();
    await mesh.update({ services: [] });
    await mesh.update(table(second.port, 'tcp', 't1'));
    await sleep(1_700);
    await mesh.update(table(second.port, 'tcp', 't2'));
    await second.release();
    const released = performance.now();
    await until('the port opens soon after the new table', () => mesh.ports.includes(`${second.port}/tcp`), 3_000);
    const took = performance.now() - released;
    assert.ok(took < 400, `taken ${took.toFixed(0)} ms after it was freed: the new table started the waits over at 50 ms`);
    await mesh.update({ services: [] });
  });

  it('tries again after 1 s by default', async () => {
    const mesh = controller(recordingLogger());
    const holder = await holdTcp();
    const applied = performance.now();
    await mesh.update(table(holder.port, 'tcp'));
    await holder.release();
    await until('the port opens on the first retry', () => mesh.ports.includes(`${holder.port}/tcp`), 3_000);
    const took = performance.now() - applied;
    assert.ok(took >= 900 && took < 3_000, `opened ${took.toFixed(0)} ms after the table`);
    await mesh.update({ services: [] });
  });

  it('names the usual causes in the system\'s words, and others by their message', () => {
    const errno = (code: string) => Object.assign(new Error(`listen ${code}: whatever 0.0.0.0:80`), { code });
    assert.equal(listenErrorText(errno('EADDRINUSE')), 'address already in use');
    assert.equal(listenErrorText(errno('EACCES')), 'permission denied');
    assert.equal(listenErrorText(errno('EADDRNOTAVAIL')), 'address not available');
    assert.equal(listenErrorText(errno('EMFILE')), 'listen EMFILE: whatever 0.0.0.0:80');
  });
});

describe('what a node reports of them', () => {
  const description: NodeDescription = {
    Hostname: 'h2',
    Platform: { Architecture: 'x86_64', OS: 'linux' },
    Resources: { NanoCPUs: 1e9, MemoryBytes: 1e9 },
    Engine: { EngineVersion: '27.0.0' },
  };

  it('leaves the field out when every port is open, so the description reads as before', () => {
    assert.equal(withMeshPortConflicts(description, []), description);
    assert.equal(JSON.stringify(parseNodeDescription(withMeshPortConflicts(description, []))), JSON.stringify(description));
  });

  it('sends no more than the leader accepts, however many ports fail and however long the error', () => {
    const many = Array.from({ length: MAX_MESH_PORT_CONFLICTS + 10 }, (_, i) => ({
      Port: 20_000 + MAX_MESH_PORT_CONFLICTS + 10 - i,
      Protocol: 'tcp' as const,
      ServiceID: 'svc',
      Error: 'x'.repeat(MAX_MESH_PORT_ERROR * 2),
    }));
    const sent = withMeshPortConflicts(description, many);
    const parsed = parseNodeDescription(JSON.parse(JSON.stringify(sent)));
    assert.equal(parsed.MeshPortConflicts!.length, MAX_MESH_PORT_CONFLICTS);
    assert.equal(parsed.MeshPortConflicts![0]!.Port, 20_001, 'sorted by port, the lowest kept');
    assert.ok(parsed.MeshPortConflicts!.every((c) => c.Error.length === MAX_MESH_PORT_ERROR));
  });
});
