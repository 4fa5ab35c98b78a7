import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { ed25519Identity, Initiator, Responder, type HandshakeResult, type HandshakeStep } from '../../src/transport/handshake.ts';
import { PROTOCOL_VERSION, decodeHello, decodeReply, encodeHello, encodeReply } from '../../src/transport/handshake-messages.ts';
import { options, seededRandom, testNode, trusting } from './helpers.ts';

const alice = testNode('alice');
const bob = testNode('bob');
const mallory = testNode('mallory'); // a real member of the cluster, trying to pass as someone else
const cluster = trusting(alice, bob, mallory);

function sent(step: HandshakeStep): Uint8Array {
  assert.ok(step.ok, step.ok ? '' : `${step.error.reason}: ${step.error.message}`);
  assert.ok(step.send);
  return step.send;
}

function result(step: HandshakeStep): HandshakeResult {
  assert.ok(step.ok, step.ok ? '' : `${step.error.reason}: ${step.error.message}`);
  assert.ok(step.result);
  return step.result;
}

function refusedWith(step: HandshakeStep, reason: string): void {
  assert.equal(step.ok, false, `expected a refusal (${reason})`);
  if (!step.ok) {
    assert.equal(step.error.reason, reason, step.error.message);
    assert.equal(step.error.name, 'TransportError');
  }
}

/** Runs a whole handshake, with an optional tamper on each message in flight. */
function handshake(tamper: { hello?: (m: Uint8Array) => Uint8Array; reply?: (m: Uint8Array) => Uint8Array } = {}, seed = 'run') {
  const initiator = new Initiator(options(alice, cluster, `alice/${seed}`));
  const responder = new Responder(options(bob, cluster, `bob/${seed}`));
  const hello = sent(initiator.start());
  const reply = sent(responder.receive((tamper.hello ?? ((m) => m))(hello)));
  const initiatorStep = initiator.receive((tamper.reply ?? ((m) => m))(reply));
  return { initiator, responder, initiatorStep };
}

