/**
 * Node certificates: the cluster root's signed statement that a node id, with a role, owns a signing key and an
 * agreement key until a date. They are small JSON documents rather than X.509: the transport authenticates with
 * tweetnacl keys, and a format we can read in full is one we can check in full.
 *
 * A certificate has one encoding (`encodeCertificate`), and `decodeCertificate` refuses any other spelling, so
 * flipping any byte of it makes it either malformed or badly signed. The signature covers a domain-separated,
 * fixed-order array of every other field, so a signature made for something else can never pass as one.
 *
 * Time is an input. Raspberry Pis have no real-time clock and may boot years in the past; managers, whose clocks
 * the cluster trusts, judge expiry. A joining node whose clock is not yet trusted passes `skipTimeChecks`, checks
 * only who signed, and learns the time from the cluster.
 */

import nacl from 'tweetnacl';
import { SwarmletError } from '../errors.ts';
import { fromBase64url, toBase64url } from './encoding.ts';
import { KEY_BYTES, SIGNATURE_BYTES, type Signer } from './keys.ts';
import { ROOT_DIGEST_LENGTH, rootKeyDigest } from './root-digest.ts';

export const CERTIFICATE_VERSION = 1;
export const DEFAULT_CERTIFICATE_TTL_MS = 90 * 24 * 60 * 60 * 1000;
/**
 * Enough for NTP-synchronised managers to disagree a little without refusing each other. A certificate's own
 * lifetime caps it at a tenth (see verifyCertificate): five minutes of slack on a 20-second certificate would make
 * its expiry meaningless.
 */
export const DEFAULT_CLOCK_TOLERANCE_MS = 5 * 60 * 1000;
const MAX_TOLERANCE_SHARE_OF_LIFETIME = 0.1;
/** Longer than any id or role we issue; stops a giant document from being parsed and signed over. */
const MAX_ENCODED_BYTES = 4096;
const SIGNING_CONTEXT = 'swarmlet node certificate v1';

export type NodeRole = 'manager' | 'worker';

/** What a manager decides when it issues a certificate. */
export interface CertificateFields {
  nodeId: string;
  role: NodeRole;
  /** Ed25519 public key, base64url. */
  signingKey: string;
  /** X25519 public key, base64url. */
  agreementKey: string;
  /** Lifetime in milliseconds; defaults to 90 days, as in Swarm. Tests pass seconds. */
  ttlMs?: number;
}

export interface Certificate {
  version: typeof CERTIFICATE_VERSION;
  nodeId: string;
  role: NodeRole;
  signingKey: string;
  agreementKey: string;
  /** Milliseconds since the epoch, by the issuing manager's clock. */
  issuedAt: number;
  expiresAt: number;
  /** `rootKeyDigest` of the root key that signed it; lets a verifier pick the key during a root rotation. */
  issuer: string;
  /** Ed25519 signature by the root key, base64url. */
  signature: string;
}

export type CertificateRejection = 'bad-signature' | 'expired' | 'not-yet-valid' | 'wrong-issuer' | 'malformed';

export type CertificateCheck =
  | { ok: true; certificate: Certificate }
  | { ok: false; reason: CertificateRejection; message: string };

export interface VerifyOptions {
  clockTolerance?: number;
  /** For a node whose own clock is untrusted (no RTC, not yet synchronised): check the signer, not the dates. */
  skipTimeChecks?: boolean;
}

const NODE_ID = /^[a-z0-9]{1,64}$/;

/** The bytes the root signs: a context string and every field but the signature, in a fixed order. */
function signedBytes(c: Omit<Certificate, 'signature'>): Uint8Array {
  const fields = [SIGNING_CONTEXT, c.version, c.nodeId, c.role, c.signingKey, c.agreementKey, c.issuedAt, c.expiresAt, c.issuer];
  return new TextEncoder().encode(JSON.stringify(fields));
}

export function issueCertificate(root: Signer, fields: CertificateFields, now: number): Certificate {
  const ttl = fields.ttlMs ?? DEFAULT_CERTIFICATE_TTL_MS;
  if (!NODE_ID.test(fields.nodeId)) throw new SwarmletError('invalid_argument', `node id ${JSON.stringify(fields.nodeId)} is not 1-64 characters of [a-z0-9]`);
  if (fields.role !== 'manager' && fields.role !== 'worker') throw new SwarmletError('invalid_argument', `role must be manager or worker, not ${JSON.stringify(fields.role)}`);
  if (!fromBase64url(fields.signingKey, KEY_BYTES)) throw new SwarmletError('invalid_argument', 'signingKey must be a 32-byte Ed25519 public key in base64url');
  if (!fromBase64url(fields.agreementKey, KEY_BYTES)) throw new SwarmletError('invalid_argument', 'agreementKey must be a 32-byte X25519 public key in base64url');
  if (!Number.isSafeInteger(now) || !Number.isSafeInteger(ttl) || ttl <= 0) throw new SwarmletError('invalid_argument', 'now and ttlMs must be whole milliseconds, ttlMs positive');
  const unsigned = {
    version: CERTIFICATE_VERSION,
    nodeId: fields.nodeId,
    role: fields.role,
    signingKey: fields.signingKey,
    agreementKey: fields.agreementKey,
    issuedAt: now,
    expiresAt: now + ttl,
    issuer: rootKeyDigest(root.publicKey),
  } as const;
  return { ...unsigned, signature: toBase64url(root.sign(signedBytes(unsigned))) };
}

