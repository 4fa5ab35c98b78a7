/**
 * Join tokens, in Swarm's shape: `SWLTKN-1-<root digest>-<secret>`. The digest pins the cluster: a joiner compares
 * it with the root key a manager shows, so it trusts no one on first use. The secret proves the joiner was let in;
 * which role it gets is decided by which stored secret it matches (one per role), as in Swarm, so the text of a
 * worker token and a manager token look alike and only managers know which is which.
 *
 * Managers keep only a hash of each secret. A plain SHA-256 is enough because the secret is 128 random bits, not a
 * password; a slow hash would only slow joins. Error messages never quote a token, since they end up in logs.
 */

import crypto from 'node:crypto';
import { SwarmletError } from '../errors.ts';
import { cryptoRandom, type RandomSource } from '../util/ids.ts';
import { toBase36 } from './encoding.ts';
import type { NodeRole } from './certificate.ts';
import { ROOT_DIGEST_LENGTH, rootKeyDigest } from './root-digest.ts';

export const TOKEN_PREFIX = 'SWLTKN';
export const TOKEN_VERSION = 1;
export const SECRET_LENGTH = 25;
/** 128 bits: the most that fits in 25 base-36 digits (36^25 is about 2^129). */
const SECRET_BYTES = 16;
const HASH_CONTEXT = 'swarmlet join token secret v1\0';

const SHAPE = `SWLTKN-1-<${ROOT_DIGEST_LENGTH} characters a-z 0-9>-<${SECRET_LENGTH} characters a-z 0-9>`;
const HOW_TO_GET_ONE = 'print a valid one on a manager with `swarmlet join-token worker` (or `manager`)';

export interface JoinToken {
  /** Digest of the cluster's root public key. */
  rootDigest: string;
  secret: string;
}

/** A token as handed to the operator, and what the managers keep of it. */
export interface NewJoinToken {
  text: string;
  role: NodeRole;
  secretHash: string;
}

export function newJoinToken(rootPublicKey: Uint8Array, role: NodeRole, random: RandomSource = cryptoRandom): NewJoinToken {
  const secret = toBase36(random(SECRET_BYTES), SECRET_LENGTH);
  return { text: formatJoinToken({ rootDigest: rootKeyDigest(rootPublicKey), secret }), role, secretHash: hashTokenSecret(secret) };
}

export function formatJoinToken(token: JoinToken): string {
  return `${TOKEN_PREFIX}-${TOKEN_VERSION}-${token.rootDigest}-${token.secret}`;
}

/** The token in `text` (surrounding whitespace from a copy and paste is ignored), or an error saying what is wrong. */
export function parseJoinToken(text: string): JoinToken {
  const parts = text.trim().split('-');
  if (parts[0] !== TOKEN_PREFIX) return malformed(`it does not start with ${TOKEN_PREFIX}-`);
  if (parts.length !== 4) return malformed(`it has ${parts.length} parts separated by '-', not 4`);
  const [, version, rootDigest, secret] = parts as [string, string, string, string];
  if (version !== String(TOKEN_VERSION)) {
    return malformed(`it is version ${JSON.stringify(version)}, and this swarmlet reads version ${TOKEN_VERSION} (is one side older?)`);
  }
  if (!isBase36(rootDigest, ROOT_DIGEST_LENGTH)) {
    return malformed(`its cluster digest has ${rootDigest.length} characters, or characters other than a-z 0-9; it needs ${ROOT_DIGEST_LENGTH}`);
  }
  if (!isBase36(secret, SECRET_LENGTH)) {
    return malformed(`its secret has ${secret.length} characters, or characters other than a-z 0-9; it needs ${SECRET_LENGTH}`);
  }
  return { rootDigest, secret };
}

function malformed(why: string): never {
  throw new SwarmletError('invalid_argument', `this is not a swarmlet join token: ${why}. A token looks like ${SHAPE}; ${HOW_TO_GET_ONE}.`);
}

const isBase36 = (text: string, length: number) => text.length === length && /^[0-9a-z]+$/.test(text);

/** Whether `token` pins the cluster whose root key is `rootPublicKey`. A joiner must refuse a cluster that fails this. */
export function tokenDigestMatches(token: JoinToken, rootPublicKey: Uint8Array): boolean {
  return rootKeyDigest(rootPublicKey) === token.rootDigest;
}

/** What managers store for a secret: hex SHA-256 under a context string, never the secret. */
export function hashTokenSecret(secret: string): string {
  return crypto.createHash('sha256').update(HASH_CONTEXT).update(secret).digest('hex');
}

/**
 * Whether `secret` is the one `storedHash` was made from. The hashes are compared with `crypto.timingSafeEqual`,
 * so how long a refusal takes says nothing about how close a guess was.
 */
export function verifyTokenSecret(secret: string, storedHash: string): boolean {
  const candidate = Buffer.from(hashTokenSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  if (stored.length !== candidate.length) return false;
  return crypto.timingSafeEqual(candidate, stored);
}
