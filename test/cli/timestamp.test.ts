/** `--since` / `--until` for `events` and `service logs`, read as the docker CLI reads them (src/cli/timestamp.ts). */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiTimestamp } from '../../src/cli/timestamp.ts';

const NOW = Date.parse('2026-01-01T00:00:00.000Z');

describe('--since and --until', () => {
  it('takes Go durations back from now, to the nanosecond', () => {
    assert.equal(apiTimestamp('10m', NOW, 'since'), '1767225000.000000000');
    assert.equal(apiTimestamp('1h30m', NOW, 'since'), '1767220200.000000000');
    assert.equal(apiTimestamp('1.5s', NOW, 'since'), '1767225598.500000000');
    assert.equal(apiTimestamp('250ms', NOW + 250, 'since'), '1767225600.000000000');
    assert.equal(apiTimestamp('1500\u00b5s', NOW, 'since'), '1767225599.998500000');
    const now = Date.UTC(2026, 10, 27, 3, 0, 0, 250);
    assert.equal(apiTimestamp('42m', now, 'since'), `${now / 1000 - 42 * 60 - 0.25}.250000000`);
  });

  it('passes Unix seconds on as they are, 0 included', () => {
    assert.equal(apiTimestamp('1767225600.5', NOW, 'until'), '1767225600.5');
    assert.equal(apiTimestamp('1700000000', NOW, 'since'), '1700000000');
    assert.equal(apiTimestamp('0', NOW, 'since'), '0');
  });

  it('reads dates: RFC 3339 with a zone, and a bare date as local midnight', () => {
    assert.equal(apiTimestamp('2026-01-01T00:00:01Z', NOW, 'since'), '1767225601.000000000');
    const localMidnight = new Date(2026, 0, 2).getTime();
    assert.equal(apiTimestamp('2026-01-02', NOW, 'since'), `${localMidnight / 1000}.000000000`);
  });

  it('refuses anything else, naming the flag and what it takes', () => {
    assert.throws(() => apiTimestamp('soon', NOW, 'since'), /invalid value "soon" for --since: use a duration \(10m, 1h30m\), a date/);
    assert.throws(() => apiTimestamp('yesterday-ish', NOW, 'until'), /for --until/);
    assert.throws(() => apiTimestamp('-10m', NOW, 'since'), /for --since/);
  });
});
