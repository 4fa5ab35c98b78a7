/**
 * The authenticated key exchange, as two pure state machines (no sockets, no clock; randomness is an input).
 * The driver feeds each received message to `receive` and sends whatever `send` holds:
 *
 *   initiator.start()            → hello  (ephemeral X25519 key, the AEADs it offers, certificate)
 *   responder.receive(hello)     → reply  (ephemeral, the AEAD it chose, certificate, signature over the transcript)
 *   initiator.receive(reply)     → finish (signature over the transcript), and the session keys
 *   responder.receive(finish)    → the session keys
 *
 * Each side checks the other's certificate with the injected `verifyPeer` (the cluster's trust rules live with
 * identities, not here) and its transcript signature with the Ed25519 key that certificate names. The responder
 * picks the AEAD (aead.ts); the offer and the pick are in the signed transcript, so they cannot be altered unseen.
 * Both derive two directional keys for that AEAD with HKDF-SHA256 from the X25519 secret, salted with the
 * transcript hash. The ephemeral keys give forward secrecy: stealing a node's identity key later does not open
 * recorded traffic.
 *
 * Nothing a peer sends makes these throw: every refusal is a TransportError with a stable reason, and after one
 * the machine accepts nothing more.
 */

import { hkdfSync } from 'node:crypto';
import nacl from 'tweetnacl';
import { AEAD_OVERRIDE_VARIABLE, aeadFromWireId, aeadWireId, chooseAead, describeOffer, type AeadName } from './aead.ts';
import { TransportError, refuse, type Result } from './errors.ts';
import {
  KEY_BYTES, PROTOCOL_LABEL, PROTOCOL_VERSION, SIGNATURE_BYTES,
  decodeFinish, decodeHello, decodeReply, encodeFinish, encodeHello, encodeReply, signedPayload, transcriptHash,
} from './handshake-messages.ts';

/** This node as the handshake needs it: its certificate, and a way to sign with the identity key it names. */
export interface LocalIdentity {
  certificate: Uint8Array;
  /** Ed25519 detached signature (64 bytes) with the node's identity key. */
  sign(message: Uint8Array): Uint8Array;
}

/** Who the peer is, once its certificate has been checked against the cluster's root. */
export interface VerifiedPeer {
  nodeId: string;
  /** The Ed25519 public key the certificate binds to nodeId; the peer's transcript signature must verify under it. */
  signingKey: Uint8Array;
}

/** Owned by the identity layer: checks a certificate's chain, expiry and revocation. Returns an Error to refuse. */
export type VerifyPeer = (certificate: Uint8Array) => VerifiedPeer | Error;

export interface HandshakeOptions {
  identity: LocalIdentity;
  verifyPeer: VerifyPeer;
  /** Source of the ephemeral secret: crypto.randomBytes in the daemon, a seeded generator in tests. */
  randomBytes: (length: number) => Uint8Array;
  /** The AEADs this side will seal frames with, best first: localAeadOffer() in the daemon. Never empty. */
  aeads: readonly AeadName[];
}

export interface HandshakeResult {
  role: 'initiator' | 'responder';
  peer: VerifiedPeer;
  /** The AEAD both sides seal frames with, and the keys are for. */
  aead: AeadName;
  /** Key for the frames this side seals. */
  sendKey: Uint8Array;
  /** Key for the frames this side opens. */
  receiveKey: Uint8Array;
  /** SHA-256 of the transcript: identical on both sides, usable as a session id or channel binding. */
  transcript: Uint8Array;
}

/** One step: a message to send (if any), the keys once the handshake is complete, or why it failed. */
export type HandshakeStep =
  | { ok: true; send: Uint8Array | null; result: HandshakeResult | null }
  | { ok: false; error: TransportError };

/** The AEAD is in the key derivation too, so no key is ever used with both ciphers (the transcript alone would do). */
const keyInfo = (aead: AeadName) => new TextEncoder().encode(`${PROTOCOL_LABEL} v${PROTOCOL_VERSION} session keys ${aead}`);

/** An identity from a raw tweetnacl signing secret key (64 bytes), for tests and for the identity layer's use. */
export function ed25519Identity(certificate: Uint8Array, signingSecretKey: Uint8Array): LocalIdentity {
  return { certificate, sign: (message) => nacl.sign.detached(message, signingSecretKey) };
}

function failed(error: TransportError): HandshakeStep {
  return { ok: false, error };
}

