/**
 * The name of a cluster's trust: the SHA-256 of its root public key, in 50 base-36 digits (the width of a 256-bit
 * number in base 36, as in Swarm's tokens). Certificates name their issuer by it and join tokens pin the cluster
 * by it, so a joiner can check the root key it is shown without trusting whoever showed it.
 */

import { createHash } from 'node:crypto';
import { toBase36 } from './encoding.ts';

export const ROOT_DIGEST_LENGTH = 50;

export function rootKeyDigest(rootPublicKey: Uint8Array): string {
  return toBase36(createHash('sha256').update(rootPublicKey).digest(), ROOT_DIGEST_LENGTH);
}
