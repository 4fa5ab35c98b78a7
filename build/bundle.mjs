/**
 * Bundles src/main.ts and every dependency into one CommonJS file, the only form a Node 22 single-executable
 * application can start from (its entry is run as a CommonJS script and may `require` built-in modules only).
 */

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as esbuild from 'esbuild';
import { CACHE_DIR, REPO_ROOT } from './runtime.mjs';

export const ENTRY = path.join(REPO_ROOT, 'src', 'main.ts');
export const BUNDLE = path.join(CACHE_DIR, 'bundle', 'swarmlet.cjs');

export async function bundle({ log }) {
  const started = Date.now();
  const result = await esbuild.build({
    entryPoints: [ENTRY],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // Optional native addons (e.g. ws's bufferutil) are required inside try blocks; leaving them out makes the
    // try fail at run time and the library fall back to JavaScript, which is what one cross-built file needs.
    external: ['*.node'],
    // Source modules are ESM, but in a CommonJS bundle `import.meta` is empty: code reading it would break only in
    // the executable. Make that a build error instead of esbuild's warning.
    logOverride: { 'empty-import-meta': 'error' },
    // Whitespace and syntax only: identifiers keep their names so stack traces from the field stay readable.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  await assertAscii(BUNDLE);
  const bytes = Object.values(result.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0);
  log(`bundle: ${path.relative(REPO_ROOT, BUNDLE)} ${(bytes / 1024).toFixed(0)} KiB in ${Date.now() - started} ms`);
  return BUNDLE;
}

/**
 * The running daemon keeps its bundle's source in V8's heap for as long as it runs (functions compile lazily from
 * it). V8 stores a source that is all ASCII one byte per character, and anything else two: a single µ in a regular
 * expression (esbuild escapes strings, not regex literals) doubled the 0.8 MB source to 1.6 MB. Write such a
 * character as an escape (\u00b5) in the source instead; this names where it is.
 */
async function assertAscii(file) {
  const text = await readFile(file, 'latin1');
  const at = text.search(/[^\x00-\x7f]/);
  if (at === -1) return;
  const line = text.slice(0, at).split('\n').length;
  throw new Error(`the bundle has a non-ASCII byte on line ${line}: ...${text.slice(Math.max(0, at - 60), at + 20)}... — escape it in the source (V8 would hold the whole bundle two bytes per character)`);
}
