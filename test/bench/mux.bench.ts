/**
 * Benchmark: one mesh stream across the encrypted transport, in one process, no hosts. It is the part of a
 * download across hosts that swarmlet's own code pays for: the bytes a task's node reads from its container go
 * into the stream's ChannelStream (the credit window), the stream mux frames them, the bulk channel seals them into
 * ws messages over loopback TCP, and the ingress node's side opens, parses and hands them to the client's socket.
 *
 * Each node is a thread of its own (the ingress side in a worker), so each has its own event loop as two daemons
 * would, and each thread's CPU time is read from /proc: CPU-seconds per GB of each side is the figure that decides
 * how fast a download goes when the daemons share a machine's cores with the client, the server and the kernel.
 * The edges are in memory (a source of 64 KiB chunks, the size a socket read gives, and a sink that takes every
 * write at once), so only the stream's path is measured. The whole process's CPU is reported too: V8's helper
 * threads (concurrent marking, sweeping) run beside both loops and take cores the daemons would share.
 *
 * With so small a heap (about 8 MB live), V8 would fall into a mark-compact every few megabytes on one side (80-100
 * per run instead of 1), roughly doubling that side's CPU per GB; the daemon sets V8's heap growth against it
 * (src/daemon/heap.ts), and so does this benchmark, as the daemon does, before anything runs (V8's flags are the
 * process's, the worker's included). Run node with --trace-gc to see the collections. Compare medians of runs.
 *
 * SWARMLET_BENCH_MUX_MB (default 512) MB per run, SWARMLET_BENCH_MUX_RUNS (default 5) runs; the figures are
 * medians. SWARMLET_TRANSPORT_AEAD picks the AEAD as for a node. SWARMLET_BENCH_MUX_CHUNK sets the source's chunk
 * size in bytes.
 */

import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { Readable, Writable } from 'node:stream';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { StreamMux } from '../../src/cluster/mux/mux.ts';
import { tuneHeapForTraffic } from '../../src/daemon/heap.ts';
import type { StreamChannel } from '../../src/cluster/mux/stream.ts';
import { ChannelStream } from '../../src/mesh/channel-stream.ts';
import { dial, listen, type SecureChannel } from '../../src/transport/endpoint.ts';
import { silentLogger } from '../../src/util/logger.ts';
import { security } from '../transport/socket-helpers.ts';
import { testNode } from '../transport/helpers.ts';
import { median, printTable, summary } from './lib/report.ts';

const volume = Number(process.env.SWARMLET_BENCH_MUX_MB ?? 512) * 1e6;
const runs = Number(process.env.SWARMLET_BENCH_MUX_RUNS ?? 5);
const CHUNK_BYTES = Number(process.env.SWARMLET_BENCH_MUX_CHUNK ?? 64 * 1024);
/** What the mesh gives a stream (mesh/limits.ts). */
const MAX_BUFFERED_BYTES = 4 << 20;
const LIMITS = { handshakesPerSecondPerAddress: Infinity };
const STREAM_TYPE = 'bench-sink';

/** CPU seconds (user + system) this thread has used, from Linux's /proc; NaN elsewhere. */
function threadCpuSeconds(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return NaN;
  }
}

/** The mesh's Duplex on a stream; ChannelStream is typed for a SecureChannel but uses only what a stream has. */
const duplexOn = (stream: StreamChannel) => new ChannelStream(stream as unknown as SecureChannel, MAX_BUFFERED_BYTES);

/** `total` bytes in `chunk`-byte pieces of one buffer, as fast as the consumer takes them. */
function source(total: number, chunk: number): Readable {
  const bytes = Buffer.alloc(chunk, 0x5a);
  let left = total;
  return new Readable({
    highWaterMark: chunk,
    read() {
      while (left > 0) {
        const piece = left >= chunk ? bytes : bytes.subarray(0, left);
        left -= piece.length;
        if (!this.push(piece)) return;
      }
      this.push(null);
    },
  });
}

// ---------------------------------------------------------------- the ingress node's side, in a worker

