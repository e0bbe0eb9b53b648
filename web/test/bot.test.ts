// Runs the Node bot recipe of docs/client-guide.md ("A bot in Node")
// exactly as documented, against a real server this test starts: the
// server built from ../server with `go build`, in development mode on a
// free loopback port with a throw-away database; the bot bundled from
// examples/bot.ts with esbuild and run with --experimental-websocket.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { build } from 'esbuild';

// Tests are bundled into web/dist-test/: ../ is web/, ../../ the repository.
const web = fileURLToPath(new URL('../', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

/** startServer starts cosmic-server and resolves with its base URL, read from its "listening" log line. */
function startServer(bin: string, dir: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(bin, [], {
    env: { ...process.env, DEV_MODE: '1', ADDR: '127.0.0.1:0', DB_PATH: join(dir, 'cosmic.db'), WEB_DIR: dir, LOG_FILE: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 20_000);
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (chunk: string) => {
      log += chunk;
      const m = /msg=listening .*url=(\S+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1]! });
      }
    });
    proc.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
}

/** runBot runs the bundled bot as the recipe says and returns its exit code and output. */
function runBot(bot: string, url: string, user: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', bot, url, user, join(web, 'dist')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

describe('the Node bot recipe (docs/client-guide.md)', { timeout: 180_000 }, () => {
  let dir = '';
  let server: { proc: ChildProcess; url: string } | undefined;
  let bot = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cosmic-bot-'));
    const bin = join(dir, 'cosmic-server');
    const go = spawnSync(process.env.GO ?? 'go', ['build', '-o', bin, './server'], { cwd: root, encoding: 'utf8' });
    assert.equal(go.status, 0, `go build ./server: ${go.stderr}`);
    bot = join(dir, 'bot.mjs');
    // The recipe's command: esbuild examples/bot.ts --bundle --platform=node --format=esm.
    await build({
      entryPoints: [join(web, 'examples', 'bot.ts')],
      outfile: bot,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'warning',
    });
    server = await startServer(bin, dir);
  });

  after(async () => {
    if (server !== undefined) {
      const exited = new Promise((r) => server!.proc.once('exit', r));
      server.proc.kill('SIGTERM');
      assert.equal(await exited, 0, 'the server exits 0 on SIGTERM');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a body and sees it in a verified state, twice', async () => {
    for (const n of [1, 2]) {
      const { code, out } = await runBot(bot, server!.url, 'qa-bot');
      assert.equal(code, 0, out);
      const m = /created (b-\S+) \(version (\d+)\); garden at version (\d+): (\d+) bodies/.exec(out);
      assert.ok(m, out);
      assert.ok(Number(m[3]) >= Number(m[2]), out);
      assert.equal(Number(m[4]), n, out); // one garden per user: the second run finds the first body
    }
  });
});
