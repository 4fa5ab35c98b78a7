import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AEAD_NAMES } from '../../src/transport/aead.ts';
import { FRAME_OVERHEAD, FRAME_TYPE, openFrame, releaseBuffer, sealFrame } from '../../src/transport/frames.ts';
import { Session, type SessionOptions } from '../../src/transport/session.ts';
import type { Result } from '../../src/transport/errors.ts';
import { seededRandom } from './helpers.ts';

const random = seededRandom('session-keys');
const keyA = random(32);
const keyB = random(32);
const text = (s: string) => new TextEncoder().encode(s);

function refusedWith(result: Result<unknown>, reason: string): void {
  assert.equal(result.ok, false, `expected a refusal (${reason})`);
  if (!result.ok) assert.equal(result.error.reason, reason, result.error.message);
}

function opened(result: ReturnType<Session['open']>) {
  assert.ok(result.ok, result.ok ? '' : `${result.error.reason}: ${result.error.message}`);
  return result.value;
}

/** The same suite for each AEAD: the frame format, and every refusal, must not depend on which one was chosen. */
for (const aead of AEAD_NAMES) describe(`transport frames and sessions (${aead})`, () => {
  const pair = (options: SessionOptions = {}, peerOptions: SessionOptions = options) => ({
    a: new Session({ aead, sendKey: keyA, receiveKey: keyB }, options),
    b: new Session({ aead, sendKey: keyB, receiveKey: keyA }, peerOptions),
  });

  it('reports its AEAD', () => {
    assert.equal(pair().a.aead, aead);
  });

  it('carries control and bulk frames both ways, empty ones included, and hides the payload', () => {
    const { a, b } = pair();
    const frame = a.seal(FRAME_TYPE.control, text('raft: append entries'));
    assert.equal(frame.length, FRAME_OVERHEAD + 20);
    assert.equal(Buffer.from(frame).includes('append'), false);
    assert.deepEqual(opened(b.open(frame)), { type: FRAME_TYPE.control, payload: text('raft: append entries') });
    assert.equal(opened(b.open(a.seal(FRAME_TYPE.bulk, new Uint8Array()))).payload.length, 0);
    assert.equal(Buffer.from(opened(a.open(b.seal(FRAME_TYPE.bulk, text('back')))).payload).toString(), 'back');
  });

  it('seals the same payload differently each time (the counter is the nonce)', () => {
    const { a } = pair();
    const one = a.seal(FRAME_TYPE.control, text('heartbeat'));
    const two = a.seal(FRAME_TYPE.control, text('heartbeat'));
    assert.notDeepEqual(one.subarray(13), two.subarray(13));
  });

  it('refuses a tampered frame whichever bit is flipped, header included', () => {
    const frame = pair().a.seal(FRAME_TYPE.control, text('status: running'));
    for (let i = 0; i < frame.length; i++) {
      for (const bit of [0, 7]) {
        const mutated = frame.slice();
        mutated[i]! ^= 1 << bit;
        const result = pair().b.open(mutated);
        assert.equal(result.ok, false, `flipping bit ${bit} of byte ${i} went unnoticed`);
      }
    }
    refusedWith(pair().b.open(Uint8Array.from(frame, (v, i) => (i === frame.length - 1 ? v ^ 1 : v))), 'auth_failed');
  });

  it('seals into a buffer it is given (a sender reusing written frames), and refuses one of the wrong size', () => {
    const { a, b } = pair();
    const into = new Uint8Array(FRAME_OVERHEAD + 5).fill(0xff);
    const frame = a.seal(FRAME_TYPE.bulk, text('first'), into);
    assert.equal(frame, into);
    assert.equal(Buffer.from(opened(b.open(frame)).payload).toString(), 'first');
    assert.equal(Buffer.from(opened(b.open(a.seal(FRAME_TYPE.bulk, text('again'), into))).payload).toString(), 'again');
    assert.throws(() => a.seal(FRAME_TYPE.bulk, text('too long'), into), RangeError);
  });

  it("leaves the caller's payload and the frame whole: only its own scratch memory is given back", () => {
    const { a, b } = pair();
    // Payloads that are whole ArrayBuffers of their own, the kind releaseBuffer would free if handed one.
    for (const size of [1, 100, 64 * 1024, 1 << 20]) {
      const payload = random(size);
      const copy = payload.slice();
      const into = new Uint8Array(FRAME_OVERHEAD + size);
      for (const frame of [a.seal(FRAME_TYPE.bulk, payload), a.seal(FRAME_TYPE.bulk, payload, into)]) {
        assert.equal(frame.length, FRAME_OVERHEAD + size);
        assert.deepEqual(payload, copy);
        const sealed = frame.slice();
        const { payload: out } = opened(b.open(frame));
        assert.deepEqual(out, copy);
        assert.deepEqual(frame, sealed, 'opening a frame must not change it');
      }
    }
  });

  it('seals a payload given in parts byte for byte as their concatenation, into a new buffer or a given one', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), fc.nat(2 ** 40), (parts, counter) => {
        const whole = Buffer.concat(parts);
        const expected = sealFrame(aead, keyA, counter, FRAME_TYPE.bulk, whole);
        assert.deepEqual(sealFrame(aead, keyA, counter, FRAME_TYPE.bulk, parts), expected);
        const into = new Uint8Array(FRAME_OVERHEAD + whole.length).fill(0xaa);
        assert.equal(sealFrame(aead, keyA, counter, FRAME_TYPE.bulk, parts, undefined, into), into);
        assert.deepEqual(into, expected);
      }),
      { seed: 11, numRuns: 300 },
    );
    // The stream mux's shape: a 5-byte header before a 64 KiB payload.
    const header = Uint8Array.of(1, 0, 0, 0, 7);
    const payload = random(64 * 1024);
    const { a, b } = pair();
    const frame = a.seal(FRAME_TYPE.bulk, [header, payload]);
    assert.deepEqual(frame, pair().a.seal(FRAME_TYPE.bulk, Buffer.concat([header, payload])));
    assert.deepEqual(opened(b.open(frame)).payload, new Uint8Array(Buffer.concat([header, payload])));
  });

  it('refuses a frame sealed from parts when any bit of its header, either part or its tag is flipped', () => {
    const header = Uint8Array.of(1, 0, 0, 0, 9);
    const payload = random(4096);
    const frame = pair().a.seal(FRAME_TYPE.bulk, [header, payload]);
    const tagAt = frame.length - 16;
    // Every byte of the frame header, of the first part, the seam, a spread over the second part, and the tag.
    const positions = [...Array(13 + 5 + 2).keys(), ...Array.from({ length: 64 }, (_, i) => 20 + i * 63), ...Array.from({ length: 16 }, (_, i) => tagAt + i)];
    for (const at of positions) {
      const mutated = frame.slice();
      mutated[at]! ^= 1 << (at % 8);
      assert.equal(pair().b.open(mutated).ok, false, `flipping a bit of byte ${at} went unnoticed`);
    }
    // The first part is encrypted like the rest: the mux header does not show in the frame.
    assert.equal(Buffer.from(frame).includes(Buffer.from(header)), false);
  });

  it('counts every part against the frame limit and the rekey schedule, and leaves the parts whole', () => {
    const { a, b } = pair({ maxPayloadBytes: 1024, rekeyAfterBytes: 100 });
    assert.throws(() => a.seal(FRAME_TYPE.bulk, [new Uint8Array(600), new Uint8Array(425)]), RangeError);
    const parts = [random(60), random(60)]; // whole ArrayBuffers of their own, the kind releaseBuffer would free
    const copies = parts.map((part) => part.slice());
    opened(b.open(a.seal(FRAME_TYPE.bulk, parts)));
    assert.deepEqual(parts, copies);
    assert.deepEqual(a.epochs, { send: 1, receive: 0 });
    assert.deepEqual(b.epochs, { send: 0, receive: 1 });
    assert.deepEqual(opened(b.open(a.seal(FRAME_TYPE.bulk, [text('after '), text('the rekey')]))).payload, text('after the rekey'));
  });

  it('refuses a frame sealed under another key', () => {
    refusedWith(openFrame(aead, random(32), 0, sealFrame(aead, keyA, 0, FRAME_TYPE.bulk, text('x'))), 'auth_failed');
  });

  it('refuses a frame sealed with the other AEAD under the same key', () => {
    const other = AEAD_NAMES.find((name) => name !== aead)!;
    const frame = sealFrame(other, keyA, 0, FRAME_TYPE.bulk, text('same key, other cipher'));
    refusedWith(pair().b.open(frame), 'auth_failed');
  });

  it('refuses a replayed frame, and ends the session', () => {
    const { a, b } = pair();
    const first = a.seal(FRAME_TYPE.control, text('one'));
    opened(b.open(first));
    refusedWith(b.open(first), 'out_of_order');
    refusedWith(b.open(a.seal(FRAME_TYPE.control, text('two'))), 'closed');
    assert.equal(b.error?.reason, 'out_of_order');
    assert.throws(() => b.seal(FRAME_TYPE.control, text('x')), { name: 'TransportError', reason: 'closed' });
  });

  it('refuses reordered frames, and a frame whose counter was rewritten', () => {
    const { a, b } = pair();
    a.seal(FRAME_TYPE.control, text('one')); // lost, or still in flight behind the second
    const second = a.seal(FRAME_TYPE.control, text('two'));
    refusedWith(b.open(second), 'out_of_order');
    const rewritten = Buffer.from(second);
    rewritten.writeUInt32BE(0, 5); // claims counter 0: passes the order check, fails the tag
    refusedWith(pair().b.open(rewritten), 'auth_failed');
  });

  it('refuses truncated and padded frames before decrypting', () => {
    const frame = pair().a.seal(FRAME_TYPE.bulk, text('hello world'));
    for (const cut of [0, 1, 12, 13, FRAME_OVERHEAD - 1, frame.length - 1]) refusedWith(pair().b.open(frame.subarray(0, cut)), 'malformed');
    refusedWith(pair().b.open(Buffer.concat([frame, Buffer.of(0)])), 'malformed');
  });

  it('refuses oversized frames before decrypting, by size and by declared length', () => {
    const { a, b } = pair({ maxPayloadBytes: 1024 });
    assert.throws(() => a.seal(FRAME_TYPE.bulk, new Uint8Array(1025)), RangeError);
    const big = pair().a.seal(FRAME_TYPE.bulk, new Uint8Array(1025)); // sealed by a peer with a larger limit
    refusedWith(b.open(big), 'oversized');
    const lying = Buffer.from(pair().a.seal(FRAME_TYPE.bulk, new Uint8Array(10)));
    lying.writeUInt32BE(0xffffffff, 9);
    refusedWith(pair({ maxPayloadBytes: 1024 }).b.open(lying), 'oversized');
    refusedWith(pair({ maxPayloadBytes: 1024 }).b.open(new Uint8Array(64 * 1024 * 1024)), 'oversized');
  });

  it('refuses an unknown frame type', () => {
    const frame = Buffer.from(pair().a.seal(FRAME_TYPE.control, text('x')));
    frame[0] = 9;
    refusedWith(pair().b.open(frame), 'unknown_type');
  });

  it('rekeys in lockstep across thousands of frames, by frame count and by bytes', () => {
    const { a, b } = pair({ rekeyAfterFrames: 97, rekeyAfterBytes: 10_000 });
    for (let i = 0; i < 5000; i++) {
      const payload = text(`frame ${i} `.repeat(i % 23));
      const frame = a.seal(i % 3 ? FRAME_TYPE.bulk : FRAME_TYPE.control, payload);
      assert.deepEqual(opened(b.open(frame)).payload, payload);
      assert.deepEqual(opened(a.open(b.seal(FRAME_TYPE.control, text(`ack ${i}`)))).payload, text(`ack ${i}`));
    }
    assert.ok(a.epochs.send > 5000 / 97, `rekeyed ${a.epochs.send} times`);
    assert.deepEqual(a.epochs, { send: b.epochs.receive, receive: b.epochs.send });
  });

  it('uses a new key after a rekey: a frame re-sealed under the old key is refused', () => {
    const { a, b } = pair({ rekeyAfterFrames: 2 });
    opened(b.open(a.seal(FRAME_TYPE.control, text('0'))));
    opened(b.open(a.seal(FRAME_TYPE.control, text('1'))));
    refusedWith(b.open(sealFrame(aead, keyA, 2, FRAME_TYPE.control, text('2'))), 'auth_failed');
  });

  it('fails at the first rekey when the two ends disagree on the schedule', () => {
    const { a, b } = pair({ rekeyAfterFrames: 10 }, { rekeyAfterFrames: 11 });
    for (let i = 0; i < 10; i++) opened(b.open(a.seal(FRAME_TYPE.control, text(String(i)))));
    refusedWith(b.open(a.seal(FRAME_TYPE.control, text('10'))), 'auth_failed');
  });
});

