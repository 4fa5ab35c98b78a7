/**
 * The cluster's trust, replicated with the rest of the state so that any manager can admit a node or renew a
 * certificate after the first one is gone: the root signing keys, what the join tokens are checked against, the
 * keys each member was admitted with (and the address it is reached at), and the nodes that were removed.
 *
 * Only managers hold this state; workers know the root public keys and their own certificate.
 *
 * Join tokens: managers store a hash of each secret and the nonce it was made from, never the secret. The secret
 * is an HMAC of that nonce under the root key, so a manager can print the current token again (as
 * `swarmlet join-token worker` must) without storing it: whoever can read the root key could mint certificates
 * anyway, so deriving tokens from it exposes nothing more. Rotating a token draws a new nonce; rotating the root
 * key changes every token, since a token names the root it trusts.
 */

import crypto from 'node:crypto';
import { fromBase64url, toBase36, toBase64url } from '../../identity/encoding.ts';
import type { NodeRole } from '../../identity/certificate.ts';
import { formatJoinToken, hashTokenSecret, SECRET_LENGTH, verifyTokenSecret } from '../../identity/join-token.ts';
import { SigningKey, KEY_BYTES } from '../../identity/keys.ts';
import { rootKeyDigest } from '../../identity/root-digest.ts';
import type { RandomSource } from '../../util/ids.ts';

export interface RootKeyRecord {
  /** Ed25519 public key, base64url. */
  publicKey: string;
  /** Ed25519 seed, base64url. Never leaves the managers' replicated state. */
  seed: string;
  createdAt: string;
}

export interface TokenRecord {
  nonce: string;
  hash: string;
}

/** What a member was admitted with, and where peers reach its transport. */
export interface MemberRecord {
  signingKey: string;
  agreementKey: string;
  /** `ip:port` of the node transport, as the node last reported it. */
  addr: string;
  /** Digest of the root that signed its current certificate (a root rotation waits for all to move). */
  issuer: string;
}

export interface ClusterSecurity {
  /** Trusted roots, oldest first; the last signs new certificates. Two during a root rotation. */
  roots: RootKeyRecord[];
  tokens: Record<NodeRole, TokenRecord>;
  members: Record<string, MemberRecord>;
  /** Removed nodes: their certificates are refused from then on. Node ID → when. */
  revoked: Record<string, string>;
}

const TOKEN_CONTEXT = 'swarmlet join token secret derivation v1\0';

export function newRootKey(random: RandomSource, now: string): RootKeyRecord {
  const key = SigningKey.generate(random);
  return { publicKey: toBase64url(key.publicKey), seed: toBase64url(key.exportSeed()), createdAt: now };
}

export function rootSigner(root: RootKeyRecord): SigningKey {
  return SigningKey.fromSeed(fromBase64url(root.seed, KEY_BYTES)!);
}

export function rootPublicKey(root: RootKeyRecord): Uint8Array {
  return fromBase64url(root.publicKey, KEY_BYTES)!;
}

/** The root that signs new certificates and that join tokens name. */
export function activeRoot(security: ClusterSecurity): RootKeyRecord {
  return security.roots.at(-1)!;
}

export function trustedRootKeys(security: ClusterSecurity): Uint8Array[] {
  return security.roots.map(rootPublicKey);
}

function tokenSecret(root: RootKeyRecord, role: NodeRole, nonce: string): string {
  const mac = crypto.createHmac('sha256', Buffer.from(root.seed, 'base64url')).update(TOKEN_CONTEXT).update(`${role}\0${nonce}`).digest();
  return toBase36(mac.subarray(0, 16), SECRET_LENGTH);
}

export function newTokenRecord(root: RootKeyRecord, role: NodeRole, random: RandomSource): TokenRecord {
  const nonce = toBase64url(random(16));
  return { nonce, hash: hashTokenSecret(tokenSecret(root, role, nonce)) };
}

export function newClusterSecurity(random: RandomSource, now: string): ClusterSecurity {
  const root = newRootKey(random, now);
  return {
    roots: [root],
    tokens: { worker: newTokenRecord(root, 'worker', random), manager: newTokenRecord(root, 'manager', random) },
    members: {},
    revoked: {},
  };
}

/** The current join token for `role`, as `swarmlet join-token` prints it. */
export function joinTokenText(security: ClusterSecurity, role: NodeRole): string {
  const root = activeRoot(security);
  return formatJoinToken({ rootDigest: rootKeyDigest(rootPublicKey(root)), secret: tokenSecret(root, role, security.tokens[role].nonce) });
}

/** Which role a presented secret admits, or null. Both stored hashes are always compared. */
export function roleForSecret(security: ClusterSecurity, secret: string): NodeRole | null {
  const manager = verifyTokenSecret(secret, security.tokens.manager.hash);
  const worker = verifyTokenSecret(secret, security.tokens.worker.hash);
  return manager ? 'manager' : worker ? 'worker' : null;
}

export function clusterDigest(security: ClusterSecurity): string {
  return rootKeyDigest(rootPublicKey(activeRoot(security)));
}
