/**
 * A node's long-lived keys: an Ed25519 key that signs (its identity, named in its certificate) and an X25519 key
 * that agrees secrets. Both come from tweetnacl. Secret halves live in private fields and are left out of
 * `JSON.stringify` and `util.inspect`, so logging an identity by mistake prints only public keys; the key store
 * is the one place that asks for them, to write them to a 0600 file.
 */

import { inspect } from 'node:util';
import nacl from 'tweetnacl';
import { SwarmletError } from '../errors.ts';
import { cryptoRandom, type RandomSource } from '../util/ids.ts';
import { fromBase64url, toBase64url } from './encoding.ts';

export const KEY_BYTES = 32;
export const SIGNATURE_BYTES = nacl.sign.signatureLength;

/** What signs certificates and handshake transcripts: a node's identity key, or the cluster's root key. */
export interface Signer {
  readonly publicKey: Uint8Array;
  sign(message: Uint8Array): Uint8Array;
}

/** An Ed25519 key pair kept from a 32-byte seed, the form RFC 8032 and the key file use. */
export class SigningKey implements Signer {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;

  private constructor(secretKey: Uint8Array, publicKey: Uint8Array) {
    this.#secretKey = secretKey;
    this.publicKey = publicKey;
  }

  static generate(random: RandomSource = cryptoRandom): SigningKey {
    return SigningKey.fromSeed(random(KEY_BYTES));
  }

  static fromSeed(seed: Uint8Array): SigningKey {
    const pair = nacl.sign.keyPair.fromSeed(seed);
    return new SigningKey(pair.secretKey, pair.publicKey);
  }

  /** A detached signature, so the signed bytes travel in their own readable form. */
  sign(message: Uint8Array): Uint8Array {
    return nacl.sign.detached(message, this.#secretKey);
  }

  /** The secret seed; only for the key store, which writes it to a file nobody else can read. */
  exportSeed(): Uint8Array {
    return this.#secretKey.slice(0, KEY_BYTES);
  }

  toJSON(): { publicKey: string } {
    return { publicKey: toBase64url(this.publicKey) };
  }

  [inspect.custom](): string {
    return `SigningKey(${toBase64url(this.publicKey)})`;
  }
}

/** An X25519 key pair, for key agreement with a peer (tweetnacl's `box` keys are X25519). */
export class AgreementKey {
  readonly publicKey: Uint8Array;
  readonly #secretKey: Uint8Array;

  private constructor(secretKey: Uint8Array, publicKey: Uint8Array) {
    this.#secretKey = secretKey;
    this.publicKey = publicKey;
  }

  static generate(random: RandomSource = cryptoRandom): AgreementKey {
    return AgreementKey.fromSecret(random(KEY_BYTES));
  }

  static fromSecret(secret: Uint8Array): AgreementKey {
    const pair = nacl.box.keyPair.fromSecretKey(secret);
    return new AgreementKey(pair.secretKey, pair.publicKey);
  }

  /**
   * The raw X25519 shared secret with `peerPublicKey`. It is not a key yet: callers feed it, with the handshake
   * transcript, through a KDF. A peer that sends a low-order point would force an all-zero secret that an
   * attacker also knows, so that is refused here rather than trusted to every caller.
   */
  agree(peerPublicKey: Uint8Array): Uint8Array {
    if (peerPublicKey.length !== KEY_BYTES) {
      throw new SwarmletError('invalid_argument', `a peer's X25519 key must be ${KEY_BYTES} bytes, not ${peerPublicKey.length}`);
    }
    const shared = nacl.scalarMult(this.#secretKey, peerPublicKey);
    if (shared.every((byte) => byte === 0)) {
      throw new SwarmletError('invalid_argument', "the peer's X25519 key is a low-order point; refusing the key agreement");
    }
    return shared;
  }

  /** The secret scalar; only for the key store. */
  exportSecret(): Uint8Array {
    return this.#secretKey.slice();
  }

  toJSON(): { publicKey: string } {
    return { publicKey: toBase64url(this.publicKey) };
  }

  [inspect.custom](): string {
    return `AgreementKey(${toBase64url(this.publicKey)})`;
  }
}

/** A node's identity: who it is (signing) and how peers agree keys with it (agreement). */
export interface NodeIdentity {
  readonly signing: SigningKey;
  readonly agreement: AgreementKey;
}

export function newIdentity(random: RandomSource = cryptoRandom): NodeIdentity {
  return { signing: SigningKey.generate(random), agreement: AgreementKey.generate(random) };
}

/**
 * The identity file's content. Public keys are stored too, though derivable, so a file whose secret was
 * damaged or hand-edited is caught as a mismatch instead of silently becoming a different node.
 */
export interface IdentityRecord {
  version: 1;
  signingSeed: string;
  signingKey: string;
  agreementSecret: string;
  agreementKey: string;
}

export function encodeIdentity(identity: NodeIdentity): IdentityRecord {
  return {
    version: 1,
    signingSeed: toBase64url(identity.signing.exportSeed()),
    signingKey: toBase64url(identity.signing.publicKey),
    agreementSecret: toBase64url(identity.agreement.exportSecret()),
    agreementKey: toBase64url(identity.agreement.publicKey),
  };
}

/** The identity a record holds, or a message saying what is wrong with it (never quoting a secret). */
export function decodeIdentity(record: unknown): NodeIdentity | string {
  if (typeof record !== 'object' || record === null) return 'it is not an object';
  const r = record as Partial<Record<keyof IdentityRecord, unknown>>;
  if (r.version !== 1) return `unknown version ${JSON.stringify(r.version)} (this swarmlet reads version 1)`;
  const seed = fromBase64url(r.signingSeed, KEY_BYTES);
  const secret = fromBase64url(r.agreementSecret, KEY_BYTES);
  if (!seed) return 'signingSeed is not 32 bytes of base64url';
  if (!secret) return 'agreementSecret is not 32 bytes of base64url';
  const identity = { signing: SigningKey.fromSeed(seed), agreement: AgreementKey.fromSecret(secret) };
  if (toBase64url(identity.signing.publicKey) !== r.signingKey) return 'signingKey does not match signingSeed';
  if (toBase64url(identity.agreement.publicKey) !== r.agreementKey) return 'agreementKey does not match agreementSecret';
  return identity;
}