/** Serves sink streams: counts what arrives and answers {bytes, cpu} on the stream once it has ended. */
async function ingress(): Promise<void> {
  const server = await listen({
    host: '127.0.0.1', port: 0, log: silentLogger, limits: LIMITS,
    security: (kind) => (kind === 'bulk' ? security(testNode('bob')) : null),
    onChannel(channel) {
      const mux = new StreamMux(channel, { initiator: false, log: silentLogger });
      mux.serve(new Map([[STREAM_TYPE, (_request, stream) => {
        const duplex = duplexOn(stream);
        let bytes = 0;
        let cpuAtStart = NaN;
        const sink = new Writable({
          highWaterMark: 64 * 1024,
          write(chunk: Buffer, _encoding, callback) {
            if (bytes === 0) cpuAtStart = threadCpuSeconds();
            bytes += chunk.length;
            callback();
          },
          final(callback) {
            stream.send({ type: 'counted', bytes, cpu: threadCpuSeconds() - cpuAtStart });
            duplex.end();
            callback();
          },
        });
        duplex.on('error', () => {});
        duplex.pipe(sink);
        return { ready: true };
      }]]));
    },
  });
  parentPort!.postMessage({ port: server.port });
}

// ---------------------------------------------------------------- the task's node's side

interface Run {
  /** MB/s, from the first chunk to the ingress side's count of the last. */
  rate: number;
  senderCpu: number;
  receiverCpu: number;
  /** The whole process: both sides and V8's helper threads (concurrent marking and sweeping). */
  processCpu: number;
}

async function transfer(mux: StreamMux, total: number): Promise<Run> {
  const { stream } = await mux.open({ type: STREAM_TYPE }, 5_000);
  // The count arrives as a message on the stream: take it before ChannelStream sees the stream's messages.
  const counted = new Promise<{ bytes: number; cpu: number }>((resolve) => {
    stream.onMessage((message) => {
      if ((message as { type?: string }).type === 'counted') resolve(message as { bytes: number; cpu: number });
    });
  });
  const duplex = duplexOn(stream);
  duplex.on('error', () => {});
  duplex.resume();
  const cpu = threadCpuSeconds();
  const processCpu = process.cpuUsage();
  const start = performance.now();
  source(total, CHUNK_BYTES).pipe(duplex);
  const count = await counted;
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(processCpu);
  const run = { rate: count.bytes / 1e6 / seconds, senderCpu: threadCpuSeconds() - cpu, receiverCpu: count.cpu, processCpu: (used.user + used.system) / 1e6 };
  if (count.bytes !== total) throw new Error(`the ingress side counted ${count.bytes} bytes of ${total}`);
  duplex.destroy();
  return run;
}

async function main(): Promise<void> {
  const worker = new Worker(new URL(import.meta.url));
  try {
    const [{ port }] = (await once(worker, 'message')) as [{ port: number }];
    const channel = await dial(`127.0.0.1:${port}`, 'bulk', security(testNode('alice')), { limits: LIMITS });
    const mux = new StreamMux(channel, { initiator: true, log: silentLogger });
    await transfer(mux, Math.min(volume, 64e6)); // warm up
    const loadBefore = loadavg()[0]!.toFixed(2);
    const results: Run[] = [];
    for (let i = 0; i < runs; i++) results.push(await transfer(mux, volume));
    const loadAfter = loadavg()[0]!.toFixed(2);
    const perGb = (cpu: number) => cpu / (volume / 1e9);
    const rate = median(results.map((r) => r.rate));
    const send = median(results.map((r) => perGb(r.senderCpu)));
    const receive = median(results.map((r) => perGb(r.receiverCpu)));
    const all = median(results.map((r) => perGb(r.processCpu)));
    printTable(`mux: ${volume / 1e6} MB on one mesh stream over the encrypted transport on loopback, ${channel.stats().aead}, ${CHUNK_BYTES / 1024} KiB chunks, ${runs} runs (load ${loadBefore} → ${loadAfter} on ${availableParallelism()} CPUs)`, ['run', 'MB/s', 'send CPU-s/GB', 'receive CPU-s/GB', 'process CPU-s/GB'], [
      ...results.map((r, i) => [String(i + 1), r.rate.toFixed(0), perGb(r.senderCpu).toFixed(3), perGb(r.receiverCpu).toFixed(3), perGb(r.processCpu).toFixed(3)]),
      ['median', rate.toFixed(0), send.toFixed(3), receive.toFixed(3), all.toFixed(3)],
    ]);
    summary(`mux: one stream over the encrypted transport (${channel.stats().aead}) ${rate.toFixed(0)} MB/s; CPU per GB ${send.toFixed(2)} s sending, ${receive.toFixed(2)} s receiving, ${all.toFixed(2)} s the whole process with V8's helper threads (medians of ${runs})`);
    mux.close();
  } finally {
    await worker.terminate();
  }
}

if (isMainThread) {
  tuneHeapForTraffic();
  await main();
} else {
  await ingress();
}
