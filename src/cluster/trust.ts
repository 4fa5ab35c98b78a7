/**
 * Who a node lets in, as the handshake's `verifyPeer` rules and `LocalIdentity` documents.
 *
 * Members show their node certificate. A manager judges a peer's certificate with the cluster's time (its own
 * clock, which the cluster trusts) and refuses revoked nodes and keys other than those the node joined with; a
 * worker only checks who signed a manager's certificate, never its dates, because a worker's clock may be years
 * off (a Raspberry Pi without a real-time clock) — expiry is judged by managers, as the issue asks.
 *
 * Joining is the one exchange without a certificate on one side. The joiner shows a join request (its node ID and
 * public keys; the handshake's transcript signature proves it holds the signing key), and the manager shows its
 * certificate together with the cluster's root public keys, so that the joiner can check the root against the
 * digest its token pins — no trust on first use — and then the certificate against that root. The token's secret
 * is sent only afterwards, inside the encrypted session, to a manager already proven to be of that cluster.
 */

import { decodeCertificate, encodeCertificate, verifyCertificate, type Certificate } from '../identity/certificate.ts';
import { fromBase64url, toBase64url } from '../identity/encoding.ts';
import { KEY_BYTES, type NodeIdentity } from '../identity/keys.ts';
import { rootKeyDigest } from '../identity/root-digest.ts';
import type { LocalIdentity, VerifiedPeer, VerifyPeer } from '../transport/handshake.ts';

const MAX_DOCUMENT_BYTES = 16 * 1024;
const NODE_ID = /^[a-z0-9]{1,64}$/;

export function memberIdentity(certificate: Certificate, identity: NodeIdentity): LocalIdentity {
  return { certificate: encodeCertificate(certificate), sign: (message) => identity.signing.sign(message) };
}

/** What a manager knows of members, to refuse removed nodes and copies of another node's identity. */
export interface MemberRules {
  /** The trusted roots' public keys. */
  roots(): Uint8Array[];
  /** The cluster's time, in ms since the epoch; null on a node whose clock is not trusted (a worker). */
  now(): number | null;
  isRevoked(nodeId: string): boolean;
  /** The signing key the node joined with (base64url), when known. */
  signingKeyOf(nodeId: string): string | undefined;
  /** Roles accepted from peers (a worker accepts only managers). */
  acceptRoles: ReadonlyArray<'manager' | 'worker'>;
  /**
   * On a worker, which holds no revocation list: whether a worker peer is a member now, as the leader last said.
   * Workers reach each other only for the routing mesh; a node removed since is refused by this, not by its
   * certificate, which stays valid until it expires.
   */
  admitsWorker?(nodeId: string): boolean;
}

export function verifyMember(rules: MemberRules): VerifyPeer {
  return (bytes) => {
    const now = rules.now();
    const check = verifyCertificate(bytes, rules.roots(), now ?? 0, { skipTimeChecks: now === null });
    if (!check.ok) return new Error(check.message);
    const cert = check.certificate;
    if (rules.isRevoked(cert.nodeId)) return new Error(`node ${cert.nodeId} was removed from the cluster; its certificate is revoked`);
    const known = rules.signingKeyOf(cert.nodeId);
    if (known !== undefined && known !== cert.signingKey) return new Error(`node ${cert.nodeId} shows keys other than those it joined with`);
    if (!rules.acceptRoles.includes(cert.role)) return new Error(`a ${cert.role} may not connect here (only ${rules.acceptRoles.join(' or ')})`);
    if (cert.role === 'worker' && rules.admitsWorker && !rules.admitsWorker(cert.nodeId)) {
      return new Error(`worker ${cert.nodeId} is not a member of this cluster as far as this node last heard from its leader`);
    }
    return { nodeId: cert.nodeId, signingKey: fromBase64url(cert.signingKey, KEY_BYTES)! };
  };
}

