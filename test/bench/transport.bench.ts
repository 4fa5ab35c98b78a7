/**
 * Benchmark: the transport's pure protocol, in one process (no sockets). Complete handshakes per second (two
 * X25519 and four Ed25519 operations in tweetnacl, the cost a reconnect storm pays), and seal + open throughput of
 * bulk frames against a plain copy of the same bytes, the floor any transport pays. The goal in issue 4 (encrypted
 * stream ≥ 0.6× plain ws) is measured between daemons once the ws adapter exists; this shows the cipher's share.
 * SWARMLET_BENCH_TRANSPORT_MB (default 512) sets the volume per frame size.
 */

import { randomBytes } from 'node:crypto';
import { FRAME_TYPE } from '../../src/transport/frames.ts';
import { Initiator, Responder } from '../../src/transport/handshake.ts';
import { Session } from '../../src/transport/session.ts';
import { options, testNode, trusting } from '../transport/helpers.ts';
import { printTable, summary } from './lib/report.ts';

const volume = Number(process.env.SWARMLET_BENCH_TRANSPORT_MB ?? 512) * 1e6;

function handshakesPerSecond(seconds: number): number {
  const alice = testNode('alice');
  const bob = testNode('bob');
  const cluster = trusting(alice, bob);
  const random = (n: number) => new Uint8Array(randomBytes(n));
  let done = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    const initiator = new Initiator({ ...options(alice, cluster), randomBytes: random });
    const responder = new Responder({ ...options(bob, cluster), randomBytes: random });
    const hello = initiator.start();
    const reply = responder.receive(hello.ok ? hello.send! : new Uint8Array());
    const finish = initiator.receive(reply.ok ? reply.send! : new Uint8Array());
    const last = responder.receive(finish.ok ? finish.send! : new Uint8Array());
    if (!last.ok || !last.result) throw new Error('handshake failed in the benchmark');
    done++;
  }
  return done / ((performance.now() - start) / 1000);
}

/** MB/s of seal on one session and open on its peer, and of a plain copy, for one frame size. */
function throughput(frameBytes: number): { sealOpen: number; copy: number } {
  const key1 = new Uint8Array(randomBytes(32));
  const key2 = new Uint8Array(randomBytes(32));
  const a = new Session({ sendKey: key1, receiveKey: key2 });
  const b = new Session({ sendKey: key2, receiveKey: key1 });
  const payload = new Uint8Array(randomBytes(frameBytes));
  const frames = Math.max(1, Math.floor(volume / frameBytes));
  let start = performance.now();
  for (let i = 0; i < frames; i++) {
    const opened = b.open(a.seal(FRAME_TYPE.bulk, payload));
    if (!opened.ok) throw opened.error;
  }
  const sealOpen = (frames * frameBytes) / 1e6 / ((performance.now() - start) / 1000);
  start = performance.now();
  for (let i = 0; i < frames; i++) {
    const copy = new Uint8Array(frameBytes);
    copy.set(payload);
  }
  const copy = (frames * frameBytes) / 1e6 / ((performance.now() - start) / 1000);
  return { sealOpen, copy };
}

const rate = handshakesPerSecond(3);
const rows: (string | number)[][] = [];
for (const size of [1024, 16 * 1024, 64 * 1024, 1 << 20]) {
  const { sealOpen, copy } = throughput(size);
  rows.push([`${size / 1024} KiB`, sealOpen.toFixed(0), copy.toFixed(0), (sealOpen / copy).toFixed(3)]);
}
printTable('transport: seal + open of bulk frames (one core, MB/s = 10^6 bytes/s)', ['frame', 'seal+open MB/s', 'copy MB/s', 'ratio'], rows);
summary(`transport: ${rate.toFixed(0)} complete handshakes/s (both sides, one core)`);
summary(`transport: seal+open ${rows.map((r) => `${r[0]} ${r[1]} MB/s`).join(', ')} (plain copy ${rows.map((r) => r[2]).join('/')} MB/s)`);
