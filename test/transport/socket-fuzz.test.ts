/**
 * Fuzzing the listener over real sockets: random and mutated first messages (and a valid hello followed by a
 * random finish), sent as WebSocket binary or text messages or as raw TCP bytes. Whatever arrives, the connection
 * must end — refused by the server, or closed by the fuzzer once the server answered a hello the mutation left
 * valid — the process must not crash or log at error level, nothing may stay pending, and a good client must be
 * served afterwards. fast-check prints the seed and the shrunk input of any failure.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { dial } from '../../src/transport/endpoint.ts';
import { Initiator } from '../../src/transport/handshake.ts';
import { options } from './helpers.ts';
import { alice, cluster, echoServer, openTcp, security, within } from './socket-helpers.ts';

const RUNS = 200;
const CONNECTION_DEADLINE_MS = 3000;

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(message: Uint8Array, m: Mutation): Buffer {
  const at = 'at' in m ? m.at % message.length : 0;
  const out = Buffer.from(message);
  switch (m.kind) {
    case 'flip': out[at]! ^= 1 << m.bit; return out;
    case 'truncate': return out.subarray(0, at);
    case 'extend': return Buffer.concat([out, m.bytes]);
    case 'overwrite': out.set(m.bytes.subarray(0, out.length - at), at); return out;
  }
}

const input = fc.oneof(
  fc.record({ via: fc.constant('binary' as const), bytes: fc.uint8Array({ maxLength: 400 }) }),
  fc.record({ via: fc.constant('text' as const), text: fc.string({ maxLength: 200 }) }),
  fc.record({ via: fc.constant('mutated hello' as const), mutation }),
  fc.record({ via: fc.constant('hello, random finish' as const), bytes: fc.uint8Array({ maxLength: 100 }) }),
  fc.record({ via: fc.constant('tcp' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 400 }) }),
);
type Input = typeof input extends fc.Arbitrary<infer I> ? I : never;

function hello(seed: number): Uint8Array {
  const step = new Initiator(options(alice, cluster, `fuzz-${seed}`)).start();
  assert.ok(step.ok && step.send);
  return step.send;
}

/** Sends one input on a fresh connection; resolves when the connection has ended. */
async function send(port: number, path: string, value: Input, seed: number): Promise<void> {
  if (value.via === 'tcp') {
    const tcp = await openTcp(port);
    tcp.socket.write(value.bytes);
    await tcp.closed;
    return;
  }
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { perMessageDeflate: false });
  ws.on('error', () => {});
  const closed = once(ws, 'close');
  await once(ws, 'open');
  ws.on('message', () => {
    if (value.via === 'hello, random finish') ws.send(value.bytes);
    else ws.close(); // the mutation left the hello valid and the server replied: nothing more to try here
  });
  if (value.via === 'binary') ws.send(value.bytes);
  else if (value.via === 'text') ws.send(value.text);
  else if (value.via === 'mutated hello') ws.send(mutate(hello(seed), value.mutation));
  else ws.send(hello(seed));
  await closed;
}

describe('fuzzing the listener over sockets', () => {
  it(`survives ${RUNS} random and mutated first messages, and keeps serving`, async () => {
    const echo = await echoServer({ limits: { handshakesPerSecondPerAddress: Infinity, handshakeTimeoutMs: 1000, maxPendingHandshakes: 1000 } });
    try {
      let seed = 0;
      await fc.assert(
        fc.asyncProperty(input, fc.constantFrom('/swarmlet/v1/control', '/swarmlet/v1/bulk'), async (value, path) => {
          await within(send(echo.server.port, path, value, seed++), CONNECTION_DEADLINE_MS, `the connection for ${value.via}`);
        }),
        { numRuns: RUNS },
      );
      const channel = await dial(echo.address, 'control', security(alice));
      assert.deepEqual(await channel.request('still here', 2000), { echo: 'still here' });
      channel.close();
      const stats = echo.server.stats();
      assert.equal(stats.pendingHandshakes, 0);
      assert.ok(Object.values(stats.refusals).reduce((a, b) => a + b, 0) > RUNS / 2, JSON.stringify(stats.refusals));
      assert.deepEqual(echo.log.lines.filter((l) => l.level === 'error'), []);
    } finally {
      await echo.server.close();
    }
  });
});