export interface JoinRequestDocument {
  kind: 'join-request';
  nodeId: string;
  signingKey: string;
  agreementKey: string;
}

export interface ManagerBundle {
  kind: 'manager-bundle';
  certificate: Certificate;
  roots: string[];
}

const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

function decodeJson(bytes: Uint8Array): Record<string, unknown> | Error {
  if (bytes.length > MAX_DOCUMENT_BYTES) return new Error('the document is too large');
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return new Error('the document is not an object');
    return value as Record<string, unknown>;
  } catch {
    return new Error('the document is not UTF-8 JSON');
  }
}

/** The joiner's side of a join handshake: it has keys but no certificate yet. */
export function joinerIdentity(nodeId: string, identity: NodeIdentity): LocalIdentity {
  const request: JoinRequestDocument = {
    kind: 'join-request',
    nodeId,
    signingKey: toBase64url(identity.signing.publicKey),
    agreementKey: toBase64url(identity.agreement.publicKey),
  };
  return { certificate: encode(request), sign: (message) => identity.signing.sign(message) };
}

/** The manager's check of a join request: well formed; who it is comes from the token, checked afterwards. */
export const verifyJoinRequest: VerifyPeer = (bytes) => {
  const doc = decodeJson(bytes);
  if (doc instanceof Error) return doc;
  if (doc.kind !== 'join-request' || typeof doc.nodeId !== 'string' || !NODE_ID.test(doc.nodeId)) return new Error('not a join request');
  const signingKey = fromBase64url(doc.signingKey, KEY_BYTES);
  if (!signingKey || !fromBase64url(doc.agreementKey, KEY_BYTES)) return new Error('the join request holds no valid public keys');
  return { nodeId: doc.nodeId, signingKey };
};

export function parseJoinRequest(bytes: Uint8Array): JoinRequestDocument | null {
  const doc = decodeJson(bytes);
  return doc instanceof Error || verifyJoinRequest(bytes) instanceof Error ? null : (doc as unknown as JoinRequestDocument);
}

export function managerBundleIdentity(certificate: Certificate, roots: Uint8Array[], identity: NodeIdentity): LocalIdentity {
  const bundle: ManagerBundle = { kind: 'manager-bundle', certificate, roots: roots.map(toBase64url) };
  return { certificate: encode(bundle), sign: (message) => identity.signing.sign(message) };
}

/**
 * The joiner's check of a manager: the bundle's root must be the one the token pins, and the manager's certificate
 * must be signed by it. Dates are not checked: the joiner's clock is not trusted yet. `onRoots` receives the
 * verified roots, which the joiner keeps.
 */
export function verifyManagerForJoin(rootDigest: string, onRoots: (roots: Uint8Array[]) => void): VerifyPeer {
  return (bytes): VerifiedPeer | Error => {
    const doc = decodeJson(bytes);
    if (doc instanceof Error) return doc;
    if (doc.kind !== 'manager-bundle' || !Array.isArray(doc.roots) || doc.roots.length > 4) return new Error('the manager sent no certificate bundle');
    const roots = doc.roots.map((root) => fromBase64url(root, KEY_BYTES));
    const pinned = roots.find((root) => root && rootKeyDigest(root) === rootDigest);
    if (!pinned) return new Error('the node does not belong to the cluster the join token names (its root key does not match the token)');
    const certificate = decodeCertificate(encode(doc.certificate));
    if (typeof certificate === 'string') return new Error(`the manager's certificate is malformed: ${certificate}`);
    const trusted = roots.filter((root): root is Uint8Array => root !== undefined);
    const check = verifyCertificate(certificate, [pinned], 0, { skipTimeChecks: true });
    if (!check.ok) return new Error(check.message);
    if (certificate.role !== 'manager') return new Error('the node that answered is not a manager');
    onRoots(trusted);
    return { nodeId: certificate.nodeId, signingKey: fromBase64url(certificate.signingKey, KEY_BYTES)! };
  };
}
