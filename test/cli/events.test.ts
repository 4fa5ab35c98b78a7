/** `swarmlet events`: docker's time flags, docker's event line, and the stream read from the API. */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { formatEventLine, formatEventTime } from '../../src/cli/events.ts';
import { type FakeApi, runCli, startFakeApi } from './fake-api.ts';

const LINE =
  '{"Type":"service","Action":"update","Actor":{"ID":"svc1","Attributes":{"replicas.old":"1","name":"web","replicas.new":"3"}},"scope":"swarm","time":1767225600,"timeNano":1767225600123456789}';

describe('swarmlet events: lines', () => {
  it('prints docker\'s line: fixed nanoseconds, type, action, ID and sorted attributes', () => {
    process.env.TZ = 'UTC';
    assert.equal(formatEventTime(1767225600000000001n), '2026-01-01T00:00:00.000000001Z');
    assert.equal(formatEventLine(LINE), '2026-01-01T00:00:00.123456789Z service update svc1 (name=web, replicas.new=3, replicas.old=1)\n');
    assert.equal(formatEventLine('{"Type":"node","Action":"remove","Actor":{"ID":"n1"},"time":1767225600}'), '2026-01-01T00:00:00.000000000Z node remove n1\n');
  });
});

describe('swarmlet events against an API', () => {
  let api: FakeApi;
  before(async () => {
    api = await startFakeApi((req) => (req.path === '/events' ? { text: `${LINE}\n\n${LINE.replace('update', 'remove')}\n` } : { status: 404, body: { message: 'no' } }));
  });
  after(() => api.close());

  it('asks for the events with docker\'s query and prints each as it comes', async () => {
    const result = await runCli(['events', '--filter', 'scope=swarm', '--filter', 'type=service', '--since', '1767225600', '--until', '1767225700'], { SWARMLET_HOST: `unix://${api.socket}`, TZ: 'UTC' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      '2026-01-01T00:00:00.123456789Z service update svc1 (name=web, replicas.new=3, replicas.old=1)\n' +
        '2026-01-01T00:00:00.123456789Z service remove svc1 (name=web, replicas.new=3, replicas.old=1)\n',
    );
    const request = api.requests.at(-1)!;
    assert.equal(request.versionPrefix, '/v1.41');
    assert.equal(request.query.get('since'), '1767225600');
    assert.equal(request.query.get('until'), '1767225700');
    assert.deepEqual(JSON.parse(request.query.get('filters')!), { scope: ['swarm'], type: ['service'] });
  });

  it('--format json prints the objects as the daemon sent them', async () => {
    const result = await runCli(['events', '--format', 'json'], { SWARMLET_HOST: `unix://${api.socket}` });
    assert.equal(result.stdout.split('\n')[0], LINE);
  });

  it('refuses a Go template it cannot run', async () => {
    const result = await runCli(['events', '--format', '{{.Type}}'], { SWARMLET_HOST: `unix://${api.socket}` });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /unsupported --format/);
  });
});