describe('releasing buffers early', () => {
  it('frees a buffer that is a whole ArrayBuffer of its own: it is detached, zero bytes long', () => {
    const bytes = new Uint8Array(64 * 1024).fill(7);
    assert.equal(releaseBuffer(bytes), true);
    assert.equal(bytes.length, 0);
    assert.equal(bytes.buffer.byteLength, 0);
    const node = Buffer.allocUnsafe(64 * 1024);
    assert.equal(releaseBuffer(node), true);
    assert.equal(node.length, 0);
  });

  it('leaves alone a view into a larger buffer, a pooled Buffer and an empty one', () => {
    const whole = new Uint8Array(1024).fill(1);
    for (const view of [whole.subarray(0, 512), whole.subarray(512), whole.subarray(1, 1023)]) {
      assert.equal(releaseBuffer(view), false);
    }
    assert.equal(whole.length, 1024);
    assert.ok(whole.every((v) => v === 1));
    const pooled = Buffer.from('a small buffer from the shared pool');
    assert.notEqual(pooled.buffer.byteLength, pooled.length, 'this Buffer should come from the pool');
    assert.equal(releaseBuffer(pooled), false);
    assert.equal(pooled.toString(), 'a small buffer from the shared pool');
    assert.equal(releaseBuffer(new Uint8Array(0)), false);
  });
});
