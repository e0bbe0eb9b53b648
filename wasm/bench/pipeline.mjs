// Times the WASM core as the browser uses it: each cosmic function alone,
// and the whole per-StateUpdate pipeline of web/src/game/controller.ts for
// a one-body patch (what another device's CreateCelestialBody makes), for
// gardens of 50, 500 and 5 000 bodies.
//
//   make wasm && node wasm/bench/pipeline.mjs [--json] [--sizes 50,500,5000]
//       [--breakdown] [--pipeline-only]
//
// --breakdown prints the time of each step of the update; --pipeline-only
// skips the per-call figures (for a CPU profile: node --cpu-prof, with a
// module built without -s -w for function names).
//
// Environment: COSMIC_WASM (default web/dist/cosmic.wasm) and
// COSMIC_WASM_EXEC (default wasm_exec.js beside it), relative to the
// repository root; BENCH_MS, the time spent on each measurement (default
// 1500).
//
// The pipeline, per update (controller.onStateUpdate, adopt, changed,
// predict, and the page's render: main.ts showRates and tickResources):
//   JSON.stringify(patch) → applyPatch(confirmed, patch)
//   → queueRebase(queue, version, doc) → persist (JSON.stringify)
//   → pending: queuePending(queue), or JSON.parse(queue) with a module
//     that lacks it (the controller before queuePending)
//   → queuePredict(queue) → JSON.parse(predicted)
//   → 3 × projected: settleResources(predicted, now), or settle and
//     JSON.parse of its state with a module that lacks it.
// The page's own render work (drawing, its JSON.parse of the confirmed
// bodies) is not counted, nor queueResolve, which runs only when an action
// of this device was awaiting the state. The queue holds one pending Research action (a
// player's action in flight), so queuePredict applies the rules once;
// "idle" runs it with none.
//
// Per-call figures repeat the call on one input, as the page does between
// updates (preview, projected); "cold" ones use a state the module has not
// seen, as after a full StateUpdate or a reload.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { performance } from "node:perf_hooks";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const fromRoot = (p) => path.resolve(root, p);
const wasmPath = fromRoot(process.env.COSMIC_WASM ?? "web/dist/cosmic.wasm");
const execPath = fromRoot(process.env.COSMIC_WASM_EXEC ?? path.join(path.dirname(wasmPath), "wasm_exec.js"));
const budgetMs = Number(process.env.BENCH_MS ?? 1500);
const argv = process.argv.slice(2);
const asJSON = argv.includes("--json");
const sizesArg = argv.indexOf("--sizes");
const sizes = sizesArg >= 0 ? argv[sizesArg + 1].split(",").map(Number) : [50, 500, 5000];
const pipelineOnly = argv.includes("--pipeline-only"); // for profiles

await import(pathToFileURL(execPath).href); // defines globalThis.Go
const go = new globalThis.Go();
const { instance } = await WebAssembly.instantiate(fs.readFileSync(wasmPath), go.importObject);
go.run(instance); // never resolves: main blocks
for (let i = 0; i < 200 && !globalThis.cosmic; i++) await new Promise((r) => setTimeout(r, 5));
const cosmic = globalThis.cosmic;
if (!cosmic) throw new Error("the module did not register globalThis.cosmic");

// steps accumulates the time of each step of the pipeline, for
// --breakdown.
const steps = new Map();
const step = (name, t0) => steps.set(name, (steps.get(name) ?? 0) + performance.now() - t0);

function ok(name, ...args) {
  const t0 = performance.now();
  const a = JSON.parse(cosmic[name](...args));
  if (!a.ok) throw new Error(`${name}: ${a.code}: ${a.message}`);
  step(name, t0);
  return a.value;
}

// A deterministic generator (mulberry32), so every run sees the same gardens.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TYPES = ["asteroid", "comet", "moon", "nebula", "planet", "star"];
const T0 = 1_750_000_000_000;

function body(r, id, createdAt) {
  const c = () => Math.round((r() * 2 - 1) * 5000 * 1000) / 1000;
  return { created_at: createdAt, id, position: { x: c(), y: c(), z: c() }, type: TYPES[Math.floor(r() * TYPES.length)] };
}

// garden returns the canonical text of a garden of n bodies.
function garden(n, seed) {
  const r = rng(seed);
  const bodies = {};
  for (let i = 0; i < n; i++) {
    const id = `b-dev${seed}.${i}`;
    bodies[id] = body(r, id, T0 - 86_400_000 + i * 1000);
  }
  const s = {
    bodies,
    owner: "alice",
    research: { asteroid_mining: 2, gravity_wells: 5, stellar_fusion: 1 },
    resources: { energy: 500_000, stardust: 900_000 },
    updated_at: T0,
  };
  return ok("canonical", JSON.stringify(s));
}

// updates returns k patches (as the parsed objects a StateUpdate carries),
// each adding one body and settling resources, as DiffStates emits them.
function updates(n, k) {
  const r = rng(n + 7);
  const out = [];
  for (let i = 1; i <= k; i++) {
    const id = `b-other.${i}`;
    out.push([
      { op: "add", path: `/bodies/${id}`, value: body(r, id, T0 + i * 100) },
      { op: "replace", path: "/resources/stardust", value: 900_000 - i * 10 },
      { op: "replace", path: "/updated_at", value: T0 + i * 100 },
    ]);
  }
  return out;
}

// measure runs fn(i) for budgetMs (at least 5 times) and returns ms per run.
function measure(fn) {
  fn(0); // warm up (JIT, first allocations)
  let runs = 0;
  const start = performance.now();
  let now = start;
  while (runs < 5 || now - start < budgetMs) {
    fn(++runs);
    now = performance.now();
  }
  return (now - start) / runs;
}

