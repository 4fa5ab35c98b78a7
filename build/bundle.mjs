/**
 * Bundles src/main.ts and every dependency into one CommonJS file, the only form a Node 22 single-executable
 * application can start from (its entry is run as a CommonJS script and may `require` built-in modules only).
 */

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
  const bytes = Object.values(result.metafile.outputs).reduce((sum, out) => sum + out.bytes, 0);
  log(`bundle: ${path.relative(REPO_ROOT, BUNDLE)} ${(bytes / 1024).toFixed(0)} KiB in ${Date.now() - started} ms`);
  return BUNDLE;
}
