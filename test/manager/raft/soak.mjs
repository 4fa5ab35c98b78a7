// `npm run soak`: the Raft simulation over 100,000 seeds (see soak.ts). Plain JavaScript so that an older Node,
// which cannot load TypeScript, gets this message rather than a parse error from deep inside the import.
const [major] = process.versions.node.split('.').map(Number);
if (major < 22 || !process.features.typescript) {
  console.error(
    `npm run soak needs Node 22.18 or later, which runs the TypeScript sources as they are; this is Node ${process.version} (${process.execPath}).\n` +
      'Run it on the pinned runtime the tests use:\n' +
      '  PATH="$(dirname "$(node build/runtime.mjs node-path)"):$PATH" npm run soak',
  );
  process.exit(1);
}
await import('./soak.ts');
