import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it, mock } from 'node:test';
import fc from 'fast-check';
import {
  formatJoinToken,
  hashTokenSecret,
  newJoinToken,
  parseJoinToken,
  tokenDigestMatches,
  verifyTokenSecret,
} from '../../src/identity/join-token.ts';
import { SigningKey } from '../../src/identity/keys.ts';
import { seededRandom } from '../../src/util/ids.ts';

const root = SigningKey.generate(seededRandom(200));
const otherRoot = SigningKey.generate(seededRandom(201));

describe('join tokens', () => {
  it('have the form SWLTKN-1-<50>-<25> and parse back', () => {
    const token = newJoinToken(root.publicKey, 'worker', seededRandom(1));
    assert.match(token.text, /^SWLTKN-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const parsed = parseJoinToken(`  ${token.text}\n`);
    assert.equal(formatJoinToken(parsed), token.text);
    assert.ok(tokenDigestMatches(parsed, root.publicKey));
    assert.ok(verifyTokenSecret(parsed.secret, token.secretHash));
  });

  it('keep only a hash of the secret, and different roles get different secrets', () => {
    const worker = newJoinToken(root.publicKey, 'worker');
    const manager = newJoinToken(root.publicKey, 'manager');
    const secret = parseJoinToken(worker.text).secret;
    assert.ok(!worker.secretHash.includes(secret));
    assert.equal(worker.secretHash, hashTokenSecret(secret));
    assert.ok(!verifyTokenSecret(secret, manager.secretHash));
    assert.equal(worker.role, 'worker');
    assert.equal(manager.role, 'manager');
  });

  it('pin the cluster: a root key whose digest differs is refused', () => {
    const token = parseJoinToken(newJoinToken(root.publicKey, 'manager').text);
    assert.equal(tokenDigestMatches(token, otherRoot.publicKey), false);
  });

  it('compare secrets with crypto.timingSafeEqual', () => {
    const token = newJoinToken(root.publicKey, 'worker');
    const secret = parseJoinToken(token.text).secret;
    const spy = mock.method(crypto, 'timingSafeEqual');
    try {
      assert.equal(verifyTokenSecret(secret, token.secretHash), true);
      assert.equal(verifyTokenSecret('0'.repeat(25), token.secretHash), false);
      assert.equal(spy.mock.callCount(), 2);
    } finally {
      spy.mock.restore();
    }
    assert.equal(verifyTokenSecret(secret, 'not hex'), false);
  });

  const good = newJoinToken(root.publicKey, 'worker', seededRandom(2)).text;
  const [, , digest, secret] = good.split('-');
  const malformed: [string, string, RegExp][] = [
    ['empty', '', /does not start with SWLTKN-/],
    ["Docker's token", `SWMTKN-1-${digest}-${secret}`, /does not start with SWLTKN-/],
    ['a future version', `SWLTKN-2-${digest}-${secret}`, /version "2".*reads version 1/],
    ['a missing secret', `SWLTKN-1-${digest}`, /3 parts/],
    ['a short digest', `SWLTKN-1-${digest!.slice(1)}-${secret}`, /cluster digest has 49 characters/],
    ['upper case', `SWLTKN-1-${digest!.toUpperCase()}-${secret}`, /cluster digest/],
    ['a long secret', `SWLTKN-1-${digest}-${secret}x`, /secret has 26 characters/],
  ];
  for (const [what, text, why] of malformed) {
    it(`refuse ${what} with a message showing what a token looks like`, () => {
      assert.throws(() => parseJoinToken(text), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'invalid_argument');
        assert.match(err.message, why);
        assert.match(err.message, /looks like SWLTKN-1-<50 characters a-z 0-9>-<25 characters a-z 0-9>.*swarmlet join-token/);
        if (secret && text.includes(secret)) assert.ok(!err.message.includes(secret), 'the message quotes the secret');
        return true;
      });
    });
  }

  it('either parse or throw a SwarmletError for any text (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constant(good).chain((t) => fc.nat({ max: t.length - 1 }).map((i) => t.slice(0, i) + t.slice(i + 1)))), (text) => {
        try {
          const parsed = parseJoinToken(text);
          return formatJoinToken(parsed) === text.trim();
        } catch (err) {
          return (err as { code?: string }).code === 'invalid_argument';
        }
      }),
    );
  });
});
