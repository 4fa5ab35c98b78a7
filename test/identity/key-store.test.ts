import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { IDENTITY_FILE, loadOrCreateIdentity } from '../../src/identity/key-store.ts';
import { encodeIdentity } from '../../src/identity/keys.ts';
import { seededRandom } from '../../src/util/ids.ts';
import type { Logger } from '../../src/util/logger.ts';

const made: string[] = [];
after(() => Promise.all(made.map((dir) => fs.rm(dir, { recursive: true, force: true }))));

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'swarmlet-identity-'));
  made.push(dir);
  return dir;
}

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
}

describe('identity key store', () => {
  it('creates the identity once, with mode 0600, and loads the same one afterwards', async () => {
    const dir = path.join(await tempDir(), 'nested', 'data');
    const first = await loadOrCreateIdentity(dir, { random: seededRandom(1) });
    const file = path.join(dir, IDENTITY_FILE);
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    const again = await loadOrCreateIdentity(dir, { random: seededRandom(2) });
    assert.deepEqual(encodeIdentity(again), encodeIdentity(first));
  });

  it('makes a file others can read private again, and says so without printing a key', async () => {
    const dir = await tempDir();
    const identity = await loadOrCreateIdentity(dir);
    const file = path.join(dir, IDENTITY_FILE);
    await fs.chmod(file, 0o644);
    const logger = capture();
    const again = await loadOrCreateIdentity(dir, { logger });
    assert.deepEqual(encodeIdentity(again), encodeIdentity(identity));
    assert.equal((await fs.stat(file)).mode & 0o777, 0o600);
    assert.equal(logger.lines.length, 1);
    assert.match(logger.lines[0]!, /readable by other users.*0600/);
    assert.ok(!logger.lines[0]!.includes(encodeIdentity(identity).signingSeed));
  });

  it('refuses a damaged identity with a message that says how to start afresh', async () => {
    const dir = await tempDir();
    await loadOrCreateIdentity(dir);
    const file = path.join(dir, IDENTITY_FILE);
    await fs.writeFile(file, '{"format":"swarmlet"', { mode: 0o600 });
    await assert.rejects(loadOrCreateIdentity(dir), { code: 'corrupt_state', message: /mv .*identity\.json/ });
  });

  it('refuses a well-formed file whose keys do not belong together', async () => {
    const dir = await tempDir();
    await loadOrCreateIdentity(dir, { random: seededRandom(3) });
    const file = path.join(dir, IDENTITY_FILE);
    const text = await fs.readFile(file, 'utf8');
    const envelope = JSON.parse(text) as { data: Record<string, string> };
    envelope.data.signingKey = envelope.data.agreementKey!;
    const json = JSON.stringify(envelope.data);
    const { createHash } = await import('node:crypto');
    const sha256 = createHash('sha256').update(json).digest('hex');
    await fs.writeFile(file, `{"format":"swarmlet","sha256":"${sha256}","data":${json}}\n`);
    await assert.rejects(loadOrCreateIdentity(dir), { code: 'corrupt_state', message: /signingKey does not match/ });
  });
});
