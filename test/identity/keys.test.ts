import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import nacl from 'tweetnacl';
import { seededRandom } from '../../src/util/ids.ts';
import { AgreementKey, decodeIdentity, encodeIdentity, newIdentity, SigningKey } from '../../src/identity/keys.ts';
import { fromBase64url, toBase36, toBase64url } from '../../src/identity/encoding.ts';

describe('node keys', () => {
  it('signs with Ed25519 and agrees the same secret on both sides with X25519', () => {
    const a = newIdentity(seededRandom(1));
    const b = newIdentity(seededRandom(2));
    const message = new TextEncoder().encode('hello');
    assert.ok(nacl.sign.detached.verify(message, a.signing.sign(message), a.signing.publicKey));
    assert.deepEqual(a.agreement.agree(b.agreement.publicKey), b.agreement.agree(a.agreement.publicKey));
  });

  it('refuses a low-order X25519 point, which would give a secret everyone knows', () => {
    const key = AgreementKey.generate(seededRandom(3));
    assert.throws(() => key.agree(new Uint8Array(32)), { code: 'invalid_argument' });
    assert.throws(() => key.agree(new Uint8Array(31)), { code: 'invalid_argument' });
  });

  it('round-trips through its record and keeps secrets out of JSON and inspect', () => {
    const identity = newIdentity(seededRandom(4));
    const record = encodeIdentity(identity);
    const back = decodeIdentity(JSON.parse(JSON.stringify(record)));
    assert.ok(typeof back !== 'string');
    assert.deepEqual(encodeIdentity(back), record);
    const printed = JSON.stringify(identity) + inspect(identity, { depth: 5, showHidden: true });
    assert.ok(!printed.includes(record.signingSeed) && !printed.includes(record.agreementSecret), printed);
    assert.ok(printed.includes(record.signingKey));
  });

  it('refuses a record whose public key does not match its secret', () => {
    const record = encodeIdentity(newIdentity(seededRandom(5)));
    const other = encodeIdentity(newIdentity(seededRandom(6)));
    assert.match(String(decodeIdentity({ ...record, signingKey: other.signingKey })), /does not match/);
    assert.match(String(decodeIdentity({ ...record, agreementSecret: 'short' })), /32 bytes/);
    assert.match(String(decodeIdentity({ ...record, version: 2 })), /version/);
  });

  it('derives the same keys from the same seed', () => {
    const seed = seededRandom(7)(32);
    assert.deepEqual(SigningKey.fromSeed(seed).publicKey, SigningKey.fromSeed(seed).publicKey);
  });
});

describe('encodings', () => {
  it('accepts only the canonical base64url spelling', () => {
    const bytes = seededRandom(8)(32);
    const text = toBase64url(bytes);
    assert.deepEqual(fromBase64url(text, 32), bytes);
    assert.equal(fromBase64url(`${text}=`, 32), undefined);
    assert.equal(fromBase64url(text, 31), undefined);
    // The last character of 32 bytes carries 2 unused bits; a lenient decoder accepts a neighbour.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(text.at(-1)!) ^ 1]!;
    assert.equal(Buffer.from(text.slice(0, -1) + sibling, 'base64url').equals(bytes), true);
    assert.equal(fromBase64url(text.slice(0, -1) + sibling, 32), undefined);
  });

  it('writes base 36 padded to a fixed width', () => {
    assert.equal(toBase36(new Uint8Array([0, 35]), 4), '000z');
    assert.equal(toBase36(new Uint8Array(32).fill(255), 50).length, 50);
    assert.throws(() => toBase36(new Uint8Array(32).fill(255), 49), RangeError);
  });
});
