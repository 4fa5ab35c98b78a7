/**
 * Benchmark: the node transport. First the pure protocol in one process (no sockets): complete handshakes per
 * second (two X25519 and four Ed25519 operations in tweetnacl, the cost a reconnect storm pays), and seal + open
 * throughput of bulk frames with each AEAD against a plain copy of the same bytes, the floor any transport pays.
 *
 * Then over real sockets on loopback, with the listening end in a worker thread so each end has its own event
 * loop, as two nodes would:
 *   - handshakes per second: dial + close, one dialer at a time and eight at once;
 *   - encrypted stream throughput: SWARMLET_BENCH_TRANSPORT_STREAM_MB (default 256) MB in 64 KiB sendBytes on a
 *     bulk channel, honoring backpressure, as a ratio of the same transfer over plain ws with the same message
 *     size, the same ws options and the same backpressure rule (goal ≥ 0.6). Wall-clock rates swing with whatever
 *     else runs on the machine, so each side's CPU time is measured too (its own thread, from /proc): bytes per
 *     CPU-second of the busier side is the rate the transfer would reach with a core per side to itself. The
 *     encrypted stream runs with the AEAD the two ends negotiate (AES-256-GCM on a CPU with AES instructions) and,
 *     when that is not already it, with ChaCha20-Poly1305 (the dialer offering only it), the AEAD of a machine
 *     without them. SWARMLET_TRANSPORT_AEAD=chacha20-poly1305 forces ChaCha20 on both ends;
 *   - control latency: request/reply round trips on the control channel, idle, then while a bulk transfer
 *     saturates the path. On bare loopback the path is the CPU, so the figure there is mostly thread scheduling.
 *     A link is emulated too: a proxy that shapes each connection to LINK_MB_PER_S, as a link with per-flow fair
 *     queueing (fq_codel, Linux's default) treats one bulk and one light flow. There the bulk connection's queue
 *     (our high-water mark plus the kernel's socket buffers) is real, and the contrast row — the same requests
 *     sent on the saturated bulk connection itself — shows what control would wait if it shared bulk's connection.
 * SWARMLET_BENCH_TRANSPORT_MB (default 512) sets the in-process volume per frame size. The in-process table also
 * seals AES-256-GCM payloads handed over as a 5-byte header and the rest, the stream mux's shape (frames.ts).
 */

import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import WebSocket, { WebSocketServer } from 'ws';
import { silentLogger } from '../../src/util/logger.ts';
import { AEAD_NAMES, hasHardwareAes, localAeadOffer, type AeadName } from '../../src/transport/aead.ts';
import { dial, listen, type SecureChannel } from '../../src/transport/endpoint.ts';
import { clientOptions } from '../../src/transport/dial.ts';
import { FRAME_TYPE } from '../../src/transport/frames.ts';
import { Initiator, Responder } from '../../src/transport/handshake.ts';
import { resolveLimits, wsMaxPayload } from '../../src/transport/limits.ts';
import { Session } from '../../src/transport/session.ts';
import { options, testNode, trusting } from '../transport/helpers.ts';
import { security } from '../transport/socket-helpers.ts';
import { printTable, summary, verdict } from './lib/report.ts';

const volume = Number(process.env.SWARMLET_BENCH_TRANSPORT_MB ?? 512) * 1e6;
const streamBytes = Number(process.env.SWARMLET_BENCH_TRANSPORT_STREAM_MB ?? 256) * 1e6;
const MESSAGE_BYTES = 64 * 1024;
const HIGH_WATER = 1 << 20;
/** The emulated link for the latency figures: about a gigabit Ethernet's payload rate. */
const LINK_MB_PER_S = 100;
/** Bench limits: no handshake rate limit (the loop is one address), room for concurrent handshakes. */
const LIMITS = { handshakesPerSecondPerAddress: Infinity, maxPendingHandshakes: 1024 };
const random = (n: number) => new Uint8Array(randomBytes(n));

// ---------------------------------------------------------------- in process, no sockets

