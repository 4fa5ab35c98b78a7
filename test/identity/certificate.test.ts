/**
 * Certificates: what a manager issues verifies, and nothing else does. Tampering is checked byte by byte with
 * fast-check (the seed is printed on failure); time is always injected, including a Raspberry Pi booted in 1970.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_CERTIFICATE_TTL_MS,
  decodeCertificate,
  encodeCertificate,
  issueCertificate,
  verifyCertificate,
  type Certificate,
} from '../../src/identity/certificate.ts';
import { toBase64url } from '../../src/identity/encoding.ts';
import { newIdentity, SigningKey } from '../../src/identity/keys.ts';
import { rootKeyDigest } from '../../src/identity/root-digest.ts';
import { seededRandom } from '../../src/util/ids.ts';

const NOW = Date.UTC(2025, 5, 1);
const DAY = 24 * 60 * 60 * 1000;
const root = SigningKey.generate(seededRandom(100));
const otherRoot = SigningKey.generate(seededRandom(101));
const node = newIdentity(seededRandom(102));
const fields = {
  nodeId: 'abcdefghijklmnopqrstuvwxy',
  role: 'worker' as const,
  signingKey: toBase64url(node.signing.publicKey),
  agreementKey: toBase64url(node.agreement.publicKey),
};
const cert = issueCertificate(root, fields, NOW);
const trusted = [root.publicKey];

function reason(candidate: unknown, now = NOW, keys = trusted, options = {}): string {
  const check = verifyCertificate(candidate, keys, now, options);
  return check.ok ? 'ok' : check.reason;
}

describe('node certificates', () => {
  it('verifies what the root issued, as an object and as bytes, for 90 days by default', () => {
    assert.equal(cert.expiresAt - cert.issuedAt, DEFAULT_CERTIFICATE_TTL_MS);
    assert.equal(cert.issuer, rootKeyDigest(root.publicKey));
    const check = verifyCertificate(encodeCertificate(cert), trusted, NOW + DAY);
    assert.ok(check.ok);
    assert.deepEqual(check.certificate, cert);
    assert.equal(reason(cert), 'ok');
    assert.deepEqual(decodeCertificate(encodeCertificate(cert)), cert);
  });

  it('refuses a certificate with any single byte changed', () => {
    const bytes = encodeCertificate(cert);
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (index, mask) => {
        const tampered = bytes.slice();
        tampered[index]! ^= mask;
        const result = reason(tampered);
        return result === 'malformed' || result === 'bad-signature' || result === 'wrong-issuer';
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses a flip of the lowest bit of every byte, exhaustively', () => {
    // The lowest bit is the one a lenient base64 decoder ignores in a key's or signature's last character.
    const bytes = encodeCertificate(cert);
    for (let i = 0; i < bytes.length; i++) {
      const tampered = bytes.slice();
      tampered[i]! ^= 1;
      assert.notEqual(reason(tampered), 'ok', `byte ${i}`);
    }
  });

  it('refuses changed fields whose encoding is still well formed', () => {
    const promoted: Certificate = { ...cert, role: 'manager' };
    assert.equal(reason(promoted), 'bad-signature');
    assert.equal(reason({ ...cert, expiresAt: cert.expiresAt + DAY }), 'bad-signature');
    const stolenKey = toBase64url(newIdentity(seededRandom(103)).signing.publicKey);
    assert.equal(reason({ ...cert, signingKey: stolenKey }), 'bad-signature');
    assert.equal(reason({ ...cert, extra: 1 }), 'malformed');
    assert.equal(reason(new TextEncoder().encode(JSON.stringify(cert, null, 1))), 'malformed');
    assert.equal(reason(null), 'malformed');
  });

  it('refuses a certificate from another root, and one re-labelled with a trusted issuer', () => {
    const foreign = issueCertificate(otherRoot, fields, NOW);
    assert.equal(reason(foreign), 'wrong-issuer');
    assert.equal(reason({ ...foreign, issuer: cert.issuer }), 'bad-signature');
    assert.equal(reason(foreign, NOW, [root.publicKey, otherRoot.publicKey]), 'ok');
  });

  it('judges validity by the injected clock, with a tolerance', () => {
    const tolerance = { clockTolerance: 60_000 };
    assert.equal(reason(cert, cert.expiresAt - 1, trusted, tolerance), 'ok');
    assert.equal(reason(cert, cert.expiresAt + 59_999, trusted, tolerance), 'ok');
    assert.equal(reason(cert, cert.expiresAt + 60_000, trusted, tolerance), 'expired');
    assert.equal(reason(cert, cert.issuedAt - 60_000, trusted, tolerance), 'ok');
    assert.equal(reason(cert, cert.issuedAt - 60_001, trusted, tolerance), 'not-yet-valid');
    const short = issueCertificate(root, { ...fields, ttlMs: 5_000 }, NOW);
    assert.equal(reason(short, NOW + 5_000, trusted, { clockTolerance: 0 }), 'expired');
  });

  it('allows at most a tenth of a certificate\'s lifetime as clock tolerance', () => {
    const short = issueCertificate(root, { ...fields, ttlMs: 20_000 }, NOW);
    assert.equal(reason(short, NOW + 21_999, trusted), 'ok', 'the default tolerance, capped at 2 s');
    assert.equal(reason(short, NOW + 22_000, trusted), 'expired', 'not five minutes late');
    assert.equal(reason(short, NOW - 2_000, trusted), 'ok');
    assert.equal(reason(short, NOW - 2_001, trusted), 'not-yet-valid');
    // A 90-day certificate keeps the full default.
    assert.equal(reason(cert, cert.expiresAt + 4 * 60_000, trusted), 'ok');
  });

  it('lets a node whose clock is years off check who signed, with time checks skipped', () => {
    const bootedIn1970 = 0;
    const check = verifyCertificate(cert, trusted, bootedIn1970);
    assert.equal(check.ok ? 'ok' : check.reason, 'not-yet-valid');
    assert.match(check.ok ? '' : check.message, /1970-01-01.*check this node's clock/);
    assert.equal(reason(cert, bootedIn1970, trusted, { skipTimeChecks: true }), 'ok');
    assert.equal(reason(cert, NOW + 10 * 365 * DAY, trusted, { skipTimeChecks: true }), 'ok');
    // Skipping time never skips the signature.
    assert.equal(reason({ ...cert, role: 'manager' }, bootedIn1970, trusted, { skipTimeChecks: true }), 'bad-signature');
  });

  it('refuses to issue for bad input', () => {
    assert.throws(() => issueCertificate(root, { ...fields, nodeId: 'Bad Id' }, NOW), { code: 'invalid_argument' });
    assert.throws(() => issueCertificate(root, { ...fields, signingKey: 'x' }, NOW), { code: 'invalid_argument' });
    assert.throws(() => issueCertificate(root, { ...fields, ttlMs: 0 }, NOW), { code: 'invalid_argument' });
  });

  it('round-trips any valid fields (property)', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z0-9]{1,64}$/),
        fc.constantFrom('manager' as const, 'worker' as const),
        fc.integer({ min: 0, max: 2 ** 45 }),
        fc.integer({ min: 1, max: 10 * 365 * DAY }),
        (nodeId, role, now, ttlMs) => {
          const issued = issueCertificate(root, { ...fields, nodeId, role, ttlMs }, now);
          const check = verifyCertificate(encodeCertificate(issued), trusted, now);
          return check.ok && check.certificate.nodeId === nodeId && check.certificate.role === role;
        },
      ),
      { numRuns: 50 },
    );
  });
});