/** Calls verifyPeer without trusting it to behave: a throw or a malformed answer is a refusal too. */
function checkPeer(verifyPeer: VerifyPeer, certificate: Uint8Array): Result<VerifiedPeer> {
  let verdict: VerifiedPeer | Error;
  try {
    verdict = verifyPeer(certificate);
  } catch (err) {
    verdict = err instanceof Error ? err : new Error(String(err));
  }
  if (verdict instanceof Error) return refuse('peer_rejected', `the peer's certificate was refused: ${verdict.message}`, verdict);
  if (!(verdict?.signingKey instanceof Uint8Array) || verdict.signingKey.length !== nacl.sign.publicKeyLength) {
    return refuse('peer_rejected', 'the peer\'s certificate names no valid Ed25519 signing key');
  }
  return { ok: true, value: verdict };
}

function verifySignature(role: 'initiator' | 'responder', transcript: Uint8Array, signature: Uint8Array, peer: VerifiedPeer): TransportError | null {
  const good = signature.length === SIGNATURE_BYTES && nacl.sign.detached.verify(signedPayload(role, transcript), signature, peer.signingKey);
  return good ? null : new TransportError('bad_signature', `the ${role}'s transcript signature does not verify under the key of node ${peer.nodeId}: it does not hold that node's identity key, or the handshake was altered in transit`);
}

/** X25519 then HKDF; refuses a low-order peer key, which would make the shared secret all zeros. */
function deriveKeys(ephemeralSecret: Uint8Array, peerEphemeral: Uint8Array, transcript: Uint8Array, aead: AeadName): Result<{ initiatorToResponder: Uint8Array; responderToInitiator: Uint8Array }> {
  const shared = nacl.scalarMult(ephemeralSecret, peerEphemeral);
  if (shared.every((b) => b === 0)) return refuse('weak_key', 'the peer sent a low-order ephemeral key; refusing the handshake');
  const okm = new Uint8Array(hkdfSync('sha256', shared, transcript, keyInfo(aead), 2 * KEY_BYTES));
  shared.fill(0);
  return { ok: true, value: { initiatorToResponder: okm.slice(0, KEY_BYTES), responderToInitiator: okm.slice(KEY_BYTES) } };
}

function checkOffer(aeads: readonly AeadName[]): void {
  if (aeads.length === 0) throw new RangeError('a handshake needs at least one AEAD to offer');
}

function ephemeralKeyPair(randomBytes: (length: number) => Uint8Array): nacl.BoxKeyPair {
  const secret = randomBytes(nacl.box.secretKeyLength);
  if (secret.length !== nacl.box.secretKeyLength) throw new RangeError('randomBytes returned the wrong length');
  return nacl.box.keyPair.fromSecretKey(Uint8Array.from(secret));
}

export class Initiator {
  readonly #options: HandshakeOptions;
  readonly #ephemeral: nacl.BoxKeyPair;
  readonly #offer: Uint8Array;
  #state: 'new' | 'sent_hello' | 'done' | 'failed' = 'new';

  constructor(options: HandshakeOptions) {
    checkOffer(options.aeads);
    this.#options = options;
    this.#offer = Uint8Array.from(options.aeads, aeadWireId);
    this.#ephemeral = ephemeralKeyPair(options.randomBytes);
  }