function handshakesPerSecond(seconds: number): number {
  const alice = testNode('alice');
  const bob = testNode('bob');
  const cluster = trusting(alice, bob);
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

/**
 * MB/s of seal on one session and open on its peer, for one AEAD and frame size; `inParts`: the payload handed over
 * as a 5-byte header and the rest, as the stream mux does.
 */
function sealOpenRate(aead: AeadName, frameBytes: number, inParts = false): number {
  const key1 = random(32);
  const key2 = random(32);
  const a = new Session({ aead, sendKey: key1, receiveKey: key2 });
  const b = new Session({ aead, sendKey: key2, receiveKey: key1 });
  const whole = random(frameBytes);
  const payload = inParts ? [whole.subarray(0, 5), whole.subarray(5)] : whole;
  const frames = Math.max(1, Math.floor(volume / frameBytes));
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    const opened = b.open(a.seal(FRAME_TYPE.bulk, payload));
    if (!opened.ok) throw opened.error;
  }
  return (frames * frameBytes) / 1e6 / ((performance.now() - start) / 1000);
}

/** MB/s of a plain copy into a new buffer per frame: what any transport pays at least. */
function copyRate(frameBytes: number): number {
  const payload = random(frameBytes);
  const frames = Math.max(1, Math.floor(volume / frameBytes));
  const start = performance.now();
  for (let i = 0; i < frames; i++) {
    const copy = new Uint8Array(frameBytes);
    copy.set(payload);
  }
  return (frames * frameBytes) / 1e6 / ((performance.now() - start) / 1000);
}

// ---------------------------------------------------------------- the listening end, in a worker

/**
 * CPU seconds (user + system) this thread has used; Linux's /proc, NaN elsewhere. schedstat counts nanoseconds;
 * stat, the fallback for kernels without it, counts 10 ms ticks, coarse for a transfer a side spends 0.05-0.2 s on.
 */
function threadCpuSeconds(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
  } catch {
    // no schedstat: the ticks of stat below
  }
  try {
    const fields = readFileSync('/proc/thread-self/stat', 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return NaN;
  }
}

/**
 * Counts `expect` bytes (announced by the sender first), then answers {done, cpu}: the receiving thread's CPU
 * seconds from the first byte to the last.
 */
function counter(answer: (reply: { done: number; cpu: number }) => void): { expect(bytes: number): void; add(bytes: number): void } {
  let expect = Infinity;
  let received = 0;
  let cpuAtStart = NaN;
  return {
    expect(bytes) {
      expect = bytes;
      received = 0;
      cpuAtStart = NaN;
    },
    add(bytes) {
      if (received === 0) cpuAtStart = threadCpuSeconds();
      received += bytes;
      if (received >= expect) answer({ done: received, cpu: threadCpuSeconds() - cpuAtStart });
    },
  };
}

/**
 * A TCP proxy that passes each connection's upstream bytes at `bytesPerSecond` at most (its own budget per
 * connection: per-flow fair queueing), pausing the client socket while over budget so the queue builds where a
 * real link's would: in the sender's socket buffers and behind its high-water mark.
 */
async function shapingProxy(targetPort: number, bytesPerSecond: number): Promise<number> {
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    let nextFree = performance.now();
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      const now = performance.now();
      nextFree = Math.max(nextFree, now) + (chunk.length / bytesPerSecond) * 1000;
      if (nextFree - now > 1) {
        client.pause();
        setTimeout(() => client.resume(), nextFree - now);
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

/**
 * The worker: an encrypted listener (bob), a plain ws listener, and the shaping proxy in front of the encrypted
 * one. Requests are echoed; bulk bytes and plain messages are counted.
 */
async function peer(): Promise<void> {
  const secure = await listen({
    host: '127.0.0.1', port: 0, log: silentLogger, limits: LIMITS,
    security: () => security(testNode('bob')),
    onChannel(channel) {
      channel.onRequest((message) => message);
      const count = counter((reply) => channel.send(reply));
      channel.onMessage((message) => count.expect((message as { expect: number }).expect));
      channel.onBytes((bytes) => count.add(bytes.length));
    },
  });
  const plain = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: wsMaxPayload(resolveLimits()) });
  await once(plain, 'listening');
  plain.on('connection', (ws) => {
    const count = counter((reply) => ws.send(JSON.stringify(reply)));
    ws.on('message', (data, isBinary) => {
      if (isBinary) count.add((data as Buffer).length);
      else count.expect(JSON.parse(data.toString()).expect);
    });
  });
  const shaped = await shapingProxy(secure.port, LINK_MB_PER_S * 1e6);
  parentPort!.postMessage({ secure: secure.port, plain: (plain.address() as AddressInfo).port, shaped });
}

