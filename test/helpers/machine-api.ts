/**
 * The API's routes on a real HTTP server on a unix socket, over a state machine: what a manager's API does with a
 * request, without Raft or an engine. Route tests (test/api) build on it.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { ApiContext } from '../../src/api/context.ts';
import { sendError } from '../../src/api/http.ts';
import type { EngineNetworks } from '../../src/api/routes/networks.ts';
import { buildRouter } from '../../src/api/server.ts';
import type { Proposer } from '../../src/manager/proposer.ts';
import type { Command } from '../../src/manager/state/commands.ts';
import type { StateMachine } from '../../src/manager/state/state-machine.ts';
import type { RandomSource } from '../../src/util/ids.ts';
import { clusterWith, T0 } from './fixtures.ts';

/** A manager's proposer over one state machine, applying each command as it is proposed. */
export class MachineProposer implements Proposer {
  machine: StateMachine;
  reads = 0;
  /** Runs once, just before the next command is applied (a change that races the request). */
  beforeApply: ((command: Command) => void) | undefined;

  constructor(machine: StateMachine = clusterWith()) {
    this.machine = machine;
  }

  get state() {
    return this.machine.state;
  }

  async propose(command: Command): Promise<void> {
    const hook = this.beforeApply;
    this.beforeApply = undefined;
    hook?.(command);
    this.machine.apply(structuredClone(command));
  }

  async read(): Promise<void> {
    this.reads += 1;
  }

  watch() {
    return () => {};
  }
}

/** What each request is served with: read at the request, so a test may swap them between its cases. */
export interface MachineApiParts {
  proposer: Proposer;
  random: RandomSource;
  engine: EngineNetworks;
}

/** Serves the API over `parts()` on a fresh socket; the clock is T0 and every image is present, exposing nothing. */
export async function serveMachineApi(parts: () => MachineApiParts): Promise<{ socket: string; close(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'swarmlet-api-test-'));
  const socket = path.join(dir, 'api.sock');
  const server = http.createServer((req, res) => {
    const { proposer, random, engine } = parts();
    const ctx = {
      proposer,
      nodeId: 'n1',
      random,
      now: () => T0,
      runtime: { inspectImage: async () => ({ id: 'sha256:1', exposedPorts: [] }) },
    } as unknown as ApiContext;
    const handle = buildRouter(ctx, engine).match(req);
    if (!handle) res.writeHead(404).end();
    else handle(res).catch((err: unknown) => sendError(res, err));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    socket,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
