/**
 * The trust rules of the cluster layer, without sockets: members are judged by root, revocation, the keys they
 * joined with, their role and (on managers) the date; a joiner trusts only the root its token pins.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { issueCertificate, encodeCertificate } from '../../src/identity/certificate.ts';
import { toBase64url } from '../../src/identity/encoding.ts';
import { newIdentity, SigningKey } from '../../src/identity/keys.ts';
import { rootKeyDigest } from '../../src/identity/root-digest.ts';
import { joinerAddress } from '../../src/cluster/admission.ts';
import { joinerIdentity, managerBundleIdentity, verifyJoinRequest, verifyManagerForJoin, verifyMember, type MemberRules } from '../../src/cluster/trust.ts';
import { seededRandom } from '../../src/util/ids.ts';

const T0 = Date.parse('2026-06-01T00:00:00Z');
const DAY = 86_400_000;
const root = SigningKey.generate(seededRandom(1));
const otherRoot = SigningKey.generate(seededRandom(2));
const alice = newIdentity(seededRandom(3));

function cert(role: 'manager' | 'worker', signer = root, identity = alice, nodeId = 'alice', ttlMs = 10 * DAY) {
  return issueCertificate(signer, { nodeId, role, signingKey: toBase64url(identity.signing.publicKey), agreementKey: toBase64url(identity.agreement.publicKey), ttlMs }, T0);
}

const rules = (overrides: Partial<MemberRules> = {}): MemberRules => ({
  roots: () => [root.publicKey],
  now: () => T0 + DAY,
  isRevoked: () => false,
  signingKeyOf: () => undefined,
  acceptRoles: ['manager', 'worker'],
  ...overrides,
});

const refusal = (value: unknown) => (value instanceof Error ? value.message : 'accepted');

describe('member trust', () => {
  it('accepts a member signed by a trusted root and names it', () => {
    const verdict = verifyMember(rules())(encodeCertificate(cert('worker')));
    assert.ok(!(verdict instanceof Error));
    assert.equal(verdict.nodeId, 'alice');
  });

  it('refuses another root, a revoked node, other keys, a refused role and an expired certificate', () => {
    assert.match(refusal(verifyMember(rules())(encodeCertificate(cert('worker', otherRoot)))), /does not trust/);
    assert.match(refusal(verifyMember(rules({ isRevoked: (id) => id === 'alice' }))(encodeCertificate(cert('worker')))), /removed from the cluster/);
    assert.match(refusal(verifyMember(rules({ signingKeyOf: () => 'someone-else' }))(encodeCertificate(cert('worker')))), /keys other than/);
    assert.match(refusal(verifyMember(rules({ acceptRoles: ['manager'] }))(encodeCertificate(cert('worker')))), /may not connect/);
    assert.match(refusal(verifyMember(rules({ now: () => T0 + 30 * DAY }))(encodeCertificate(cert('worker')))), /expired/);
  });

  it('lets a worker take a worker the leader lists as a member, and no other, while managers pass as before', () => {
    const onWorker = (members: string[]) => rules({ now: () => null, admitsWorker: (id) => members.includes(id) });
    assert.ok(!(verifyMember(onWorker(['alice']))(encodeCertificate(cert('worker'))) instanceof Error));
    assert.match(refusal(verifyMember(onWorker([]))(encodeCertificate(cert('worker')))), /worker alice is not a member of this cluster/);
    assert.ok(!(verifyMember(onWorker([]))(encodeCertificate(cert('manager'))) instanceof Error), 'a manager needs no listing');
  });

  it('lets a node whose clock is years off accept a valid manager: dates are judged by managers', () => {
    // now() === null: this node's clock is not trusted (a Raspberry Pi that booted in 1970).
    const verdict = verifyMember(rules({ now: () => null, acceptRoles: ['manager'] }))(encodeCertificate(cert('manager')));
    assert.ok(!(verdict instanceof Error));
    // ...while a manager with a good clock refuses the same certificate once it has expired.
    assert.ok(verifyMember(rules({ now: () => T0 + 11 * DAY }))(encodeCertificate(cert('manager'))) instanceof Error);
  });
});

describe('join trust', () => {
  const managerIdentity = newIdentity(seededRandom(9));
  const managerCert = cert('manager', root, managerIdentity, 'mgr');

  it('a joiner accepts a manager of the pinned cluster and learns its roots', () => {
    let roots: Uint8Array[] = [];
    const bundle = managerBundleIdentity(managerCert, [root.publicKey], managerIdentity).certificate;
    const verdict = verifyManagerForJoin(rootKeyDigest(root.publicKey), (r) => (roots = r))(bundle);
    assert.ok(!(verdict instanceof Error));
    assert.equal(verdict.nodeId, 'mgr');
    assert.deepEqual(roots, [root.publicKey]);
  });

  it('a joiner refuses another cluster, a worker, and a certificate the pinned root did not sign', () => {
    const pin = rootKeyDigest(root.publicKey);
    const foreign = managerBundleIdentity(cert('manager', otherRoot, managerIdentity, 'mgr'), [otherRoot.publicKey], managerIdentity).certificate;
    assert.match(refusal(verifyManagerForJoin(pin, () => {})(foreign)), /does not belong to the cluster/);
    // A bundle that lists the pinned root but carries a certificate signed by another one.
    const forged = managerBundleIdentity(cert('manager', otherRoot, managerIdentity, 'mgr'), [root.publicKey], managerIdentity).certificate;
    assert.match(refusal(verifyManagerForJoin(pin, () => {})(forged)), /not trust|not signed/);
    const worker = managerBundleIdentity(cert('worker', root, managerIdentity, 'mgr'), [root.publicKey], managerIdentity).certificate;
    assert.match(refusal(verifyManagerForJoin(pin, () => {})(worker)), /not a manager/);
    assert.ok(verifyManagerForJoin(pin, () => {})(new TextEncoder().encode('garbage')) instanceof Error);
  });

  it('a manager reads the joiner\'s keys from its join request and refuses anything else', () => {
    const request = joinerIdentity('newnode', alice).certificate;
    const verdict = verifyJoinRequest(request);
    assert.ok(!(verdict instanceof Error));
    assert.deepEqual(verdict.signingKey, alice.signing.publicKey);
    assert.ok(verifyJoinRequest(encodeCertificate(cert('worker'))) instanceof Error);
    assert.ok(verifyJoinRequest(new Uint8Array(20_000)) instanceof Error);
  });

  it('takes the joiner\'s address from the connection when it advertised none', () => {
    assert.equal(joinerAddress('10.77.0.12:4377', '10.77.0.12:50000'), '10.77.0.12:4377');
    assert.equal(joinerAddress('0.0.0.0:4377', '10.77.0.13:50000'), '10.77.0.13:4377');
    assert.equal(joinerAddress('', '::ffff:10.77.0.14:50000'), '10.77.0.14:4377');
  });
});
