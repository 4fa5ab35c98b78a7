/**
 * The routing mesh's limits as daemon options: `swarmlet daemon --mesh-*` flags become DaemonOptions.meshLimits,
 * each checked with an error naming its flag; the mesh fills in and checks the whole set (limits.ts); and a mesh
 * controller given them bounds its published ports' clients by them, on loopback.
 */

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { daemonCommand, daemonOptions, MESH_LIMIT_FLAGS } from '../../src/cli/daemon.ts';
import { parseArgs } from '../../src/cli/flags.ts';
import type { MeshTable } from '../../src/manager/mesh-table.ts';
import { MeshController } from '../../src/mesh/controller.ts';
import { DEFAULT_MESH_LIMITS, describeMeshLimits, MAX_TIMEOUT_MS, resolveMeshLimits } from '../../src/mesh/limits.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { EchoBackend, open, roundTrip, UdpClient, UdpEchoBackend, until } from '../mesh/helpers.ts';

const flags = (...argv: string[]) => daemonOptions(parseArgs(argv, daemonCommand.options, { interspersed: true }));

/** The error `daemon` stops with for these flags. */
function refused(argv: string[], message: RegExp): void {
  assert.throws(() => flags(...argv), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'invalid_argument');
    assert.match(err.message, message);
    return true;
  });
}

describe('daemon --mesh-* flags', () => {
  it('leaves the limits to the mesh when none is given', () => {
    assert.equal(flags().meshLimits, undefined);
  });

  it('reads counts as whole numbers and timeouts as durations, into the limits the mesh takes', () => {
    const options = flags(
      '--mesh-max-connections', '20000',
      '--mesh-max-connections-per-client', '4096',
      '--mesh-udp-max-flows=8192',
      '--mesh-udp-max-flows-per-client', '1024',
      '--mesh-connect-timeout', '1.5s',
      '--mesh-idle-timeout', '1h',
      '--mesh-udp-flow-timeout', '45s',
      '--mesh-udp-stream-timeout', '10m',
    );
    assert.deepEqual(options.meshLimits, {
      maxConnections: 20_000,
      maxConnectionsPerClient: 4_096,
      udpMaxFlows: 8_192,
      udpMaxFlowsPerClient: 1_024,
      connectTimeoutMs: 1_500,
      idleTimeoutMs: 3_600_000,
      udpFlowTimeoutMs: 45_000,
      udpStreamTimeoutMs: 600_000,
    });
    // The mesh takes them as they are and keeps its defaults for the rest.
    assert.deepEqual(resolveMeshLimits(options.meshLimits), { ...DEFAULT_MESH_LIMITS, ...options.meshLimits });
  });

  it('declares one flag per operator limit, each with its default in the help', () => {
    const help = new Map(daemonCommand.options.map((option) => [option.name, option.description]));
    assert.equal(MESH_LIMIT_FLAGS.length, 8);
    for (const { flag } of MESH_LIMIT_FLAGS) assert.match(help.get(flag) ?? '', /\(default [0-9hms]+\)$/, flag);
    assert.match(help.get('mesh-max-connections-per-client')!, /\(default 512\)/);
    assert.match(help.get('mesh-idle-timeout')!, /\(default 5m0s\)/);
  });

  it('refuses a count that is not a whole number ≥ 1, naming the flag and its default', () => {
    for (const bad of ['0', '-5', '1.5', '1e3', 'many', '', '99999999999999999999']) {
      refused(['--mesh-max-connections', bad], new RegExp(`^invalid --mesh-max-connections "${bad.replace('.', '\\.')}": give a whole number ≥ 1 \\(default 4096\\)$`));
    }
    refused(['--mesh-udp-max-flows-per-client', '0'], /^invalid --mesh-udp-max-flows-per-client "0": .*\(default 512\)$/);
  });

  it('refuses a timeout under 1ms, over a week, or not a duration, naming the flag', () => {
    for (const bad of ['0', '500us', '169h', '30d', '10', 'soon', '-1s']) {
      refused(['--mesh-idle-timeout', bad], /^invalid --mesh-idle-timeout ".*": give a duration between 1ms and 168h0m0s \(e\.g\. 10s, 5m; default 5m0s\)$/);
    }
    assert.equal(flags('--mesh-udp-flow-timeout', '168h').meshLimits?.udpFlowTimeoutMs, MAX_TIMEOUT_MS);
  });

  it('refuses a per-client limit above its port limit, given or default, naming both flags', () => {
    refused(['--mesh-max-connections', '100', '--mesh-max-connections-per-client', '200'], /^invalid --mesh-max-connections-per-client 200: above --mesh-max-connections \(100\).*raise --mesh-max-connections to at least 200/);
    refused(['--mesh-max-connections-per-client', '5000'], /above --mesh-max-connections \(its default 4096\)/);
    refused(['--mesh-udp-max-flows', '10', '--mesh-udp-max-flows-per-client', '11'], /^invalid --mesh-udp-max-flows-per-client 11: above --mesh-udp-max-flows \(10\)/);
    assert.deepEqual(flags('--mesh-max-connections', '100', '--mesh-max-connections-per-client', '100').meshLimits, { maxConnections: 100, maxConnectionsPerClient: 100 });
  });

  it('lowers a per-client limit left to its default to a port limit set below it', () => {
    const limits = resolveMeshLimits(flags('--mesh-max-connections', '100', '--mesh-udp-max-flows', '64').meshLimits);
    assert.equal(limits.maxConnectionsPerClient, 100);
    assert.equal(limits.udpMaxFlowsPerClient, 64);
  });
});

