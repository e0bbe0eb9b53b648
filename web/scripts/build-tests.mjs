// Bundles every test/*.test.ts into dist-test/*.test.js (Node, ESM) so that
// `node --test dist-test/` runs them without a TypeScript loader. Type
// checking is `npm run typecheck`'s job; esbuild only strips types here.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const testDir = join(root, 'test');
const outdir = join(root, 'dist-test');

const entryPoints = readdirSync(testDir)
  .filter((name) => name.endsWith('.test.ts'))
  .sort()
  .map((name) => join(testDir, name));
if (entryPoints.length === 0) {
  throw new Error(`no test/*.test.ts files in ${testDir}`);
}

// Start clean so a deleted test does not keep running from a stale bundle.
rmSync(outdir, { recursive: true, force: true });
await build({
  entryPoints,
  outdir,
  outExtension: { '.js': '.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  sourcemap: 'inline',
  packages: 'external',
  logLevel: 'warning',
});