// ---------------------------------------------------------------- the dialing end

interface Transfer {
  /** MB/s, wall clock, from the first send to the receiver's confirmation. */
  rate: number;
  /** The AEAD the channel negotiated (encrypted transfers only). */
  aead?: AeadName;
  /** CPU seconds of the sending and the receiving thread. */
  senderCpu: number;
  receiverCpu: number;
}

/** Sends `total` bytes in 64 KiB messages; `send` answers false above the high-water mark, `onDrain` resumes. */
function pump(total: number, send: (chunk: Uint8Array) => boolean, onDrain: (resume: () => void) => void): Promise<void> {
  const chunk = random(MESSAGE_BYTES);
  let sent = 0;
  return new Promise((resolve) => {
    const go = () => {
      while (sent < total) {
        sent += chunk.length;
        if (!send(chunk)) return;
      }
      resolve();
    };
    onDrain(go);
    go();
  });
}

/**
 * `total` bytes over an encrypted bulk channel to `address`, until the far end confirms it has them all; `aeads`
 * is the dialer's offer (this machine's by default).
 */
async function secureStream(address: string, total: number, aeads?: readonly AeadName[]): Promise<Transfer> {
  const channel = await dial(address, 'bulk', security(testNode('alice')), { limits: LIMITS, ...(aeads ? { aeads } : {}) });
  const done = new Promise<{ cpu: number }>((resolve) => channel.onMessage((m) => resolve(m as { cpu: number })));
  channel.send({ expect: total });
  const cpu = threadCpuSeconds();
  const start = performance.now();
  await pump(total, (chunk) => channel.sendBytes(chunk), (resume) => channel.onDrain(resume));
  const { cpu: receiverCpu } = await done;
  const transfer = { rate: total / 1e6 / ((performance.now() - start) / 1000), senderCpu: threadCpuSeconds() - cpu, receiverCpu, aead: channel.stats().aead };
  channel.close();
  return transfer;
}

