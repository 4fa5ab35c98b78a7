/**
 * Fuzzing what a peer controls: random bytes and mutations of valid messages, fed to the handshake machines and
 * the frame decoder. Each must answer with a TransportError (never throw), and no mutated frame or handshake
 * message may ever be accepted. fast-check prints the seed and the shrunk input of any failure.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AEAD_NAMES, type AeadName } from '../../src/transport/aead.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { FRAME_TYPE } from '../../src/transport/frames.ts';
import { PROTOCOL_VERSION, decodeFinish, decodeHello, decodeReply } from '../../src/transport/handshake-messages.ts';
import { Initiator, Responder } from '../../src/transport/handshake.ts';
import { Session } from '../../src/transport/session.ts';
import { options, seededRandom, testNode, trusting } from './helpers.ts';

const alice = testNode('alice');
const bob = testNode('bob');
const cluster = trusting(alice, bob);
/** Handshake runs cost Ed25519 signatures (tweetnacl: ~200/s here), frame runs almost nothing. */
const HANDSHAKE_RUNS = 120;
const FRAME_RUNS = 1000;

/** A mutation of a valid message: flip bits, cut, extend, overwrite a run, or splice random bytes in. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

/** Applies a mutation; returns null when it happened to leave the message unchanged. */
function mutate(message: Uint8Array, m: Mutation): Uint8Array | null {
  const at = 'at' in m ? m.at % message.length : 0;
  let out: Uint8Array;
  switch (m.kind) {
    case 'flip': out = message.slice(); out[at]! ^= 1 << m.bit; break;
    case 'truncate': out = message.slice(0, at); break;
    case 'extend': out = Buffer.concat([message, m.bytes]); break;
    case 'overwrite': out = message.slice(); out.set(m.bytes.subarray(0, message.length - at), at); break;
    case 'splice': out = Buffer.concat([message.subarray(0, at), m.bytes, message.subarray(at)]); break;
  }
  return Buffer.from(out).equals(Buffer.from(message)) ? null : new Uint8Array(out);
}

function assertRefused(step: { ok: boolean; error?: unknown }): void {
  assert.equal(step.ok, false, 'a mutated or random message was accepted');
  assert.ok(step.error instanceof TransportError);
}

/** The offers a pair may make: both with AES instructions, either without, or forced to one AEAD. */
const offers = fc.constantFrom<readonly AeadName[]>(AEAD_NAMES, ['chacha20-poly1305'], ['aes-256-gcm']);

/** A fresh valid exchange, different for every seed. */
function exchange(seed: number, aeads: readonly AeadName[] = AEAD_NAMES) {
  const initiator = new Initiator(options(alice, cluster, `a${seed}`, aeads));
  const responder = new Responder(options(bob, cluster, `b${seed}`));
  const hello = initiator.start();
  assert.ok(hello.ok && hello.send);
  const reply = responder.receive(hello.send);
  assert.ok(reply.ok && reply.send);
  return { initiator, responder, hello: hello.send, reply: reply.send };
}

describe('transport fuzzing', () => {
  it('decoders and both machines refuse random bytes without throwing', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      for (const decode of [decodeHello, decodeReply, decodeFinish]) assert.equal(decode(bytes).ok, false);
      assertRefused(new Responder(options(bob, cluster)).receive(bytes));
      const initiator = new Initiator(options(alice, cluster));
      initiator.start();
      assertRefused(initiator.receive(bytes));
      const { responder } = exchange(0);
      assertRefused(responder.receive(bytes));
    }), { numRuns: HANDSHAKE_RUNS });
  });

  it('random bytes behind a valid handshake header are refused without throwing', () => {
    const header = fc.constantFrom(...[1, 2, 3].map((kind) => Uint8Array.of(0x53, 0x57, 0x4c, 0x48, PROTOCOL_VERSION, kind)));
    fc.assert(fc.property(header, fc.uint8Array({ maxLength: 200 }), (h, rest) => {
      const bytes = Buffer.concat([h, rest]);
      assertRefused(new Responder(options(bob, cluster)).receive(bytes));
      const initiator = new Initiator(options(alice, cluster));
      initiator.start();
      assertRefused(initiator.receive(bytes));
    }), { numRuns: HANDSHAKE_RUNS });
  });

  it('a mutated reply or finish is always refused', () => {
    fc.assert(fc.property(fc.nat(1000), offers, mutation, mutation, (seed, aeads, m1, m2) => {
      const { initiator, reply } = exchange(seed, aeads);
      const badReply = mutate(reply, m1);
      if (badReply) assertRefused(initiator.receive(badReply));

      const fresh = exchange(seed, aeads);
      const step = fresh.initiator.receive(fresh.reply);
      assert.ok(step.ok && step.send);
      const badFinish = mutate(step.send, m2);
      if (badFinish) assertRefused(fresh.responder.receive(badFinish));
    }), { numRuns: HANDSHAKE_RUNS });
  });

  it('a mutated hello never yields a completed handshake', () => {
    // The responder cannot tell a changed ephemeral key from a real one; the initiator must then refuse the reply.
    fc.assert(fc.property(fc.nat(1000), offers, mutation, (seed, aeads, m) => {
      const initiator = new Initiator(options(alice, cluster, `a${seed}`, aeads));
      const hello = initiator.start();
      assert.ok(hello.ok && hello.send);
      const bad = mutate(hello.send, m);
      if (!bad) return;
      const reply = new Responder(options(bob, cluster, `b${seed}`)).receive(bad);
      if (!reply.ok) return assertRefused(reply);
      assertRefused(initiator.receive(reply.send!));
    }), { numRuns: HANDSHAKE_RUNS });
  });

  it('the frame decoder refuses random bytes and every mutated frame, without throwing', () => {
    const random = seededRandom('fuzz-keys');
    const key = random(32);
    const other = random(32);
    fc.assert(fc.property(
      fc.constantFrom(...AEAD_NAMES), fc.uint8Array({ maxLength: 200 }), fc.constantFrom(FRAME_TYPE.control, FRAME_TYPE.bulk), fc.nat(5), mutation, fc.uint8Array({ maxLength: 100 }),
      (aead, payload, type, position, m, junk) => {
        const sender = new Session({ aead, sendKey: key, receiveKey: other }, { maxPayloadBytes: 256, rekeyAfterFrames: 3 });
        const receiver = new Session({ aead, sendKey: other, receiveKey: key }, { maxPayloadBytes: 256, rekeyAfterFrames: 3 });
        for (let i = 0; i < position; i++) assert.ok(receiver.open(sender.seal(FRAME_TYPE.control, Uint8Array.of(i))).ok);
        const frame = sender.seal(type, payload);
        const bad = mutate(frame, m);
        if (bad) assertRefused(receiver.open(bad));
        assertRefused(new Session({ aead, sendKey: other, receiveKey: key }).open(junk));
      },
    ), { numRuns: FRAME_RUNS });
  });
});