  /** The hello to send first. */
  start(): HandshakeStep {
    if (this.#state !== 'new') return this.#fail(new TransportError('closed', 'the handshake was already started'));
    this.#state = 'sent_hello';
    return { ok: true, send: encodeHello({ ephemeral: this.#ephemeral.publicKey, aeads: this.#offer, certificate: this.#options.identity.certificate }), result: null };
  }

  /** Takes the responder's reply; answers with the finish message and the session keys. */
  receive(message: Uint8Array): HandshakeStep {
    if (this.#state !== 'sent_hello') return this.#fail(new TransportError('closed', `no handshake message is expected now (state ${this.#state})`));
    const reply = decodeReply(message);
    if (!reply.ok) return this.#fail(reply.error);
    const peer = checkPeer(this.#options.verifyPeer, reply.value.certificate);
    if (!peer.ok) return this.#fail(peer.error);
    const transcript = transcriptHash({
      initiatorEphemeral: this.#ephemeral.publicKey, aeadOffer: this.#offer, initiatorCertificate: this.#options.identity.certificate,
      responderEphemeral: reply.value.ephemeral, aead: reply.value.aead, responderCertificate: reply.value.certificate,
    });
    const badSignature = verifySignature('responder', transcript, reply.value.signature, peer.value);
    if (badSignature) return this.#fail(badSignature);
    // Checked after the signature: a choice altered in transit is reported as that ('bad_signature'); one the
    // responder really signed but this side never offered is a broken or hostile responder.
    const aead = aeadFromWireId(reply.value.aead);
    if (!aead || !this.#options.aeads.includes(aead)) {
      return this.#fail(new TransportError('malformed', `node ${peer.value.nodeId} chose AEAD ${describeOffer(Uint8Array.of(reply.value.aead))}, which this node did not offer (${this.#options.aeads.join(', ')})`));
    }
    const keys = deriveKeys(this.#ephemeral.secretKey, reply.value.ephemeral, transcript, aead);
    if (!keys.ok) return this.#fail(keys.error);
    this.#ephemeral.secretKey.fill(0);
    this.#state = 'done';
    const send = encodeFinish({ signature: this.#options.identity.sign(signedPayload('initiator', transcript)) });
    return {
      ok: true, send,
      result: { role: 'initiator', peer: peer.value, aead, sendKey: keys.value.initiatorToResponder, receiveKey: keys.value.responderToInitiator, transcript },
    };
  }

  #fail(error: TransportError): HandshakeStep {
    this.#state = 'failed';
    this.#ephemeral.secretKey.fill(0);
    return failed(error);
  }
}

export class Responder {
  readonly #options: HandshakeOptions;
  #state: 'new' | 'sent_reply' | 'done' | 'failed' = 'new';
  #pending: { peer: VerifiedPeer; aead: AeadName; transcript: Uint8Array; initiatorToResponder: Uint8Array; responderToInitiator: Uint8Array } | null = null;

  constructor(options: HandshakeOptions) {
    checkOffer(options.aeads);
    this.#options = options;
  }

  /** Takes the hello (answers with the reply), then the finish (answers with the session keys). */
  receive(message: Uint8Array): HandshakeStep {
    if (this.#state === 'new') return this.#hello(message);
    if (this.#state === 'sent_reply') return this.#finish(message);
    return this.#fail(new TransportError('closed', `no handshake message is expected now (state ${this.#state})`));
  }

  #hello(message: Uint8Array): HandshakeStep {
    const hello = decodeHello(message);
    if (!hello.ok) return this.#fail(hello.error);
    // The certificate is checked before this side spends a signature on an unknown peer.
    const peer = checkPeer(this.#options.verifyPeer, hello.value.certificate);
    if (!peer.ok) return this.#fail(peer.error);
    const aead = chooseAead(hello.value.aeads, this.#options.aeads);
    if (!aead) {
      // Worded for either end, and short: the initiator reads it from the close frame (123 bytes).
      return this.#fail(new TransportError('no_common_aead', `the initiator offers ${describeOffer(hello.value.aeads)}, the responder takes only ${this.#options.aeads.join(', ')} (${AEAD_OVERRIDE_VARIABLE}?)`));
    }
    const ephemeral = ephemeralKeyPair(this.#options.randomBytes);
    const certificate = this.#options.identity.certificate;
    const transcript = transcriptHash({
      initiatorEphemeral: hello.value.ephemeral, aeadOffer: hello.value.aeads, initiatorCertificate: hello.value.certificate,
      responderEphemeral: ephemeral.publicKey, aead: aeadWireId(aead), responderCertificate: certificate,
    });
    const keys = deriveKeys(ephemeral.secretKey, hello.value.ephemeral, transcript, aead);
    ephemeral.secretKey.fill(0);
    if (!keys.ok) return this.#fail(keys.error);
    this.#pending = { peer: peer.value, aead, transcript, ...keys.value };
    this.#state = 'sent_reply';
    const signature = this.#options.identity.sign(signedPayload('responder', transcript));
    return { ok: true, send: encodeReply({ ephemeral: ephemeral.publicKey, aead: aeadWireId(aead), certificate, signature }), result: null };
  }

  #finish(message: Uint8Array): HandshakeStep {
    const finish = decodeFinish(message);
    if (!finish.ok) return this.#fail(finish.error);
    const pending = this.#pending!;
    const badSignature = verifySignature('initiator', pending.transcript, finish.value.signature, pending.peer);
    if (badSignature) return this.#fail(badSignature);
    this.#state = 'done';
    this.#pending = null;
    return {
      ok: true, send: null,
      result: { role: 'responder', peer: pending.peer, aead: pending.aead, sendKey: pending.responderToInitiator, receiveKey: pending.initiatorToResponder, transcript: pending.transcript },
    };
  }

  #fail(error: TransportError): HandshakeStep {
    this.#state = 'failed';
    if (this.#pending) {
      this.#pending.initiatorToResponder.fill(0);
      this.#pending.responderToInitiator.fill(0);
      this.#pending = null;
    }
    return failed(error);
  }
}