describe('transport handshake', () => {
  it('authenticates both nodes and derives matching directional keys', () => {
    const { responder, initiatorStep } = handshake();
    const mine = result(initiatorStep);
    const theirs = result(responder.receive(initiatorStep.ok ? initiatorStep.send! : new Uint8Array()));
    assert.equal(mine.peer.nodeId, 'bob');
    assert.equal(theirs.peer.nodeId, 'alice');
    assert.deepEqual(mine.sendKey, theirs.receiveKey);
    assert.deepEqual(mine.receiveKey, theirs.sendKey);
    assert.notDeepEqual(mine.sendKey, mine.receiveKey);
    assert.deepEqual(mine.transcript, theirs.transcript);
    assert.equal(mine.sendKey.length, 32);
  });

  it('makes fresh keys for every handshake between the same nodes (ephemeral keys)', () => {
    const one = result(handshake({}, 'one').initiatorStep);
    const two = result(handshake({}, 'two').initiatorStep);
    assert.notDeepEqual(one.sendKey, two.sendKey);
    assert.notDeepEqual(one.transcript, two.transcript);
  });

  it('refuses a responder that presents another node\'s certificate without its identity key', () => {
    const initiator = new Initiator(options(alice, cluster));
    const impostor = new Responder({ ...options(mallory, cluster), identity: ed25519Identity(bob.certificate, mallory.keys.secretKey) });
    refusedWith(initiator.receive(sent(impostor.receive(sent(initiator.start())))), 'bad_signature');
  });

  it('refuses an initiator that presents another node\'s certificate without its identity key', () => {
    const impostor = new Initiator({ ...options(mallory, cluster), identity: ed25519Identity(alice.certificate, mallory.keys.secretKey) });
    const responder = new Responder(options(bob, cluster));
    const reply = sent(responder.receive(sent(impostor.start())));
    const finish = sent(impostor.receive(reply)); // the impostor can check bob; bob must refuse the impostor
    refusedWith(responder.receive(finish), 'bad_signature');
  });

  it('refuses a forged or altered reply signature', () => {
    refusedWith(handshake({ reply: (m) => { const c = m.slice(); c[c.length - 1]! ^= 1; return c; } }).initiatorStep, 'bad_signature');
    refusedWith(handshake({ reply: (m) => { const c = m.slice(); c.fill(7, c.length - 64); return c; } }).initiatorStep, 'bad_signature');
  });

  it('refuses a man in the middle who swaps the ephemeral keys', () => {
    const attacker = nacl.box.keyPair.fromSecretKey(seededRandom('attacker')(32));
    const swapHello = (m: Uint8Array) => { const h = decodeHello(m); assert.ok(h.ok); return encodeHello({ ...h.value, ephemeral: attacker.publicKey }); };
    refusedWith(handshake({ hello: swapHello }).initiatorStep, 'bad_signature');
    const swapReply = (m: Uint8Array) => { const r = decodeReply(m); assert.ok(r.ok); return encodeReply({ ...r.value, ephemeral: attacker.publicKey }); };
    refusedWith(handshake({ reply: swapReply }).initiatorStep, 'bad_signature');
  });

  it('refuses a relay that substitutes its own certificate (identity misbinding)', () => {
    // Mallory forwards alice's hello to bob as her own: bob signs a transcript naming mallory, which alice refuses.
    const asMallory = (m: Uint8Array) => { const h = decodeHello(m); assert.ok(h.ok); return encodeHello({ ...h.value, certificate: mallory.certificate }); };
    refusedWith(handshake({ hello: asMallory }).initiatorStep, 'bad_signature');
  });

  it('refuses a responder signature replayed as the initiator\'s (role labels)', () => {
    const { responder, initiatorStep } = handshake();
    assert.ok(initiatorStep.ok);
    const initiator2 = new Initiator(options(alice, cluster, 'again'));
    const reply = sent(new Responder(options(bob, cluster, 'again')).receive(sent(initiator2.start())));
    const finish = initiatorStep.send!.slice();
    finish.set(reply.subarray(reply.length - 64), finish.length - 64);
    refusedWith(responder.receive(finish), 'bad_signature');
  });

  it('refuses a peer whose certificate verifyPeer rejects, on either side, and says why', () => {
    const outsider = testNode('outsider');
    const responder = new Responder(options(bob, cluster));
    const step = responder.receive(sent(new Initiator(options(outsider, cluster)).start()));
    refusedWith(step, 'peer_rejected');
    assert.match(step.ok ? '' : step.error.message, /not signed by this cluster's root/);

    const picky = new Initiator(options(alice, () => new Error('certificate revoked')));
    refusedWith(picky.receive(sent(new Responder(options(bob, cluster)).receive(sent(picky.start())))), 'peer_rejected');
  });

  it('treats a verifyPeer that throws or answers nonsense as a rejection', () => {
    const throwing = new Responder(options(bob, () => { throw new Error('boom'); }));
    refusedWith(throwing.receive(sent(new Initiator(options(alice, cluster)).start())), 'peer_rejected');
    const shortKey = new Responder(options(bob, () => ({ nodeId: 'x', signingKey: new Uint8Array(5) })));
    refusedWith(shortKey.receive(sent(new Initiator(options(alice, cluster)).start())), 'peer_rejected');
  });

  it('refuses another protocol version, garbage, and messages out of turn', () => {
    const hello = sent(new Initiator(options(alice, cluster)).start());
    for (const version of [PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1]) {
      const other = hello.slice(); other[4] = version;
      const step = new Responder(options(bob, cluster)).receive(other);
      refusedWith(step, 'version');
      assert.match(step.ok ? '' : step.error.message, new RegExp(`upgrade the node on version ${Math.min(version, PROTOCOL_VERSION)}`));
    }
    refusedWith(new Responder(options(bob, cluster)).receive(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n')), 'malformed');
    refusedWith(new Responder(options(bob, cluster)).receive(hello.subarray(0, hello.length - 1)), 'malformed');
    refusedWith(new Responder(options(bob, cluster)).receive(new Uint8Array()), 'malformed');

    const { initiator, responder, initiatorStep } = handshake();
    assert.ok(initiatorStep.ok);
    refusedWith(responder.receive(hello), 'unexpected_message'); // a hello where a finish belongs
    refusedWith(initiator.receive(initiatorStep.send!), 'closed'); // the initiator is done
    refusedWith(responder.receive(initiatorStep.send!), 'closed'); // one failure ends the handshake, even for a good finish
  });

  it('refuses a low-order ephemeral key', () => {
    const zero = (m: Uint8Array) => { const h = decodeHello(m); assert.ok(h.ok); return encodeHello({ ...h.value, ephemeral: new Uint8Array(32) }); };
    const responder = new Responder(options(bob, cluster));
    refusedWith(responder.receive(zero(sent(new Initiator(options(alice, cluster)).start()))), 'weak_key');
  });
});
