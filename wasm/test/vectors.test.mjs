// Runs every vector file in shared/testdata/vectors through the built WASM
// module's `cosmic` functions, with the same comparisons as the Go tests:
// documents must be byte-identical to the canonical expected values.
//
//   GOOS=js GOARCH=wasm go build -trimpath -ldflags="-s -w" -o web/dist/cosmic.wasm ./wasm
//   cp "$(go env GOROOT)/lib/wasm/wasm_exec.js" web/dist/
//   node --test wasm/test/
//
// Environment: COSMIC_WASM (default web/dist/cosmic.wasm), COSMIC_WASM_EXEC
// (default wasm_exec.js beside it), COSMIC_VECTORS (default
// shared/testdata/vectors), all relative to the repository root.

import { test, before } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const fromRoot = (p) => path.resolve(root, p);
const wasmPath = fromRoot(process.env.COSMIC_WASM ?? "web/dist/cosmic.wasm");
const execPath = fromRoot(process.env.COSMIC_WASM_EXEC ?? path.join(path.dirname(wasmPath), "wasm_exec.js"));
const vectorsDir = fromRoot(process.env.COSMIC_VECTORS ?? "shared/testdata/vectors");

const load = (name) => JSON.parse(fs.readFileSync(path.join(vectorsDir, name), "utf8"));

let cosmic;

before(async () => {
  await import(pathToFileURL(execPath).href); // defines globalThis.Go
  const go = new globalThis.Go();
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), go.importObject);
  go.run(instance); // resolves only if main exits; main registers cosmic, then blocks
  for (let i = 0; i < 100 && !globalThis.cosmic; i++) await new Promise((r) => setTimeout(r, 10));
  cosmic = globalThis.cosmic;
  assert.ok(cosmic, "the module did not register globalThis.cosmic");
});

// call invokes a cosmic function and checks the answer's shape: always a
// string of canonical JSON, {ok:true,value} or {ok:false,code,message}.
function call(name, ...args) {
  const out = cosmic[name](...args);
  assert.equal(typeof out, "string", `${name} returned ${typeof out}`);
  const answer = JSON.parse(out);
  assert.equal(typeof answer.ok, "boolean");
  if (!answer.ok) {
    assert.equal(typeof answer.code, "string");
    assert.equal(typeof answer.message, "string");
  }
  return answer;
}

function ok(name, ...args) {
  const a = call(name, ...args);
  assert.ok(a.ok, `${name} failed: ${a.code}: ${a.message}`);
  return a.value;
}

// canonical returns the module's canonical text of a JS value (or JSON text).
const canonical = (v) => ok("canonical", typeof v === "string" ? v : JSON.stringify(v));

// fill mirrors shared/internal/vectors.Fill.
function fill(state, f) {
  if (!f || state === undefined) return state;
  const s = structuredClone(state);
  for (let i = 0; i < f.count; i++) {
    const id = `b-fill-${String(i).padStart(4, "0")}`;
    s.bodies[id] = { created_at: 0, id, type: f.type, position: { x: 0, y: 0, z: 0 } };
  }
  return s;
}

test("canonical.json", async (t) => {
  for (const v of load("canonical.json")) {
    await t.test(v.name, () => {
      const a = call("canonical", v.input);
      if (v.error) {
        assert.equal(a.ok, false);
        assert.equal(a.code, "bad_input");
        return;
      }
      assert.ok(a.ok, a.message);
      assert.equal(a.value, v.canonical);
      assert.equal(ok("hash", v.input), v.hash);
    });
  }
});

test("patch.json", async (t) => {
  const v = load("patch.json");
  for (const c of v.diff) {
    await t.test(`diff/${c.name}`, () => {
      const before = JSON.stringify(c.before);
      const want = canonical(c.patch);
      // The module has no diff (the browser never needs one): Diff runs
      // under GOOS=js in `go test`; here its patch must apply exactly.
      const res = ok("applyPatch", before, want);
      assert.equal(res.doc, canonical(c.after));
      assert.equal(res.hash, ok("hash", JSON.stringify(c.after)));
    });
  }
  for (const c of v.apply) {
    await t.test(`apply/${c.name}`, () => {
      assert.equal(ok("applyPatch", JSON.stringify(c.doc), JSON.stringify(c.patch)).doc, canonical(c.result));
    });
  }
  for (const c of v.apply_errors) {
    await t.test(`apply_errors/${c.name}`, () => {
      const a = call("applyPatch", c.doc, c.patch);
      assert.equal(a.ok, false, `applied: ${JSON.stringify(a.value)}`);
      assert.equal(a.code, "bad_input");
    });
  }
});

