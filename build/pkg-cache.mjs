/**
 * Puts our pinned, stripped Node runtimes where @yao-pkg/pkg's SEA mode looks before it would download one, so the
 * build never contacts nodejs.org.
 *
 * Layout pkg 6.23 checks (lib-es5/sea.js, getNodejsExecutable and extract), under ~/.pkg-cache/sea/:
 *   node-vX.Y.Z-linux-ARCH.tar.gz + .tar.gz.ok   the "downloaded and checksummed" archive and its sentinel
 *   node-vX.Y.Z-linux-ARCH/bin/node + node.ok    the "extracted" binary and its sentinel
 * With both sentinels present pkg uses bin/node as is. The archive is a real one holding that same binary, so that
 * if the extracted copy goes missing pkg re-extracts our binary instead of failing or fetching.
 */

import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { accessSync, constants, createReadStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { RUNTIMES, nodePath, releaseName } from './runtime.mjs';

// Async so that both architectures strip and compress at once (two cores, two runtimes).
const run = promisify(execFile);

export const SEA_CACHE = path.join(os.homedir(), '.pkg-cache', 'sea');

/** GNU triplets whose binutils `<triplet>-strip` understands each architecture, native or cross. */
const TRIPLETS = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };

/**
 * --strip-all drops the debug info and the static symbol table (≈18 MB per runtime). The dynamic symbol table stays,
 * so native addons still link against the binary; what is lost is symbol names in native profiles of the runtime,
 * which nobody takes from a field device.
 */
const STRIP_FLAGS = ['--strip-all'];

/** The first strip on PATH that handles `arch`: binutils for that triplet, else LLVM's, which handles any. */
export function stripTool(arch) {
  const candidates = [`${TRIPLETS[arch]}-strip`, 'llvm-strip'];
  const found = candidates.find(onPath);
  if (!found) {
    throw new Error(`no strip for ${arch} on PATH (tried ${candidates.join(', ')}); ` +
      `install one, e.g. apt-get install -y binutils-${TRIPLETS[arch].replaceAll('_', '-')}`);
  }
  return found;
}

/**
 * Stages the stripped runtime for `arch` and returns sizes before and after stripping. A stamp records the source
 * pin, the strip command and the staged binary's hash, so a rebuild skips the work unless any of them changed (pkg
 * or a person may have replaced the staged file).
 */
export async function stageRuntime(arch, { log }) {
  const name = releaseName(arch);
  const source = nodePath(arch);
  const staged = path.join(SEA_CACHE, name, 'bin', 'node');
  const archive = path.join(SEA_CACHE, `${name}.tar.gz`);
  const stampFile = path.join(SEA_CACHE, `${name}.swarmlet-stamp`);
  const tool = stripTool(arch);
  const recipe = `${RUNTIMES[arch].integrity} ${path.basename(tool)} ${STRIP_FLAGS.join(' ')}`;
  const originalBytes = (await stat(source)).size;

  const ready = [staged, `${staged}.ok`, archive, `${archive}.ok`, stampFile].every((f) => existsSync(f));
  if (ready) {
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (stamp.recipe === recipe && stamp.sha256 === (await sha256(staged))) {
      return { arch, originalBytes, strippedBytes: (await stat(staged)).size, staged };
    }
  }

  log(`stage: stripping ${name} with ${tool} ${STRIP_FLAGS.join(' ')}`);
  await rm(path.join(SEA_CACHE, name), { recursive: true, force: true });
  await rm(stampFile, { force: true });
  for (const f of [archive, `${archive}.ok`]) await rm(f, { force: true });
  await mkdir(path.dirname(staged), { recursive: true });
  const partial = `${staged}.partial`;
  await run(tool, [...STRIP_FLAGS, '-o', partial, source]);
  await rename(partial, staged);
  await writeFile(`${staged}.ok`, '');

  // gzip -1: the archive is only a fallback for pkg's own extraction; compressing harder costs seconds per build.
  await run('tar', ['-C', SEA_CACHE, '--use-compress-program=gzip -1', '-cf', `${archive}.partial`, `${name}/bin/node`]);
  await rename(`${archive}.partial`, archive);
  await writeFile(`${archive}.ok`, '');

  await writeFile(stampFile, JSON.stringify({ recipe, sha256: await sha256(staged) }));
  return { arch, originalBytes, strippedBytes: (await stat(staged)).size, staged };
}

function onPath(command) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

async function sha256(file) {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return hash.digest('hex');
}
