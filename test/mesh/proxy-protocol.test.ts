/**
 * The PROXY protocol v2 header against bytes written out from the spec (section 2.2): the signature, the
 * version/command byte, the family byte, the length, then addresses and ports in network order.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeProxyV2 } from '../../src/mesh/proxy-protocol.ts';

const SIGNATURE = '0d0a0d0a000d0a515549540a';
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

describe('PROXY protocol v2 header', () => {
  it('encodes TCP over IPv4: command 0x21, family 0x11, 12 bytes of addresses and ports', () => {
    const header = encodeProxyV2({ source: { address: '192.0.2.10', port: 54321 }, destination: { address: '10.0.0.1', port: 80 } });
    assert.equal(hex(header), `${SIGNATURE}2111000c` + 'c000020a' + '0a000001' + 'd431' + '0050');
  });

  it('encodes TCP over IPv6 with compressed groups: family 0x21, 36 bytes', () => {
    const header = encodeProxyV2({ source: { address: '2001:db8::1', port: 1 }, destination: { address: '::1', port: 443 } });
    assert.equal(
      hex(header),
      `${SIGNATURE}21210024` + '20010db8000000000000000000000001' + '00000000000000000000000000000001' + '0001' + '01bb',
    );
  });

  it('sends an IPv4-mapped client as IPv4, and mixed families as IPv6 with the IPv4 side mapped', () => {
    const mapped = encodeProxyV2({ source: { address: '::ffff:127.0.0.1', port: 2 }, destination: { address: '127.0.0.1', port: 3 } });
    assert.equal(hex(mapped), `${SIGNATURE}2111000c` + '7f000001' + '7f000001' + '0002' + '0003');
    const mixed = encodeProxyV2({ source: { address: '192.0.2.1', port: 2 }, destination: { address: 'fe80::a:b%eth0', port: 3 } });
    assert.equal(hex(mixed), `${SIGNATURE}21210024` + '00000000000000000000ffffc0000201' + 'fe8000000000000000000000000a000b' + '0002' + '0003');
  });

  it('expands an IPv6 address with an embedded IPv4 tail', () => {
    const header = encodeProxyV2({ source: { address: '64:ff9b::192.0.2.33', port: 0 }, destination: { address: '::', port: 65535 } });
    assert.equal(hex(header.subarray(16, 32)), '0064ff9b0000000000000000c0000221');
    assert.equal(hex(header.subarray(32, 48)), '0'.repeat(32));
    assert.equal(hex(header.subarray(48)), '0000ffff');
  });

  it('encodes LOCAL with no addresses when there is no client to tell', () => {
    assert.equal(hex(encodeProxyV2(null)), `${SIGNATURE}20000000`);
  });

  it('refuses what is not an address or a port', () => {
    assert.throws(() => encodeProxyV2({ source: { address: 'example.com', port: 1 }, destination: { address: '::1', port: 1 } }), { code: 'invalid_argument' });
    assert.throws(() => encodeProxyV2({ source: { address: '::1', port: 70000 }, destination: { address: '::1', port: 1 } }), { code: 'invalid_argument' });
  });
});
