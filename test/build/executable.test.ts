/**
 * What `npm run build` ships: one executable per architecture that needs no Node on the machine. The host's own
 * architecture runs natively; the other one runs under qemu-user with Debian's cross libc as its root.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const VERSION: string = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version;

/** A regression guard: the goal is ≤ 100 MB; as built with stripped runtimes today they are ≈104–108 MB. */
const MAX_BYTES = 130e6;

/** How to run a foreign-architecture binary here: qemu-user, with the cross-built libc as its library root. */
const EMULATION: Record<string, string[]> = {
  x64: ['/usr/bin/qemu-x86_64', '-L', '/usr/x86_64-linux-gnu'],
  arm64: ['/usr/bin/qemu-aarch64', '-L', '/usr/aarch64-linux-gnu'],
};

function executable(arch: string): string {
  const file = path.join(REPO, 'dist', `swarmlet-linux-${arch}`);
  assert.ok(existsSync(file), `${path.relative(REPO, file)} is missing: run npm run build first`);
  return file;
}

// PATH holds only an empty directory, so nothing the executable spawns or looks up can be a node on this machine
// (here /usr/bin has one, so /usr/bin:/bin would not prove anything).
const emptyBin = mkdtempSync(path.join(os.tmpdir(), 'swarmlet-nonode-'));
const noNodeEnv = { PATH: emptyBin, HOME: os.tmpdir() };
after(() => rmSync(emptyBin, { recursive: true, force: true }));

describe('built executables', () => {
  test('the test environment really has no node on PATH', () => {
    const probe = spawnSync('/bin/sh', ['-c', 'command -v node'], { env: noNodeEnv, encoding: 'utf8' });
    assert.notEqual(probe.status, 0, `node found on PATH at ${probe.stdout.trim()}`);
  });

  for (const arch of ['x64', 'arm64']) {
    test(`${arch}: --version prints ${VERSION} with no node on PATH`, (t) => {
      const file = executable(arch);
      const [command, ...args] = arch === process.arch ? [file] : [...EMULATION[arch], file];
      const started = Date.now();
      const result = spawnSync(command, [...args, '--version'], { env: noNodeEnv, encoding: 'utf8', timeout: 60_000 });
      assert.equal(result.error, undefined, `could not run ${command}: ${result.error?.message}`);
      assert.equal(result.status, 0, `exit ${result.status}: ${result.stderr}`);
      assert.match(result.stdout, new RegExp(`\\b${VERSION.replaceAll('.', '\\.')}\\b`));
      t.diagnostic(`${arch}: ${result.stdout.trim()} (${Date.now() - started} ms${command === file ? '' : ', under qemu'})`);
    });

    test(`${arch}: size stays under the regression guard`, (t) => {
      const bytes = statSync(executable(arch)).size;
      t.diagnostic(`${arch}: ${(bytes / 1e6).toFixed(1)} MB (goal ≤ 100 MB)`);
      assert.ok(bytes <= MAX_BYTES, `${(bytes / 1e6).toFixed(1)} MB exceeds ${MAX_BYTES / 1e6} MB`);
    });
  }
});
