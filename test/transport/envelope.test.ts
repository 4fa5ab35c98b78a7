import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closeCodeFor, closeReasonText, reasonForCloseCode } from '../../src/transport/close-codes.ts';
import { decodeEnvelope, encodeEnvelope, type Envelope } from '../../src/transport/envelope.ts';
import { TRANSPORT_REASONS, type TransportReason } from '../../src/transport/errors.ts';
import { parseAddress, formatAddress } from '../../src/transport/address.ts';
import { parseChannelPath } from '../../src/transport/kinds.ts';

const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as unknown); // as JSON would carry it (-0 → 0)
const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ kind: fc.constant('message' as const), body: json }),
  fc.record({ kind: fc.constant('request' as const), id: fc.nat({ max: 2 ** 32 - 1 }), body: json }),
  fc.record({ kind: fc.constant('reply' as const), id: fc.nat({ max: 2 ** 32 - 1 }), body: json }),
  fc.record({ kind: fc.constant('failure' as const), id: fc.nat({ max: 2 ** 32 - 1 }), error: fc.record({ message: fc.string(), code: fc.string() }, { requiredKeys: ['message'] }) }),
);

describe('control envelopes, close codes, addresses', () => {
  it('round-trips every envelope', () => {
    fc.assert(fc.property(envelope, (e) => {
      const decoded = decodeEnvelope(encodeEnvelope(e));
      assert.ok(decoded.ok);
      assert.deepEqual(decoded.value, JSON.parse(JSON.stringify(e))); // fast-check records have no prototype
    }), { numRuns: 500 });
  });

  it('refuses, never throws on, bytes that are not an envelope', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const decoded = decodeEnvelope(bytes);
      if (!decoded.ok) assert.equal(decoded.error.reason, 'malformed');
    }), { numRuns: 2000 });
    for (const bad of [[], [0], [9, 0x7b, 0x7d], [2, 0, 0], [4, 0, 0, 0, 1, ...Buffer.from('{"code":1}')]]) {
      assert.equal(decodeEnvelope(Uint8Array.from(bad)).ok, false, JSON.stringify(bad));
    }
  });

  it('gives every reason its own close code and reads it back', () => {
    const codes = new Set<number>();
    for (const reason of Object.keys(TRANSPORT_REASONS) as TransportReason[]) {
      const code = closeCodeFor(reason);
      assert.ok(code >= 4000 && code < 5000);
      codes.add(code);
      assert.equal(reasonForCloseCode(code), reason);
    }
    assert.equal(codes.size, Object.keys(TRANSPORT_REASONS).length);
    assert.equal(reasonForCloseCode(1000), null);
    assert.equal(reasonForCloseCode(1009), 'oversized');
    assert.equal(reasonForCloseCode(1006), 'closed');
    assert.ok(Buffer.byteLength(closeReasonText('é'.repeat(200))) <= 123);
  });

  it('parses and prints node addresses and channel paths', () => {
    assert.deepEqual(parseAddress('10.77.0.11:4242'), { host: '10.77.0.11', port: 4242 });
    assert.deepEqual(parseAddress('[fe80::1]:4242'), { host: 'fe80::1', port: 4242 });
    assert.deepEqual(parseAddress('node-1.local:1'), { host: 'node-1.local', port: 1 });
    for (const bad of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', 'fe80::1:80', ':80', '']) assert.throws(() => parseAddress(bad), { code: 'invalid_argument' }, bad);
    assert.equal(formatAddress('::ffff:127.0.0.1', 80), '127.0.0.1:80');
    assert.equal(formatAddress('::1', 80), '[::1]:80');
    assert.equal(parseChannelPath('/swarmlet/v1/bulk'), 'bulk');
    for (const bad of ['/swarmlet/v1/', '/swarmlet/v1/bulk/', '/swarmlet/v1/bulk?x', '/swarmlet/v2/bulk', undefined]) assert.equal(parseChannelPath(bad), null);
  });
});
