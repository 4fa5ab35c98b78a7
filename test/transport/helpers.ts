/**
 * Test identities without the identity layer: a "certificate" is `cert|<nodeId>|<hex signing key>`, and the
 * cluster's verifyPeer accepts only the certificates it was told about, as a root-signed check would.
 */

import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import { AEAD_NAMES, type AeadName } from '../../src/transport/aead.ts';
import { ed25519Identity, type HandshakeOptions, type VerifiedPeer, type VerifyPeer } from '../../src/transport/handshake.ts';

export interface TestNode {
  nodeId: string;
  keys: nacl.SignKeyPair;
  certificate: Uint8Array;
}

/** Deterministic bytes from a seed: every test run makes the same keys and the same handshakes. */
export function seededRandom(seed: string): (length: number) => Uint8Array {
  let n = 0;
  return (length) => {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; at += 32) {
      out.set(createHash('sha256').update(`${seed}/${n++}`).digest().subarray(0, length - at), at);
    }
    return out;
  };
}

export function testNode(nodeId: string): TestNode {
  const keys = nacl.sign.keyPair.fromSeed(seededRandom(`identity/${nodeId}`)(32));
  const certificate = new TextEncoder().encode(`cert|${nodeId}|${Buffer.from(keys.publicKey).toString('hex')}`);
  return { nodeId, keys, certificate };
}

/** A verifyPeer that trusts exactly these nodes' certificates. */
export function trusting(...nodes: TestNode[]): VerifyPeer {
  const known = new Map(nodes.map((n) => [Buffer.from(n.certificate).toString('latin1'), n]));
  return (certificate): VerifiedPeer | Error => {
    const node = known.get(Buffer.from(certificate).toString('latin1'));
    if (!node) return new Error('certificate not signed by this cluster\'s root');
    return { nodeId: node.nodeId, signingKey: node.keys.publicKey };
  };
}

/** Handshake options for `self`; by default it offers both AEADs, AES-GCM first, as a node with AES instructions does. */
export function options(self: TestNode, verifyPeer: VerifyPeer, seed = self.nodeId, aeads: readonly AeadName[] = AEAD_NAMES): HandshakeOptions {
  return { identity: ed25519Identity(self.certificate, self.keys.secretKey), verifyPeer, randomBytes: seededRandom(`ephemeral/${seed}`), aeads };
}
