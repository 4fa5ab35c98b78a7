/**
 * Where a container socket's reads land (src/mesh/read-buffers.ts), without sockets: the test plays the kernel (it
 * fills whatever buffer a landing hands out) and the splice (a taker that says whether its write was taken at once,
 * and later that it was). The property that matters: no read ever lands on bytes a write still points into.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Landing, LANDING_BYTES, ReadBuffers } from '../../src/mesh/read-buffers.ts';

const BULK = 4 * LANDING_BYTES;

/** Plays the kernel: `length` bytes of `fill` into the buffer the landing offers, then its read callback. */
function land(landing: Landing, length: number, fill: number): Buffer {
  const buffer = landing.buffer();
  buffer.fill(fill, 0, Math.min(length, buffer.length));
  landing.read(Math.min(length, buffer.length), buffer);
  return buffer;
}

/** A taker that keeps what it is given, and answers `taken` (whether the write went out at once). */
function taker(landing: Landing, taken = true): Buffer[] {
  const chunks: Buffer[] = [];
  landing.take = (chunk) => (chunks.push(chunk), taken);
  return chunks;
}

const sameMemory = (a: Buffer, b: Buffer) => a.buffer === b.buffer;

describe('read buffers', () => {
  it('copies what lands in the shared buffer, so the next read of any socket cannot change it', () => {
    const pool = new ReadBuffers(BULK);
    const [a, b] = [new Landing(pool), new Landing(pool)];
    const chunksA = taker(a);
    taker(b);
    assert.equal(a.buffer(), b.buffer(), 'both start on the one landing buffer');
    land(a, 100, 1);
    land(b, 100, 2);
    assert.deepEqual(chunksA[0], Buffer.alloc(100, 1));
    assert.equal(pool.bytes, 0, 'conversational traffic takes no bulk buffer');
  });

  it('reads into a buffer of its own once a full landing read was taken at once, and hands its chunks over uncopied', () => {
    const pool = new ReadBuffers(BULK);
    const landing = new Landing(pool);
    const chunks = taker(landing);
    const shared = land(landing, LANDING_BYTES, 1);
    const own = landing.buffer();
    assert.notEqual(own, shared);
    assert.equal(own.length, BULK);
    assert.equal(pool.bytes, BULK);
    land(landing, BULK, 2);
    assert.ok(sameMemory(chunks[1]!, own), 'a bulk chunk is a view of the buffer, not a copy');
    assert.equal(landing.buffer(), own, 'and bulk goes on in it');
    land(landing, 1000, 3);
    assert.equal(landing.buffer(), shared, 'a short read ends bulk mode');
    landing.release();
    assert.equal(pool.bytes, BULK, 'the buffer is kept as a spare');
    assert.equal(new Landing(pool).buffer(), shared);
  });

  it('goes back to the landing buffer when the client falls behind, and hands the buffer left behind to no one', () => {
    const pool = new ReadBuffers(BULK, BULK);
    const [slow, other] = [new Landing(pool), new Landing(pool)];
    taker(slow);
    taker(other);
    land(slow, LANDING_BYTES, 1);
    const own = slow.buffer();
    const behind = taker(slow, false);
    land(slow, BULK, 7); // the client took part of it: the write points into `own` until it is done
    assert.notEqual(slow.buffer(), own);
    land(other, LANDING_BYTES, 2);
    assert.notEqual(other.buffer(), own, 'the other socket does not get the buffer a write points into');
    assert.equal(pool.bytes, BULK, 'nor a second one past the budget');
    land(other, LANDING_BYTES, 3);
    assert.ok(behind[0]!.equals(Buffer.alloc(BULK, 7)), 'the bytes being written are intact');
    // The write is done, the socket reads again: a full read taken at once brings the same buffer back into use.
    taker(slow);
    land(slow, LANDING_BYTES, 4);
    assert.equal(slow.buffer(), own);
  });

  it('never lands a read on bytes a write still points into, and stays within its budget', () => {
    const lengths = fc.oneof(fc.constantFrom(1, LANDING_BYTES - 1, LANDING_BYTES, BULK - 1, BULK), fc.integer({ min: 1, max: BULK }));
    const step = fc.record({ socket: fc.nat({ max: 2 }), resume: fc.boolean(), length: lengths, taken: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), fc.nat({ max: 3 }), (steps, budgetBuffers) => {
        const pool = new ReadBuffers(BULK, budgetBuffers * BULK, 1);
        const sockets = [0, 1, 2].map(() => ({ landing: new Landing(pool), pending: null as { chunk: Buffer; bytes: Buffer } | null }));
        steps.forEach(({ socket: index, resume, length, taken }, i) => {
          const socket = sockets[index]!;
          if (resume) return void (socket.pending = null); // its write is done: it reads again
          if (socket.pending) return; // a socket with a write in flight reads nothing
          const next = socket.landing.buffer();
          for (const other of sockets) {
            if (other.pending) assert.ok(!sameMemory(next, other.pending.chunk), `step ${i}: a read would land on bytes being written`);
            if (other !== socket && next.length === BULK) assert.notEqual(other.landing.buffer(), next, `step ${i}: two sockets read into one bulk buffer`);
          }
          const fill = (i % 250) + 1;
          socket.landing.take = (chunk) => {
            assert.ok(chunk.equals(Buffer.alloc(chunk.length, fill)), `step ${i}: the chunk holds what was read`);
            if (!taken) socket.pending = { chunk, bytes: Buffer.from(chunk) };
            return taken;
          };
          land(socket.landing, length, fill);
          for (const other of sockets) if (other.pending) assert.ok(other.pending.chunk.equals(other.pending.bytes), `step ${i}: bytes being written changed`);
          assert.ok(pool.bytes <= budgetBuffers * BULK, `step ${i}: ${pool.bytes} bytes of bulk buffers, over the budget`);
        });
        for (const socket of sockets) socket.landing.release();
        assert.ok(pool.bytes <= BULK, 'once released, at most the one spare is kept');
      }),
      { numRuns: 300 },
    );
  });
});