test("rules.json", async (t) => {
  for (const v of load("rules.json")) {
    await t.test(v.name, () => {
      const a = call("applyAction", JSON.stringify(fill(v.state, v.fill)), JSON.stringify(v.action), v.now);
      const contains = v.expect.message_contains ?? "";
      if (!v.expect.ok) {
        assert.equal(a.ok, false, "accepted");
        assert.equal(a.code, "rejected");
        assert.equal(a.reason, v.expect.reason);
        assert.ok(a.message.includes(contains), `${a.message} lacks ${contains}`);
        return;
      }
      assert.ok(a.ok, `${a.code}: ${a.message}`);
      assert.equal(a.value.state, canonical(fill(v.expect.state, v.fill)));
      assert.equal(a.value.hash, ok("hash", a.value.state));
      assert.equal(a.value.body_id, v.expect.body_id ?? "");
      assert.ok(a.value.message.includes(contains), `${a.value.message} lacks ${contains}`);
    });
  }
});

test("queue.json", async (t) => {
  for (const v of load("queue.json")) {
    await t.test(v.name, () => {
      let q = "";
      for (const [i, s] of v.steps.entries()) {
        if (s.op === "rebase") {
          const r = ok("queueRebase", q, s.version, JSON.stringify(s.state));
          assert.equal(r.rebased, s.rebased, `step ${i}`);
          q = r.queue;
        } else if (s.op === "push") {
          const a = call("queuePush", q, JSON.stringify(s.pending));
          if (s.error) {
            assert.equal(a.ok, false, `step ${i} accepted`);
            assert.equal(a.code, s.error, `step ${i}: ${a.message}`);
          } else {
            assert.ok(a.ok, `step ${i}: ${a.code}: ${a.message}`);
            q = a.value.queue;
          }
        } else if (s.op === "resolve") {
          const r = ok("queueResolve", q, s.id);
          assert.equal(r.resolved, s.resolved, `step ${i}`);
          q = r.queue;
        } else {
          assert.fail(`unknown op ${s.op}`);
        }
      }
      const p = ok("queuePredict", q);
      assert.equal(p.predicted, v.expect.predicted === null ? null : canonical(v.expect.predicted));
      assert.deepEqual(p.skipped.map((s) => s.id), v.expect.skipped_ids);
      const pending = q === "" ? [] : (JSON.parse(q).pending ?? []).map((x) => x.id);
      assert.deepEqual(pending, v.expect.pending_ids);
      assert.deepEqual(ok("queuePending", q), q === "" ? [] : (JSON.parse(q).pending ?? []));
      if (p.predicted !== null) {
        const now = JSON.parse(p.predicted).updated_at + 90_000;
        assert.deepEqual(ok("settleResources", p.predicted, now), JSON.parse(ok("settle", p.predicted, now).state).resources);
      }
    });
  }
});

test("decode.json", async (t) => {
  for (const v of load("decode.json")) {
    await t.test(v.name, () => {
      const a = call(v.side === "server" ? "decodeServer" : "decodeClient", v.frame);
      const e = v.expect;
      if (e.code) {
        assert.equal(a.ok, false, "decoded");
        assert.equal(a.code, e.code, a.message);
        assert.equal(a.id ?? "", e.id ?? "");
        assert.ok(a.message.includes(e.message_contains ?? ""), `${a.message} lacks ${e.message_contains}`);
        return;
      }
      assert.ok(a.ok, `${a.code}: ${a.message}`);
      assert.equal(a.value.envelope.type, e.type);
      assert.equal(a.value.envelope.id ?? "", e.id ?? "");
      assert.equal(canonical(a.value.message), canonical(e.message));
    });
  }
});

test("balance", () => {
  const b = ok("balance");
  const types = b.body_types.map((x) => x.type);
  for (const t of ["star", "planet", "moon", "asteroid", "comet", "nebula"]) assert.ok(types.includes(t), t);
  assert.ok(b.limits.base_max_bodies >= 500);
  assert.ok(b.limits.world_radius >= 1000);
  const asteroid = b.body_types.find((x) => x.type === "asteroid");
  assert.ok(b.limits.start_resources.stardust >= 100 * asteroid.cost.stardust);
});

test("answers never throw", () => {
  assert.equal(call("applyAction").code, "bad_input");
  assert.equal(call("queuePush", "", undefined).code, "bad_input");
  assert.equal(call("settle", "{}", "soon").code, "bad_input");
  assert.equal(call("decodeClient", 42).code, "bad_message");
});
