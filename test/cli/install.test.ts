/**
 * `swarmlet install`, never against this machine's systemd: the plan is checked as data, the steps are applied
 * under temporary roots, and the built executable installs itself into one.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, test } from 'node:test';
import { BINARY_PATH, UNIT_PATH, applyInstall, installCommand, planInstall } from '../../src/cli/install.ts';
import { UNIT_TEXT } from '../../src/cli/unit.ts';

const REPO = path.resolve(import.meta.dirname, '..', '..');
const UNIT_FILE = path.join(REPO, 'systemd', 'swarmlet.service');

const roots: string[] = [];
function tempRoot(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'swarmlet-install-'));
  roots.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of roots.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Every file under `dir`, relative to it; an untouched root lists none. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

const mode = (file: string) => statSync(file).mode & 0o777;
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** Keys of one [section] of a unit file; repeated keys keep their last value, which is enough for these checks. */
function unitSection(text: string, section: string): Map<string, string> {
  const keys = new Map<string, string>();
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) current = header[1];
    else if (current === section) {
      const eq = line.indexOf('=');
      assert.ok(eq > 0, `not a key=value line in [${current}]: ${line}`);
      keys.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return keys;
}

describe('the systemd unit', () => {
  test('the embedded unit equals systemd/swarmlet.service byte for byte', () => {
    assert.equal(UNIT_TEXT, readFileSync(UNIT_FILE, 'utf8'));
  });

  test('runs the installed daemon, restarts always, keeps state in /var/lib/swarmlet, starts after docker', () => {
    const unit = unitSection(UNIT_TEXT, 'Unit');
    const service = unitSection(UNIT_TEXT, 'Service');
    const install = unitSection(UNIT_TEXT, 'Install');
    assert.equal(service.get('ExecStart'), `${BINARY_PATH} daemon`);
    assert.equal(service.get('Restart'), 'always');
    assert.equal(service.get('StateDirectory'), 'swarmlet');
    assert.equal(service.get('RuntimeDirectory'), 'swarmlet');
    assert.match(unit.get('After') ?? '', /\bdocker\.service\b/);
    assert.equal(install.get('WantedBy'), 'multi-user.target');
  });
});

describe('planInstall', () => {
  test('on this machine: binary, unit, then systemctl', () => {
    const steps = planInstall({ executable: '/opt/swarmlet', root: '/', unitText: 'U' });
    assert.deepEqual(steps, [
      { kind: 'copy', from: '/opt/swarmlet', to: BINARY_PATH, mode: 0o755 },
      { kind: 'write', to: UNIT_PATH, content: 'U', mode: 0o644 },
      { kind: 'run', argv: ['systemctl', 'daemon-reload'], skipped: undefined },
      { kind: 'run', argv: ['systemctl', 'enable', 'swarmlet'], skipped: undefined },
      { kind: 'run', argv: ['systemctl', 'restart', 'swarmlet'], skipped: undefined },
    ]);
  });

  test('under another root: files go there and every systemctl step is skipped with its reason', () => {
    const steps = planInstall({ executable: '/opt/swarmlet', root: '/mnt/sd', unitText: 'U' });
    assert.deepEqual(steps.slice(0, 2).map((s) => ('to' in s ? s.to : '')), [`/mnt/sd${BINARY_PATH}`, `/mnt/sd${UNIT_PATH}`]);
    for (const step of steps.slice(2)) {
      assert.equal(step.kind, 'run');
      assert.match(step.kind === 'run' ? step.skipped ?? '' : '', /--root \/mnt\/sd/);
    }
  });
});

describe('applyInstall', () => {
  function fakeExecutable(): string {
    const file = path.join(tempRoot(), 'swarmlet');
    writeFileSync(file, 'not really an executable\n', { mode: 0o700 });
    return file;
  }

  test('--dry-run prints every step and writes nothing', async () => {
    const root = tempRoot();
    const lines: string[] = [];
    await applyInstall(planInstall({ executable: fakeExecutable(), root, unitText: UNIT_TEXT }), { dryRun: true, log: (l) => lines.push(l) });
    assert.deepEqual(filesUnder(root), []);
    assert.equal(lines.length, 5);
    assert.match(lines[0], /^would copy .* to .*\/usr\/local\/bin\/swarmlet \(mode 0755\)$/);
    assert.match(lines[1], /^would write .*\/etc\/systemd\/system\/swarmlet\.service \(mode 0644/);
    assert.match(lines[2], /^would skip systemctl daemon-reload/);
  });

  test('--root writes the binary (0755) and the unit (0644) there and runs no systemctl', async () => {
    const root = tempRoot();
    const executable = fakeExecutable();
    const lines: string[] = [];
    await applyInstall(planInstall({ executable, root, unitText: UNIT_TEXT }), { dryRun: false, log: (l) => lines.push(l) });
    assert.deepEqual(filesUnder(root).sort(), [BINARY_PATH.slice(1), UNIT_PATH.slice(1)].sort());
    assert.equal(mode(path.join(root, BINARY_PATH)), 0o755);
    assert.equal(sha256(path.join(root, BINARY_PATH)), sha256(executable));
    assert.equal(mode(path.join(root, UNIT_PATH)), 0o644);
    assert.equal(readFileSync(path.join(root, UNIT_PATH), 'utf8'), UNIT_TEXT);
    assert.equal(lines.filter((l) => l.startsWith('skip systemctl')).length, 3);
  });

  test('reinstalling replaces the files in place', async () => {
    const root = tempRoot();
    const steps = planInstall({ executable: fakeExecutable(), root, unitText: UNIT_TEXT });
    await applyInstall(steps, { dryRun: false, log: () => {} });
    await applyInstall(steps, { dryRun: false, log: () => {} });
    assert.equal(filesUnder(root).length, 2);
  });
});

describe('installCommand from source', () => {
  test('refuses to install node itself and says to build first', async () => {
    const root = tempRoot();
    await assert.rejects(installCommand({ root, log: () => {} }), /npm run build/);
    assert.deepEqual(filesUnder(root), []);
  });
});

describe('the built executable installs itself', () => {
  const built = path.join(REPO, 'dist', `swarmlet-linux-${process.arch}`);
  const run = (...args: string[]) => {
    assert.ok(existsSync(built), `${path.relative(REPO, built)} is missing: run npm run build first`);
    return spawnSync(built, ['install', ...args], { encoding: 'utf8', timeout: 60_000 });
  };

  test('install --dry-run --root prints the plan and writes nothing', () => {
    const root = tempRoot();
    const result = run('--dry-run', '--root', root);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`would copy ${built} to ${root}/usr/local/bin/swarmlet`));
    assert.match(result.stdout, /would skip systemctl enable swarmlet/);
    assert.deepEqual(filesUnder(root), []);
  });

  test('install --root copies the running executable and writes the unit', () => {
    const root = tempRoot();
    const result = run('--root', root);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(sha256(path.join(root, BINARY_PATH)), sha256(built));
    assert.equal(mode(path.join(root, BINARY_PATH)), 0o755);
    assert.equal(readFileSync(path.join(root, UNIT_PATH), 'utf8'), readFileSync(UNIT_FILE, 'utf8'));
  });
});
