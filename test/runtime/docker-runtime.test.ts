/**
 * DockerRuntime on the machine's real engine: the runtime contract, then what only a real engine can show
 * (the create body's mapping as `docker inspect` sees it, and an engine that is not there).
 * Needs dockerd at DOCKER_SOCKET (default /var/run/docker.sock); builds the busybox test image when absent.
 */

import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SwarmletError } from '../../src/errors.ts';
import { DockerRuntime } from '../../src/runtime/docker/docker-runtime.ts';
import { EngineClient } from '../../src/runtime/docker/engine-client.ts';
import { runtimeContract } from './contract.ts';
import { ensureTestImage } from '../helpers/docker.ts';

const SOCKET = process.env.DOCKER_SOCKET ?? '/var/run/docker.sock';
const IMAGE = 'swarmlet-test/busybox:1';
const MB = 1024 * 1024;


runtimeContract('DockerRuntime', async () => {
  await ensureTestImage();
  const client = new EngineClient(SOCKET);
  return { runtime: new DockerRuntime(client), image: IMAGE, cleanup: async () => client.close() };
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