/** The same over plain ws: the dialer's ws options (or ws's defaults), the same backpressure rule. */
async function plainStream(port: number, total: number, wsOptions: WebSocket.ClientOptions): Promise<Transfer> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/`, wsOptions);
  await once(ws, 'open');
  const done = once(ws, 'message');
  ws.send(JSON.stringify({ expect: total }));
  let buffered = 0;
  let wantDrain = false;
  let resume = () => {};
  const cpu = threadCpuSeconds();
  const start = performance.now();
  await pump(total, (chunk) => {
    buffered += chunk.length;
    ws.send(chunk, () => {
      buffered -= chunk.length;
      if (wantDrain && buffered <= HIGH_WATER / 2) {
        wantDrain = false;
        resume();
      }
    });
    if (buffered < HIGH_WATER) return true;
    wantDrain = true;
    return false;
  }, (go) => { resume = go; });
  const [reply] = (await done) as [Buffer];
  const transfer = { rate: total / 1e6 / ((performance.now() - start) / 1000), senderCpu: threadCpuSeconds() - cpu, receiverCpu: JSON.parse(reply.toString()).cpu as number };
  ws.close();
  return transfer;
}

async function handshakeRate(address: string, seconds: number, concurrency: number): Promise<number> {
  const alice = security(testNode('alice'));
  let done = 0;
  const start = performance.now();
  const loop = async () => {
    while (performance.now() - start < seconds * 1000) {
      const channel = await dial(address, 'control', alice, { limits: LIMITS });
      channel.close();
      done++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return done / ((performance.now() - start) / 1000);
}

/** Round trips of small requests on `channel`, one every `everyMs`, until `until` settles (or `count` are done). */
async function latencies(channel: SecureChannel, everyMs: number, until: Promise<unknown> | null, count = 400): Promise<number[]> {
  let over = false;
  void until?.then(() => { over = true; });
  const samples: number[] = [];
  const message = { type: 'heartbeat', node: 'alice', seq: 0 };
  while (!over && (until !== null || samples.length < count)) {
    message.seq++;
    const start = performance.now();
    await channel.request(message, 10_000);
    samples.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return samples;
}

/** Control latency while `bulkAddress` carries `total` bytes: on `control`, and (contrast) on the bulk channel itself. */
async function underLoad(control: SecureChannel, bulkAddress: string, total: number): Promise<{ own: number[]; shared: number[] }> {
  const own = await latencies(control, 5, secureStream(bulkAddress, total));
  const bulk = await dial(bulkAddress, 'bulk', security(testNode('alice')), { limits: LIMITS });
  const done = new Promise((resolve) => bulk.onMessage(resolve));
  bulk.send({ expect: total });
  const sending = pump(total, (chunk) => bulk.sendBytes(chunk), (resume) => bulk.onDrain(resume));
  const shared = await latencies(bulk, 5, sending.then(() => done));
  bulk.close();
  return { own, shared };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const median = (values: number[]) => percentile(values, 50);
const ms = (value: number) => value.toFixed(2);
const mbPerCpuSecond = (total: number, t: Transfer) => total / 1e6 / Math.max(t.senderCpu, t.receiverCpu);

const loadAverage = () => loadavg().map((l) => l.toFixed(2)).join(' ');

async function main(): Promise<void> {
  console.log(`transport: this CPU ${hasHardwareAes() ? 'has' : 'lacks'} AES instructions; this node offers ${localAeadOffer().join(', ')}${process.env.SWARMLET_TRANSPORT_AEAD ? ' (SWARMLET_TRANSPORT_AEAD)' : ''}`);
  const rate = handshakesPerSecond(3);
  const rows: (string | number)[][] = [];
  for (const size of [1024, 16 * 1024, 64 * 1024, 1 << 20]) {
    rows.push([`${size / 1024} KiB`, ...AEAD_NAMES.map((aead) => sealOpenRate(aead, size).toFixed(0)), copyRate(size).toFixed(0), sealOpenRate(AEAD_NAMES[0], size, true).toFixed(0)]);
  }
  printTable('transport: seal + open of bulk frames (one core, MB/s = 10^6 bytes/s)', ['frame', ...AEAD_NAMES.map((aead) => `${aead} MB/s`), 'copy MB/s', `${AEAD_NAMES[0]}, header + data as two parts`], rows);
  summary(`transport: ${rate.toFixed(0)} complete handshakes/s (both sides, one core)`);
  AEAD_NAMES.forEach((aead, i) => summary(`transport: seal+open with ${aead} ${rows.map((r) => `${r[0]} ${r[i + 1]} MB/s`).join(', ')}`));
  summary(`transport: plain copy ${rows.map((r) => r[AEAD_NAMES.length + 1]).join('/')} MB/s; ${AEAD_NAMES[0]} sealing a 5-byte header and the data as two parts ${rows.map((r) => r[AEAD_NAMES.length + 2]).join('/')} MB/s`);

  const worker = new Worker(new URL(import.meta.url));
  try {
    const [ports] = (await once(worker, 'message')) as [{ secure: number; plain: number; shaped: number }];
    const address = `127.0.0.1:${ports.secure}`;
    console.log(`\ntransport: machine load average ${loadAverage()} on ${availableParallelism()} CPU(s) before the socket runs`);

    const sequential = await handshakeRate(address, 3, 1);
    const concurrent = await handshakeRate(address, 3, 8);
    printTable('transport: handshakes over loopback (dial + close; listener in another thread)', ['dialers at once', 'handshakes/s'], [
      ['1', sequential.toFixed(0)], ['8', concurrent.toFixed(0)],
    ]);
    summary(`transport: ${sequential.toFixed(0)} handshakes/s over loopback one dialer at a time, ${concurrent.toFixed(0)}/s with 8 dialers`);

    const plainOptions = clientOptions(resolveLimits());
    const { generateMask: _zeroMask, ...maskedOptions } = plainOptions;
    const negotiated = (await secureStream(address, 1e6)).aead!;
    // ChaCha20 too, unless it is what was negotiated: the figure for a machine without AES instructions.
    const alsoChaCha = negotiated !== 'chacha20-poly1305';
    const runs = { secure: [] as Transfer[], chacha: [] as Transfer[], plain: [] as Transfer[], masked: [] as Transfer[] };
    const loadBefore = loadAverage();
    for (let run = 0; run < 3; run++) {
      runs.secure.push(await secureStream(address, streamBytes));
      if (alsoChaCha) runs.chacha.push(await secureStream(address, streamBytes, ['chacha20-poly1305']));
      runs.plain.push(await plainStream(ports.plain, streamBytes, plainOptions));
      runs.masked.push(await plainStream(ports.plain, streamBytes, maskedOptions));
    }
    const loadAfter = loadAverage();
    const wall = (list: Transfer[]) => median(list.map((t) => t.rate));
    const perCpu = (list: Transfer[]) => median(list.map((t) => mbPerCpuSecond(streamBytes, t)));
    const cpuCell = (list: Transfer[], side: 'senderCpu' | 'receiverCpu') => median(list.map((t) => t[side] / (streamBytes / 1e9))).toFixed(2);
    const streamRow = (name: string, list: Transfer[]) => [
      name, wall(list).toFixed(0), list.map((t) => t.rate.toFixed(0)).join(' '), cpuCell(list, 'senderCpu'), cpuCell(list, 'receiverCpu'), perCpu(list).toFixed(0),
    ];
    printTable(`transport: ${streamBytes / 1e6} MB in 64 KiB messages over loopback, median of 3 (load average ${loadBefore} before, ${loadAfter} after)`, ['stream', 'MB/s', 'runs', 'send CPU-s/GB', 'receive CPU-s/GB', 'MB per CPU-s (busier side)'], [
      streamRow(`encrypted bulk channel, ${negotiated} (negotiated)`, runs.secure),
      ...(alsoChaCha ? [streamRow('encrypted bulk channel, chacha20-poly1305 (dialer offers only it)', runs.chacha)] : []),
      streamRow('plain ws, same options (zero mask)', runs.plain),
      streamRow('plain ws, ws defaults (random mask)', runs.masked),
    ]);
    const ratios = (list: Transfer[]) => {
      const wallRatio = wall(list) / wall(runs.plain);
      const cpuRatio = perCpu(list) / perCpu(runs.plain);
      return `${wall(list).toFixed(0)} MB/s vs plain ws ${wall(runs.plain).toFixed(0)} MB/s = ${wallRatio.toFixed(2)}x wall clock (goal ≥ 0.6: ${verdict(wallRatio >= 0.6)}); per CPU-second of the busier side ${perCpu(list).toFixed(0)} vs ${perCpu(runs.plain).toFixed(0)} MB = ${cpuRatio.toFixed(2)}x (${verdict(cpuRatio >= 0.6)})`;
    };
    summary(`transport: encrypted stream with ${negotiated} (negotiated) ${ratios(runs.secure)}; load average ${loadBefore} → ${loadAfter}`);
    if (alsoChaCha) summary(`transport: encrypted stream with chacha20-poly1305 ${ratios(runs.chacha)}`);

    const control = await dial(address, 'control', security(testNode('alice')), { limits: LIMITS });
    await latencies(control, 1, null, 100); // warm up
    const idle = await latencies(control, 5, null, 400);
    const loopback = await underLoad(control, address, Math.max(streamBytes, 512e6));
    control.close();
    const shapedAddress = `127.0.0.1:${ports.shaped}`;
    const shapedControl = await dial(shapedAddress, 'control', security(testNode('alice')), { limits: LIMITS });
    const shapedIdle = await latencies(shapedControl, 5, null, 200);
    const link = await underLoad(shapedControl, shapedAddress, LINK_MB_PER_S * 3e6);
    shapedControl.close();
    const row = (name: string, samples: number[]) => [name, samples.length, ms(percentile(samples, 50)), ms(percentile(samples, 99)), ms(Math.max(...samples))];
    printTable('transport: control request round trip (ms)', ['path, while', 'samples', 'p50', 'p99', 'max'], [
      row('loopback, idle', idle),
      row('loopback, bulk saturating its own connection (CPU-bound)', loopback.own),
      row('  (contrast) the requests on that bulk connection', loopback.shared),
      row(`${LINK_MB_PER_S} MB/s link, idle`, shapedIdle),
      row(`${LINK_MB_PER_S} MB/s link, bulk saturating its own connection`, link.own),
      row('  (contrast) the requests on that bulk connection', link.shared),
    ]);
    const p = (samples: number[]) => `${ms(percentile(samples, 50))}/${ms(percentile(samples, 99))}`;
    summary(`transport: control round trip p50/p99 ms on a ${LINK_MB_PER_S} MB/s link: idle ${p(shapedIdle)}, bulk saturating ${p(link.own)}, (on the bulk connection itself ${p(link.shared)}); on bare loopback: idle ${p(idle)}, bulk saturating the CPUs ${p(loopback.own)}`);
  } finally {
    await worker.terminate();
  }
}

if (isMainThread) await main();
else await peer();
