// `npm run build`: a complete web/dist that the server serves as WEB_DIR.
//
//   1. the WASM core (dist/cosmic.wasm + dist/wasm_exec.js), rebuilt only
//      when stale (scripts/ensure-wasm.mjs; `make wasm` builds it too);
//   2. src/main.ts bundled by esbuild into dist/app.js;
//   3. static/* copied into dist/;
//   4. .gz and .br siblings of every .wasm/.js/.html/.css/.svg, written with
//      Node's zlib (no other tools), which server/app/static.go serves when
//      the browser accepts them.
//
// It prints the sizes and warns when the WASM module exceeds its budget.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { brotliCompressSync, constants as z, gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { ensureWasm } from './ensure-wasm.mjs';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(web, 'dist');
const staticDir = join(web, 'static');

/** WASM_GZIP_BUDGET is the size target of the module, gzipped: 1.3 MB (decimal bytes). */
export const WASM_GZIP_BUDGET = 1_300_000;
const COMPRESS = new Set(['.wasm', '.js', '.html', '.css', '.svg']);

mkdirSync(dist, { recursive: true });
if (!process.argv.includes('--no-wasm')) ensureWasm();

// Stale compressed siblings would be served in place of fresh files.
for (const name of readdirSync(dist)) {
  if (name.endsWith('.gz') || name.endsWith('.br')) rmSync(join(dist, name));
}

await build({
  entryPoints: [join(web, 'src', 'main.ts')],
  outfile: join(dist, 'app.js'),
  bundle: true,
  format: 'esm',
  target: 'es2020',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});

for (const name of readdirSync(staticDir)) {
  copyFileSync(join(staticDir, name), join(dist, name));
}

// gzip compresses with the system's `gzip -9` when there is one: its deflate
// packs the WASM module about 1 % smaller than zlib's level 9 here.
function gzip(raw) {
  const r = spawnSync('gzip', ['-9', '-n', '-c'], { input: raw, maxBuffer: 64 << 20 });
  if (r.status === 0 && r.stdout.length > 0) return r.stdout;
  return gzipSync(raw, { level: 9 });
}

const bytes = (n) => `${n}`.padStart(11);
const rows = [];
for (const name of readdirSync(dist).sort()) {
  const path = join(dist, name);
  if (!statSync(path).isFile() || !COMPRESS.has(extname(name))) continue;
  const raw = readFileSync(path);
  const gz = gzip(raw);
  const br = brotliCompressSync(raw, {
    params: {
      [z.BROTLI_PARAM_QUALITY]: 11,
      [z.BROTLI_PARAM_SIZE_HINT]: raw.length,
      [z.BROTLI_PARAM_MODE]: name.endsWith('.wasm') ? z.BROTLI_MODE_GENERIC : z.BROTLI_MODE_TEXT,
    },
  });
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, br);
  rows.push({ name, raw: raw.length, gz: gz.length, br: br.length });
}

console.log(`${'bytes'.padEnd(16)}${'raw'.padStart(11)}${'gzip'.padStart(11)}${'brotli'.padStart(11)}`);
for (const r of rows) console.log(`${r.name.padEnd(16)}${bytes(r.raw)}${bytes(r.gz)}${bytes(r.br)}`);
const wasm = rows.find((r) => r.name === 'cosmic.wasm');
if (wasm === undefined) {
  console.warn('build: dist/cosmic.wasm is missing: run `make wasm`');
  process.exitCode = 1;
} else if (wasm.gz > WASM_GZIP_BUDGET) {
  console.warn(`build: WARNING cosmic.wasm is ${bytes(wasm.gz).trim()} gzipped, over the ${bytes(WASM_GZIP_BUDGET).trim()} budget`);
}
