/**
 * The AEAD negotiation, through the handshake machines and then over sockets: which AEAD two nodes settle on, that
 * both ends of a session seal with it, and that nobody in the path can change the offer or the choice — stripping
 * AES-GCM from the offer (a downgrade), reordering it, or rewriting the choice — without the handshake failing.
 */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { aeadWireId, type AeadName } from '../../src/transport/aead.ts';
import { dial } from '../../src/transport/endpoint.ts';
import { TransportError } from '../../src/transport/errors.ts';
import { FRAME_TYPE } from '../../src/transport/frames.ts';
import { Initiator, Responder, type HandshakeResult, type HandshakeStep } from '../../src/transport/handshake.ts';
import {
  decodeHello, decodeReply, encodeHello, encodeReply, signedPayload, transcriptHash,
} from '../../src/transport/handshake-messages.ts';
import { Session } from '../../src/transport/session.ts';
import { options } from './helpers.ts';
import { alice, bob, cluster, echoServer, security, type EchoServer } from './socket-helpers.ts';

const BOTH: AeadName[] = ['aes-256-gcm', 'chacha20-poly1305'];
const CHACHA: AeadName[] = ['chacha20-poly1305'];
const AES: AeadName[] = ['aes-256-gcm'];

function sent(step: HandshakeStep): Uint8Array {
  assert.ok(step.ok, step.ok ? '' : `${step.error.reason}: ${step.error.message}`);
  assert.ok(step.send);
  return step.send;
}

function refusedWith(step: HandshakeStep, reason: string): void {
  assert.equal(step.ok, false, `expected a refusal (${reason})`);
  if (!step.ok) assert.equal(step.error.reason, reason, step.error.message);
}

interface Tamper { hello?: (m: Uint8Array) => Uint8Array; reply?: (m: Uint8Array) => Uint8Array }

/** A whole handshake between alice (offering `mine`) and bob (offering `theirs`), with optional tampering in flight. */
function negotiate(mine: readonly AeadName[], theirs: readonly AeadName[], tamper: Tamper = {}, seed = 'negotiation') {
  const initiator = new Initiator(options(alice, cluster, `alice/${seed}`, mine));
  const responder = new Responder(options(bob, cluster, `bob/${seed}`, theirs));
  const hello = sent(initiator.start());
  const replyStep = responder.receive(tamper.hello ? tamper.hello(hello) : hello);
  if (!replyStep.ok) return { initiatorStep: replyStep, responder };
  const reply = replyStep.send!;
  const initiatorStep = initiator.receive(tamper.reply ? tamper.reply(reply) : reply);
  return { initiatorStep, responder };
}

/** Both results of a completed handshake. */
function completed(mine: readonly AeadName[], theirs: readonly AeadName[], seed?: string): { initiator: HandshakeResult; responder: HandshakeResult } {
  const { initiatorStep, responder } = negotiate(mine, theirs, {}, seed);
  assert.ok(initiatorStep.ok && initiatorStep.result, initiatorStep.ok ? '' : initiatorStep.error.message);
  const last = responder.receive(initiatorStep.send!);
  assert.ok(last.ok && last.result, last.ok ? '' : last.error.message);
  return { initiator: initiatorStep.result, responder: last.result };
}

const rewriteHello = (aeads: Uint8Array) => (m: Uint8Array) => {
  const hello = decodeHello(m);
  assert.ok(hello.ok);
  return encodeHello({ ...hello.value, aeads });
};

const rewriteChoice = (aead: number) => (m: Uint8Array) => {
  const reply = decodeReply(m);
  assert.ok(reply.ok);
  return encodeReply({ ...reply.value, aead });
};

