import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../../src/manager/raft/types.ts';
import { decodeRecord, encodeRecord, RECORD_OVERHEAD, splitLines } from '../../../src/store/raft/record.ts';
import { entry } from './helpers.ts';

const line = (e: Entry) => encodeRecord(e).subarray(0, -1);

describe('log records', () => {
  it('round-trip any JSON entry, one line each, valid JSON on their own', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.jsonValue(), (index, term, data) => {
        const e: Entry = { index, term, type: 'normal', data };
        const record = encodeRecord(e);
        assert.equal(record.indexOf(0x0a), record.length - 1);
        assert.equal(record.length, Buffer.byteLength(JSON.stringify(e)) + RECORD_OVERHEAD);
        assert.deepEqual(JSON.parse(record.toString()).e, JSON.parse(JSON.stringify(e)));
        assert.deepEqual(decodeRecord(record.subarray(0, -1)), JSON.parse(JSON.stringify(e)));
      }),
    );
  });

  it('catch any single flipped byte', () => {
    const good = line(entry(7, 2, { op: 'set ünïcode ✓' }));
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
        const bad = Buffer.from(good);
        bad[at] ^= flip;
        assert.equal(typeof decodeRecord(bad), 'string');
      }),
    );
  });

  it('say why a line is not a record', () => {
    assert.equal(decodeRecord(Buffer.from('')), 'line too short');
    assert.equal(decodeRecord(Buffer.from('{"hello":"world","this is":"not a record"}')), 'not a log record');
    const good = line(entry(1, 1));
    assert.equal(decodeRecord(good.subarray(0, -3)), 'record not closed');
    const json = Buffer.from(good.toString().replace(/"c":"[0-9a-f]{8}"/, '"c":"00000000"'));
    assert.equal(decodeRecord(json), 'checksum mismatch');
  });

  it('split on newlines, keeping the unterminated tail apart', () => {
    const { lines, tail } = splitLines(Buffer.from('a\nbb\n\nccc'));
    assert.deepEqual(lines.map(String), ['a', 'bb', '']);
    assert.equal(tail.toString(), 'ccc');
  });
});
