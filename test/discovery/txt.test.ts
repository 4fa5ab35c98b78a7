/** The TXT record's strict reading and the instance names: round trips for any valid input, refusals for the rest. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hostnameOf, instanceLabel, parseInstanceName } from '../../src/discovery/names.ts';
import { DISCOVERY_ROLES, MAX_TXT_BYTES, encodeTxt, invalidFieldsReason, parseTxt, type ServiceFields } from '../../src/discovery/txt.ts';

const bytes = (...strings: string[]) => strings.map((text) => Buffer.from(text, 'latin1'));
const valid = (overrides: Record<string, string> = {}) => {
  const fields: Record<string, string> = { v: '1', cluster: 'abc123', node: 'n0de1d', role: 'worker', port: '4377', ...overrides };
  return bytes(...Object.entries(fields).map(([key, value]) => `${key}=${value}`));
};

const fieldsArb: fc.Arbitrary<ServiceFields> = fc.record({
  nodeId: fc.stringMatching(/^[a-z0-9]{1,64}$/),
  role: fc.constantFrom(...DISCOVERY_ROLES),
  cluster: fc.oneof(fc.constant(''), fc.stringMatching(/^[a-z0-9]{1,128}$/)),
  port: fc.integer({ min: 1, max: 65535 }),
});

describe('TXT records', () => {
  it('reads back what it writes, for any valid fields', () => {
    fc.assert(
      fc.property(fieldsArb, (fields) => {
        assert.equal(invalidFieldsReason(fields), undefined);
        const parsed = parseTxt(bytes(...encodeTxt(fields)));
        assert.deepEqual(parsed, { ok: true, fields: { ...fields } });
      }),
    );
  });

  it('reads an unjoined daemon (empty cluster) and a missing cluster key as no cluster', () => {
    assert.deepEqual(parseTxt(valid({ cluster: '' })), { ok: true, fields: { nodeId: 'n0de1d', role: 'worker', cluster: '', port: 4377 } });
    assert.equal(parseTxt(valid().filter((b) => !b.toString().startsWith('cluster='))).ok, true);
  });

  it('refuses malformed fields', () => {
    const bad: Array<Record<string, string>> = [
      { v: '2' },
      { v: '' },
      { node: '' },
      { node: 'ABC' },
      { node: 'a'.repeat(65) },
      { node: 'a b' },
      { role: 'leader' },
      { role: 'Manager' },
      { port: '0' },
      { port: '65536' },
      { port: '080' },
      { port: '12a' },
      { port: '-1' },
      { port: '' },
      { cluster: 'ABC' },
      { cluster: 'a'.repeat(129) },
      { cluster: 'dead\u00e9' },
    ];
    for (const overrides of bad) {
      const result = parseTxt(valid(overrides));
      assert.equal(result.ok, false, JSON.stringify(overrides));
    }
    assert.equal(parseTxt(valid().slice(1)).ok, false, 'no version');
    assert.equal(parseTxt('v=1').ok, false);
    assert.equal(parseTxt(['v=1', 'node=a', 'role=none', 'port=1']).ok, false, 'strings instead of bytes');
    assert.equal(parseTxt(undefined).ok, false);
  });

  it('keeps the first occurrence of a key, matches keys case-insensitively and ignores unknown keys and attributes', () => {
    const strings = [...valid(), ...bytes('ROLE=manager', 'extra=1', 'flag', '', '=x')];
    assert.deepEqual(parseTxt(strings), { ok: true, fields: { nodeId: 'n0de1d', role: 'worker', cluster: 'abc123', port: 4377 } });
    assert.deepEqual(parseTxt(bytes('V=1', 'Node=x1', 'Role=none', 'PORT=9')), { ok: true, fields: { nodeId: 'x1', role: 'none', cluster: '', port: 9 } });
  });

  it('refuses huge records before reading them', () => {
    assert.equal(parseTxt([...valid(), ...Array.from({ length: 20 }, () => Buffer.from('x=1'))]).ok, false);
    assert.equal(parseTxt([...valid(), Buffer.alloc(255, 0x61), Buffer.alloc(255, 0x61), Buffer.alloc(255, 0x61), Buffer.alloc(255, 0x61)]).ok, false);
    const result = parseTxt([Buffer.alloc(MAX_TXT_BYTES * 4, 0x61)]);
    assert.equal(result.ok, false);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }), (strings) => {
        const result = parseTxt(strings.map((item) => Buffer.from(item)));
        if (result.ok) assert.equal(invalidFieldsReason(result.fields), undefined);
      }),
    );
  });

  it('refuses to advertise invalid fields', () => {
    assert.match(invalidFieldsReason({ nodeId: 'X', role: 'worker', cluster: '', port: 1 }) ?? '', /node id/);
    assert.match(invalidFieldsReason({ nodeId: 'x', role: 'boss' as never, cluster: '', port: 1 }) ?? '', /role/);
    assert.match(invalidFieldsReason({ nodeId: 'x', role: 'worker', cluster: '', port: 70000 }) ?? '', /port/);
  });
});

describe('instance names', () => {
  it('makes a DNS label of hostname and node id prefix', () => {
    assert.equal(instanceLabel('pi-one', 'abcdefghijklmnopqrstuvwxy'), 'pi-one-abcdefghijkl');
    assert.equal(instanceLabel('My_Pi.local', 'abc'), 'my-pi-local-abc');
    assert.equal(instanceLabel('', 'abc'), 'swarmlet-abc');
    assert.equal(instanceLabel('ünïcode', 'abc'), 'n-code-abc');
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.stringMatching(/^[a-z0-9]{1,64}$/), (hostname, nodeId) => {
        const label = instanceLabel(hostname, nodeId);
        assert.ok(Buffer.byteLength(label) <= 63);
        assert.match(label, /^[a-z0-9][a-z0-9-]*$/);
        assert.equal(parseInstanceName(`${label}._swarmlet._tcp.local`), label);
      }),
    );
  });

  it('recognises only our service instances', () => {
    assert.equal(parseInstanceName('Pi-Abc._swarmlet._TCP.local'), 'pi-abc');
    assert.equal(parseInstanceName('pi._http._tcp.local'), undefined);
    assert.equal(parseInstanceName('a.b._swarmlet._tcp.local'), undefined);
    assert.equal(parseInstanceName('._swarmlet._tcp.local'), undefined);
    assert.equal(parseInstanceName('_swarmlet._tcp.local'), undefined);
  });

  it('reads the hostname back from the label', () => {
    assert.equal(hostnameOf('pi-one-abcdefghijkl', 'abcdefghijklmnop'), 'pi-one');
    assert.equal(hostnameOf('renamed', 'abcdefghijklmnop'), 'renamed');
  });
});
