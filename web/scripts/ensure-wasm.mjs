// Makes sure dist/cosmic.wasm and dist/wasm_exec.js exist and are newer than
// the Go sources they come from (wasm/, shared/, go.mod), rebuilding them
// with the same command as the Makefile's `wasm` target when not. `npm test`
// and `npm run build` call it so that neither runs against a stale module;
// `make wasm` remains the canonical build.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const repo = join(web, '..');
const dist = join(web, 'dist');
const wasm = join(dist, 'cosmic.wasm');
const exec = join(dist, 'wasm_exec.js');

function newestGo(dir) {
  let newest = 0;
  if (!existsSync(dir)) return newest;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'testdata' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestGo(p));
    else if (e.name.endsWith('.go') && !e.name.endsWith('_test.go')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** ensureWasm rebuilds the module when missing or stale; returns true when it did. */
export function ensureWasm({ quiet = false } = {}) {
  if (!existsSync(join(repo, 'wasm'))) {
    throw new Error('ensure-wasm: the wasm/ adapter does not exist yet');
  }
  const sources = Math.max(newestGo(join(repo, 'wasm')), newestGo(join(repo, 'shared')), statSync(join(repo, 'go.mod')).mtimeMs);
  const fresh = existsSync(wasm) && existsSync(exec) && statSync(wasm).mtimeMs >= sources;
  if (fresh) return false;
  if (!quiet) console.log('ensure-wasm: building dist/cosmic.wasm (GOOS=js GOARCH=wasm)');
  mkdirSync(dist, { recursive: true });
  const go = process.env.GO || 'go';
  execFileSync(go, ['build', '-trimpath', '-ldflags=-s -w', '-o', wasm, './wasm'], {
    cwd: repo,
    env: { ...process.env, GOOS: 'js', GOARCH: 'wasm' },
    stdio: 'inherit',
  });
  const goroot = execFileSync(go, ['env', 'GOROOT'], { cwd: repo, encoding: 'utf8' }).trim();
  copyFileSync(join(goroot, 'lib', 'wasm', 'wasm_exec.js'), exec);
  return true;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) ensureWasm();