const pendingResearch = { id: "c1-1", type: "Research", data: { topic: "efficient_construction" }, queued_at: T0 + 1 };

function bench(n) {
  const base = garden(n, n);
  const others = Array.from({ length: 16 }, (_, i) => garden(n, n * 100 + i + 1)); // for cold calls
  const patchTexts = updates(n, 1).map((p) => JSON.stringify(p));
  const action = JSON.stringify({ type: "Research", id: "c1-2", data: { topic: "efficient_construction" } });
  const q0 = ok("queueRebase", "", 1, base).queue;
  const q1 = ok("queuePush", q0, JSON.stringify(pendingResearch)).queue;
  const coldQueues = others.map((g) => ok("queuePush", ok("queueRebase", "", 1, g).queue, JSON.stringify(pendingResearch)).queue);
  const stateBytes = base.length;

  let cold = 0;
  const nextCold = () => others[cold++ % others.length];
  const calls = pipelineOnly ? {} : {
    applyPatch: measure(() => cosmic.applyPatch(base, patchTexts[0])),
    applyAction: measure(() => cosmic.applyAction(base, action, T0 + 5000)),
    settle: measure(() => cosmic.settle(base, T0 + 5000)),
    queueRebase: measure((i) => cosmic.queueRebase(q1, 2 + i, base)),
    queuePredict: measure(() => cosmic.queuePredict(q1)),
    queuePush: measure(() => cosmic.queuePush(q0, JSON.stringify(pendingResearch))),
    hash: measure(() => cosmic.hash(base)),
    ...(cosmic.settleResources ? { settleResources: measure(() => cosmic.settleResources(base, T0 + 5000)) } : {}),
    "applyPatch cold": measure(() => cosmic.applyPatch(nextCold(), patchTexts[0])),
    "applyAction cold": measure(() => cosmic.applyAction(nextCold(), action, T0 + 5000)),
    "queuePredict cold": measure((i) => cosmic.queuePredict(coldQueues[i % coldQueues.length])),
  };

  // The pipeline: a stream of updates, each on the result of the last.
  const pipeline = (withPending) => {
    const stream = updates(n, 400);
    let confirmed = base;
    let queue = withPending ? q1 : q0;
    let version = 1;
    let sink = 0;
    let updatesRun = 0;
    steps.clear();
    const perUpdate = measure((i) => {
      updatesRun++;
      const patch = stream[(i - 1 + stream.length) % stream.length];
      if (i % stream.length === 0) {
        // Start the stream over from the base garden (rarely: a resync).
        confirmed = base;
        queue = withPending ? q1 : q0;
      }
      const r = ok("applyPatch", confirmed, JSON.stringify(patch));
      version++;
      const rb = ok("queueRebase", queue, version, r.doc);
      confirmed = r.doc;
      queue = rb.queue;
      let t0 = performance.now();
      const persisted = JSON.stringify({ v: 1, user: "alice", confirmed: { state: confirmed, version, hash: r.hash }, queue, awaiting: {} });
      step("persist (JS)", t0);
      let pending;
      if (cosmic.queuePending) {
        pending = ok("queuePending", queue);
      } else {
        t0 = performance.now();
        pending = JSON.parse(queue).pending ?? [];
        step("parse queue (JS)", t0);
      }
      const p = ok("queuePredict", queue);
      t0 = performance.now();
      const predicted = JSON.parse(p.predicted);
      step("parse predicted (JS)", t0);
      let stardust = 0;
      for (const dt of [0, 60_000, 0]) {
        const now = T0 + i * 100 + 1000 + dt;
        stardust += cosmic.settleResources
          ? ok("settleResources", p.predicted, now).stardust
          : JSON.parse(ok("settle", p.predicted, now).state).resources.stardust;
      }
      sink += persisted.length + pending.length + Object.keys(predicted.bodies).length + stardust;
    });
    if (sink === 0) throw new Error("nothing computed");
    if (argv.includes("--breakdown")) {
      console.log(`${n} bodies, ${withPending ? "1 pending" : "idle"}: per update ${perUpdate.toFixed(3)} ms`);
      for (const [k, v] of steps) console.log(`  ${k.padEnd(24)} ${(v / updatesRun).toFixed(3)} ms`);
    }
    steps.clear();
    return perUpdate;
  };
  return { bodies: n, stateBytes, calls, pipeline: pipeline(true), pipelineIdle: pipeline(false) };
}

const results = sizes.map(bench);
if (asJSON) {
  console.log(JSON.stringify({ wasm: path.relative(root, wasmPath), results }, null, 2));
} else {
  const names = Object.keys(results[0].calls);
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${path.relative(root, wasmPath)} (${fs.statSync(wasmPath).size} bytes); ms per call, ${budgetMs} ms per figure`);
  console.log(pad("", 18) + results.map((r) => pad(`${r.bodies} bodies`, 14)).join(""));
  console.log(pad("state bytes", 18) + results.map((r) => pad(r.stateBytes, 14)).join(""));
  for (const k of names) console.log(pad(k, 18) + results.map((r) => pad(r.calls[k].toFixed(3), 14)).join(""));
  console.log(pad("update (1 pending)", 18) + results.map((r) => pad(r.pipeline.toFixed(3), 14)).join(""));
  console.log(pad("update (idle)", 18) + results.map((r) => pad(r.pipelineIdle.toFixed(3), 14)).join(""));
}
process.exit(0);