/** The one encoding of a certificate: JSON with the fields in declaration order, no spaces. */
export function encodeCertificate(c: Certificate): Uint8Array {
  const { version, nodeId, role, signingKey, agreementKey, issuedAt, expiresAt, issuer, signature } = c;
  return new TextEncoder().encode(JSON.stringify({ version, nodeId, role, signingKey, agreementKey, issuedAt, expiresAt, issuer, signature }));
}

/** The certificate `bytes` encode, or why they do not encode one. Checks form only, not the signature. */
export function decodeCertificate(bytes: Uint8Array): Certificate | string {
  if (bytes.length > MAX_ENCODED_BYTES) return `longer than ${MAX_ENCODED_BYTES} bytes`;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return 'not UTF-8 JSON';
  }
  const shapeError = checkShape(value);
  if (shapeError) return shapeError;
  const certificate = value as Certificate;
  if (!Buffer.from(encodeCertificate(certificate)).equals(bytes)) return 'not in canonical form';
  return certificate;
}

function checkShape(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const c = value as Record<string, unknown>;
  if (c.version !== CERTIFICATE_VERSION) return `version ${JSON.stringify(c.version)} is not ${CERTIFICATE_VERSION}`;
  if (typeof c.nodeId !== 'string' || !NODE_ID.test(c.nodeId)) return 'nodeId is not 1-64 characters of [a-z0-9]';
  if (c.role !== 'manager' && c.role !== 'worker') return 'role is not manager or worker';
  if (!fromBase64url(c.signingKey, KEY_BYTES)) return 'signingKey is not a 32-byte key';
  if (!fromBase64url(c.agreementKey, KEY_BYTES)) return 'agreementKey is not a 32-byte key';
  if (!Number.isSafeInteger(c.issuedAt) || !Number.isSafeInteger(c.expiresAt)) return 'issuedAt or expiresAt is not whole milliseconds';
  if ((c.expiresAt as number) <= (c.issuedAt as number)) return 'expiresAt is not after issuedAt';
  if (typeof c.issuer !== 'string' || c.issuer.length !== ROOT_DIGEST_LENGTH) return 'issuer is not a root key digest';
  if (!fromBase64url(c.signature, SIGNATURE_BYTES)) return 'signature is not 64 bytes';
  if (Object.keys(c).length !== 9) return 'has unknown fields';
  return undefined;
}

/**
 * Whether `candidate` (a decoded object or the encoded bytes) is a certificate signed by one of `trustedRootKeys`
 * and, unless told to skip it, valid at `now`. Several roots are trusted during a root rotation.
 */
export function verifyCertificate(
  candidate: unknown,
  trustedRootKeys: readonly Uint8Array[],
  now: number,
  options: VerifyOptions = {},
): CertificateCheck {
  const decoded = candidate instanceof Uint8Array ? decodeCertificate(candidate) : (checkShape(candidate) ?? (candidate as Certificate));
  if (typeof decoded === 'string') return reject('malformed', `the certificate is malformed: ${decoded}`);
  const cert = decoded;
  const root = trustedRootKeys.find((key) => rootKeyDigest(key) === cert.issuer);
  if (!root) return reject('wrong-issuer', `the certificate of node ${cert.nodeId} was issued by root ${cert.issuer}, which this cluster does not trust`);
  const signature = fromBase64url(cert.signature, SIGNATURE_BYTES)!;
  if (!nacl.sign.detached.verify(signedBytes(cert), signature, root)) {
    return reject('bad-signature', `the certificate of node ${cert.nodeId} is not signed by its issuer's root key`);
  }
  if (!options.skipTimeChecks) {
    const lifetime = Math.max(0, cert.expiresAt - cert.issuedAt);
    const tolerance = Math.min(options.clockTolerance ?? DEFAULT_CLOCK_TOLERANCE_MS, Math.floor(lifetime * MAX_TOLERANCE_SHARE_OF_LIFETIME));
    if (now + tolerance < cert.issuedAt) {
      return reject('not-yet-valid', `the certificate of node ${cert.nodeId} is valid only from ${iso(cert.issuedAt)}, and the time here is ${iso(now)}; check this node's clock`);
    }
    if (now - tolerance >= cert.expiresAt) {
      return reject('expired', `the certificate of node ${cert.nodeId} expired at ${iso(cert.expiresAt)} (time here ${iso(now)}); the node must rejoin or have it renewed`);
    }
  }
  return { ok: true, certificate: cert };
}

function reject(reason: CertificateRejection, message: string): CertificateCheck {
  return { ok: false, reason, message };
}

const iso = (ms: number) => {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms` : date.toISOString();
};