describe('AEAD negotiation in the handshake', () => {
  it('settles on AES-256-GCM when both offer it first, and the sessions seal and open with it', () => {
    const { initiator, responder } = completed(BOTH, BOTH);
    assert.equal(initiator.aead, 'aes-256-gcm');
    assert.equal(responder.aead, 'aes-256-gcm');
    const a = new Session(initiator);
    const b = new Session(responder);
    assert.equal(a.aead, 'aes-256-gcm');
    const opened = b.open(a.seal(FRAME_TYPE.bulk, new TextEncoder().encode('sealed with AES-GCM')));
    assert.ok(opened.ok);
    assert.equal(Buffer.from(opened.value.payload).toString(), 'sealed with AES-GCM');
  });

  it('settles on ChaCha20-Poly1305 when either side lacks AES instructions', () => {
    for (const [mine, theirs] of [[CHACHA, BOTH], [BOTH, CHACHA], [CHACHA, CHACHA]]) {
      const { initiator, responder } = completed(mine!, theirs!);
      assert.equal(initiator.aead, 'chacha20-poly1305', `${mine} / ${theirs}`);
      assert.equal(responder.aead, 'chacha20-poly1305');
      const opened = new Session(responder).open(new Session(initiator).seal(FRAME_TYPE.control, Uint8Array.of(1, 2, 3)));
      assert.ok(opened.ok);
    }
  });

  it('derives different keys for each AEAD from the same exchange', () => {
    const aes = completed(BOTH, BOTH, 'same').initiator;
    const chacha = completed(CHACHA, BOTH, 'same').initiator;
    assert.notDeepEqual(aes.sendKey, chacha.sendKey);
    assert.notDeepEqual(aes.receiveKey, chacha.receiveKey);
  });

  it('refuses when the two sides have no AEAD in common, and says which each offered', () => {
    const { initiatorStep } = negotiate(AES, CHACHA);
    refusedWith(initiatorStep, 'no_common_aead');
    assert.match(initiatorStep.ok ? '' : initiatorStep.error.message, /offers aes-256-gcm, the responder takes only chacha20-poly1305/);
  });

  it('refuses a downgrade: AES-GCM stripped from the offer, or the offer reordered', () => {
    const stripped = negotiate(BOTH, BOTH, { hello: rewriteHello(Uint8Array.of(aeadWireId('chacha20-poly1305'))) });
    refusedWith(stripped.initiatorStep, 'bad_signature');
    const reordered = negotiate(BOTH, BOTH, { hello: rewriteHello(Uint8Array.of(aeadWireId('chacha20-poly1305'), aeadWireId('aes-256-gcm'))) });
    refusedWith(reordered.initiatorStep, 'bad_signature');
    const padded = negotiate(BOTH, BOTH, { hello: rewriteHello(Uint8Array.of(99, aeadWireId('aes-256-gcm'), aeadWireId('chacha20-poly1305'))) });
    refusedWith(padded.initiatorStep, 'bad_signature');
  });

  it('refuses a rewritten choice, to the other AEAD or to one never offered', () => {
    refusedWith(negotiate(BOTH, BOTH, { reply: rewriteChoice(aeadWireId('chacha20-poly1305')) }).initiatorStep, 'bad_signature');
    refusedWith(negotiate(CHACHA, BOTH, { reply: rewriteChoice(aeadWireId('aes-256-gcm')) }).initiatorStep, 'bad_signature');
    refusedWith(negotiate(BOTH, BOTH, { reply: rewriteChoice(200) }).initiatorStep, 'bad_signature');
  });

  it('refuses a responder that signs a choice the initiator did not offer', () => {
    // A broken or hostile bob, holding his real key: he re-signs a reply choosing what alice never offered.
    for (const choice of [aeadWireId('aes-256-gcm'), 200]) {
      const initiator = new Initiator(options(alice, cluster, 'rogue', CHACHA));
      const helloBytes = sent(initiator.start());
      const hello = decodeHello(helloBytes);
      const reply = decodeReply(sent(new Responder(options(bob, cluster, 'rogue')).receive(helloBytes)));
      assert.ok(hello.ok && reply.ok);
      const transcript = transcriptHash({
        initiatorEphemeral: hello.value.ephemeral, aeadOffer: hello.value.aeads, initiatorCertificate: hello.value.certificate,
        responderEphemeral: reply.value.ephemeral, aead: choice, responderCertificate: reply.value.certificate,
      });
      const signature = nacl.sign.detached(signedPayload('responder', transcript), bob.keys.secretKey);
      const step = initiator.receive(encodeReply({ ...reply.value, aead: choice, signature }));
      refusedWith(step, 'malformed');
      assert.match(step.ok ? '' : step.error.message, /which this node did not offer/);
    }
  });
});

describe('AEAD negotiation over sockets', () => {
  let both: EchoServer;
  let chachaOnly: EchoServer;

  before(async () => {
    both = await echoServer({ aeads: BOTH });
    chachaOnly = await echoServer({ aeads: CHACHA });
  });
  after(async () => {
    await both.server.close();
    await chachaOnly.server.close();
  });

  for (const [name, server, offer, expected] of [
    ['both with AES instructions', () => both, BOTH, 'aes-256-gcm'],
    ['a dialer without them', () => both, CHACHA, 'chacha20-poly1305'],
    ['a listener without them', () => chachaOnly, BOTH, 'chacha20-poly1305'],
  ] as const) {
    it(`seals with ${expected} between ${name}, says so in stats() on both ends, and logs it once at debug`, async () => {
      const echo = server();
      const mark = echo.log.mark();
      const accepted = echo.nextChannel();
      const client = await dial(echo.address, 'bulk', security(alice), { aeads: offer });
      try {
        const served = await accepted;
        assert.equal(client.stats().aead, expected);
        assert.equal(served.stats().aead, expected);
        const back = new Promise<Uint8Array>((resolve) => client.onBytes(resolve));
        client.sendBytes(new Uint8Array(70_000).fill(7));
        assert.deepEqual(await back, new Uint8Array(70_000).fill(7));
        const lines = echo.log.lines.slice(mark).filter((l) => l.message.includes('established'));
        assert.equal(lines.length, 1);
        assert.equal(lines[0]!.level, 'debug');
        assert.match(lines[0]!.message, new RegExp(`bulk channel from node alice at .* established \\(${expected}\\)`));
      } finally {
        client.close();
      }
    });
  }

  it('refuses a dialer forced to an AEAD the listener does not take, and both ends say why', async () => {
    const mark = chachaOnly.log.mark();
    await assert.rejects(
      dial(chachaOnly.address, 'control', security(alice), { aeads: AES }),
      (err: unknown) => err instanceof TransportError && err.reason === 'no_common_aead' && /takes only chacha20-poly1305/.test(err.message),
    );
    await chachaOnly.log.waitFor(mark, ['refused', '127.0.0.1:', 'no_common_aead:']);
  });
});