describe('resolveMeshLimits', () => {
  it('describes what a node runs with, flags and defaults merged, for its log', () => {
    assert.equal(
      describeMeshLimits(resolveMeshLimits(flags('--mesh-max-connections-per-client', '4096', '--mesh-idle-timeout', '1h').meshLimits)),
      '4096 TCP connections per published port (4096 per client address), 4096 UDP flows (512 per client address); connect timeout 3s, idle timeout 3600s, UDP flow timeout 30s (120s once a stream)',
    );
  });

  it('refuses fractions, zero, NaN, a conflicting pair, and waits past what a timer can hold', () => {
    const bad = [
      { maxConnections: 1.5 },
      { udpFlowQueue: 0 },
      { idleTimeoutMs: Number.NaN },
      { maxConnections: 10, maxConnectionsPerClient: 11 },
      { idleTimeoutMs: MAX_TIMEOUT_MS + 1 },
      { connectTimeoutMs: MAX_TIMEOUT_MS, maxAttempts: 4 },
    ];
    for (const limits of bad) assert.throws(() => resolveMeshLimits(limits), { code: 'invalid_argument' }, JSON.stringify(limits));
  });
});

describe('a mesh controller given the flags', () => {
  const stops: Array<() => Promise<void>> = [];
  after(async () => {
    for (const stop of stops.reverse()) await stop();
  });

  const withLimits = (argv: string[]) => {
    const { meshLimits } = flags(...argv);
    return meshLimits ? { limits: meshLimits } : {};
  };

  /** A controller publishing one port (TCP and UDP) for one task on this node, at 127.0.0.2. */
  async function meshWith(argv: string[]): Promise<{ published: number; container: EchoBackend }> {
    const container = await EchoBackend.listen('127.0.0.2');
    const udpContainer = await UdpEchoBackend.listen('127.0.0.2', container.port);
    const controller = new MeshController({ selfId: 'n1', peers: () => null, containerAddress: async () => '127.0.0.2', log: silentLogger, host: '127.0.0.1', ...withLimits(argv) });
    stops.push(() => container.close(), () => udpContainer.close(), () => controller.stop());
    const probe = await EchoBackend.listen('127.0.0.1');
    const published = probe.port;
    await probe.close();
    const table: MeshTable = {
      services: [{
        serviceId: 'web',
        ports: [{ published, target: container.port, protocol: 'tcp' }, { published, target: container.port, protocol: 'udp' }],
        backends: [{ taskId: 't1', nodeId: 'n1', containerId: 'c1' }],
      }],
    };
    await controller.update(table);
    assert.deepEqual(controller.ports, [`${published}/tcp`, `${published}/udp`]);
    return { published, container };
  }

  it('refuses a client address its connections and flows past --mesh-max-connections-per-client and --mesh-udp-max-flows-per-client', async () => {
    const { published, container } = await meshWith(['--mesh-max-connections-per-client', '2', '--mesh-udp-max-flows-per-client', '1']);
    const held = [await open(published), await open(published)];
    await until('both connections to reach the task', () => container.open === 2);
    const third = await roundTrip(published, Buffer.from('third')).then(({ reply }) => reply.toString(), (err: { code?: string }) => err.code ?? 'error');
    assert.ok(third === '' || third === 'ECONNRESET', `a third connection from 127.0.0.1 was served: ${third}`);
    for (const socket of held) socket.destroy();
    await until('the connections to end', () => container.open === 0);
    assert.equal((await roundTrip(published, Buffer.from('again'))).reply.toString(), 'againbye');

    const [first, second] = [await UdpClient.open(), await UdpClient.open()];
    stops.push(async () => first.close(), async () => second.close());
    assert.equal(await first.request(published, 'one'), 'one');
    assert.equal(await second.request(published, 'two', 300), null, 'a second flow from the same address is dropped');
  });

  it('serves the same clients with the defaults', async () => {
    const { published, container } = await meshWith([]);
    const held = [await open(published), await open(published), await open(published)];
    await until('three connections to reach the task', () => container.open === 3);
    for (const socket of held) socket.destroy();
    const [first, second] = [await UdpClient.open(), await UdpClient.open()];
    stops.push(async () => first.close(), async () => second.close());
    assert.equal(await first.request(published, 'one'), 'one');
    assert.equal(await second.request(published, 'two'), 'two');
  });

  it('stops at construction on limits the mesh refuses', () => {
    assert.throws(
      () => new MeshController({ selfId: 'n1', peers: () => null, containerAddress: async () => null, log: silentLogger, limits: { maxConnections: 5, maxConnectionsPerClient: 6 } }),
      /maxConnectionsPerClient \(6\) may not exceed maxConnections \(5\)/,
    );
  });
});
