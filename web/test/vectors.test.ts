// The shared vectors (shared/testdata/vectors/*.json) through the client's
// typed core wrapper (src/core): the same expectations as the Go tests and
// wasm/test, but via Core's methods, so the wrapper's unwrapping and types
// are what is tested.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import {
  Core,
  CoreError,
  unwrap,
  type ActionInput,
  type CoreFailure,
  type CoreResult,
  type CosmicModule,
  type PendingAction,
} from '../src/core/index.js';
import { loadVectors, testCore } from './wasm.js';

let core: Core;
before(async () => {
  core = await testCore();
});

/** canon is the core's canonical text of a JS value. */
const canon = (v: unknown): string => unwrap(core.canonical(JSON.stringify(v)));

function failure<T>(r: CoreResult<T>): CoreFailure {
  assert.equal(r.ok, false, `expected a failure, got ${JSON.stringify(r)}`);
  if (r.ok) throw new Error('unreachable');
  return r;
}

interface Fill {
  count: number;
  type: string;
}

/** fill mirrors shared/internal/vectors.Fill. */
function fill(state: unknown, f: Fill | undefined): unknown {
  if (f === undefined || state === undefined || state === null) return state;
  const s = structuredClone(state) as { bodies: Record<string, unknown> };
  for (let i = 0; i < f.count; i++) {
    const id = `b-fill-${String(i).padStart(4, '0')}`;
    s.bodies[id] = { created_at: 0, id, type: f.type, position: { x: 0, y: 0, z: 0 } };
  }
  return s;
}

describe('vectors: canonical.json', () => {
  const cases = loadVectors<{ name: string; input: string; canonical?: string; hash?: string; error?: boolean }[]>(
    'canonical.json',
  );
  it('has cases', () => assert.ok(cases.length > 0));
  for (const v of cases) {
    it(v.name, () => {
      const r = core.canonical(v.input);
      if (v.error) {
        assert.equal(failure(r).code, 'bad_input');
        assert.equal(failure(core.hash(v.input)).code, 'bad_input');
        return;
      }
      assert.equal(unwrap(r), v.canonical);
      assert.equal(unwrap(core.hash(v.input)), v.hash);
      assert.equal(unwrap(core.canonical(unwrap(r))), v.canonical, 'idempotent');
    });
  }
});

describe('vectors: patch.json', () => {
  const v = loadVectors<{
    diff: { name: string; before: unknown; after: unknown; patch: unknown }[];
    apply: { name: string; doc: unknown; patch: unknown; result: unknown }[];
    apply_errors: { name: string; doc: string; patch: string }[];
  }>('patch.json');
  for (const c of v.diff) {
    it(`diff/${c.name}`, () => {
      const before = JSON.stringify(c.before);
      const want = canon(c.patch);
      const res = unwrap(core.applyPatch(before, want));
      assert.equal(res.doc, canon(c.after));
      assert.equal(res.hash, unwrap(core.hash(JSON.stringify(c.after))));
    });
  }
  for (const c of v.apply) {
    it(`apply/${c.name}`, () => {
      assert.equal(unwrap(core.applyPatch(JSON.stringify(c.doc), JSON.stringify(c.patch))).doc, canon(c.result));
    });
  }
  for (const c of v.apply_errors) {
    it(`apply_errors/${c.name}`, () => {
      assert.equal(failure(core.applyPatch(c.doc, c.patch)).code, 'bad_input');
    });
  }
});

describe('vectors: rules.json', () => {
  const cases = loadVectors<
    {
      name: string;
      state: unknown;
      fill?: Fill;
      action: ActionInput;
      now: number;
      expect: { ok: boolean; state?: unknown; body_id?: string; message_contains?: string; reason?: string };
    }[]
  >('rules.json');
  for (const v of cases) {
    it(v.name, () => {
      const r = core.applyAction(JSON.stringify(fill(v.state, v.fill)), v.action, v.now);
      const contains = v.expect.message_contains ?? '';
      if (!v.expect.ok) {
        const f = failure(r);
        assert.equal(f.code, 'rejected');
        assert.equal(f.reason, v.expect.reason);
        assert.ok(f.message.includes(contains), `${f.message} lacks ${contains}`);
        return;
      }
      const out = unwrap(r);
      assert.equal(out.state, canon(fill(v.expect.state, v.fill)));
      assert.equal(out.hash, unwrap(core.hash(out.state)));
      assert.equal(out.body_id, v.expect.body_id ?? '');
      assert.ok(out.message.includes(contains), `${out.message} lacks ${contains}`);
    });
  }
});

describe('vectors: queue.json', () => {
  type Step =
    | { op: 'rebase'; version: number; state: unknown; rebased: boolean }
    | { op: 'push'; pending: PendingAction; error?: string }
    | { op: 'resolve'; id: string; resolved: boolean };
  const cases = loadVectors<
    { name: string; steps: Step[]; expect: { predicted: unknown; pending_ids: string[]; skipped_ids: string[] } }[]
  >('queue.json');
  for (const v of cases) {
    it(v.name, () => {
      let q = '';
      v.steps.forEach((s, i) => {
        switch (s.op) {
          case 'rebase': {
            const r = unwrap(core.queueRebase(q, s.version, JSON.stringify(s.state)));
            assert.equal(r.rebased, s.rebased, `step ${i}`);
            q = r.queue;
            return;
          }
          case 'push': {
            const r = core.queuePush(q, s.pending);
            if (s.error !== undefined) {
              assert.equal(failure(r).code, s.error, `step ${i}`);
            } else {
              q = unwrap(r).queue;
            }
            return;
          }
          case 'resolve': {
            const r = unwrap(core.queueResolve(q, s.id));
            assert.equal(r.resolved, s.resolved, `step ${i}`);
            q = r.queue;
            return;
          }
        }
      });
      const p = unwrap(core.queuePredict(q));
      assert.equal(p.predicted, v.expect.predicted === null ? null : canon(v.expect.predicted));
      if (p.predicted !== null) assert.equal(p.hash, unwrap(core.hash(p.predicted)));
      assert.deepEqual(
        p.skipped.map((s) => s.id),
        v.expect.skipped_ids,
      );
      const pending = q === '' ? [] : ((JSON.parse(q) as { pending: { id: string }[] | null }).pending ?? []);
      assert.deepEqual(
        pending.map((x) => x.id),
        v.expect.pending_ids,
      );
      assert.deepEqual(unwrap(core.queuePending(q)), pending);
      if (p.predicted !== null) {
        const now = (JSON.parse(p.predicted) as { updated_at: number }).updated_at + 90_000;
        const settled = JSON.parse(unwrap(core.settle(p.predicted, now)).state) as { resources: unknown };
        assert.deepEqual(unwrap(core.settleResources(p.predicted, now)), settled.resources);
      }
    });
  }
});

describe('vectors: decode.json', () => {
  const cases = loadVectors<
    {
      name: string;
      side?: 'server' | 'client';
      frame: string;
      expect: { code?: string; id?: string; message_contains?: string; type?: string; message?: unknown };
    }[]
  >('decode.json');
  for (const v of cases) {
    it(v.name, () => {
      const r = v.side === 'server' ? core.decodeServer(v.frame) : core.decodeClient(v.frame);
      const e = v.expect;
      if (e.code !== undefined) {
        const f = failure(r);
        assert.equal(f.code, e.code, f.message);
        assert.equal(f.id ?? '', e.id ?? '');
        assert.ok(f.message.includes(e.message_contains ?? ''), `${f.message} lacks ${e.message_contains}`);
        return;
      }
      const d = unwrap(r);
      assert.equal(d.envelope.type, e.type);
      assert.equal(d.envelope.id ?? '', e.id ?? '');
      assert.equal(canon(d.message), canon(e.message));
    });
  }
});

describe('core wrapper', () => {
  it('reports its start-up time', () => {
    assert.ok(core.timing.totalMs > 0);
    assert.ok(core.timing.totalMs >= core.timing.instantiateMs);
    assert.ok(core.alive);
  });

  it('balance lists the contract body types and is cached', () => {
    const b = unwrap(core.balance());
    const types = b.body_types.map((x) => x.type);
    for (const t of ['star', 'planet', 'moon', 'asteroid', 'comet', 'nebula']) assert.ok(types.includes(t), t);
    assert.ok(b.limits.base_max_bodies >= 500);
    assert.ok(b.limits.world_radius >= 1000);
    assert.ok(b.topics.length > 0);
    assert.equal(unwrap(core.balance()), b);
  });

  it('unwrap throws a CoreError carrying the code', () => {
    assert.throws(
      () => unwrap(core.canonical('{')),
      (e: unknown) => e instanceof CoreError && e.code === 'bad_input',
    );
  });

  it('settle credits growth for display and validateState checks saves', () => {
    const state = { bodies: {}, owner: 'alice', research: {}, resources: { energy: 0, stardust: 0 }, updated_at: 0 };
    const s = unwrap(core.settle(JSON.stringify(state), 60_000));
    const res = (JSON.parse(s.state) as typeof state).resources;
    assert.ok(res.stardust > 0 && res.energy > 0, JSON.stringify(res));
    assert.deepEqual(unwrap(core.validateState(JSON.stringify(state), 'alice')), { valid: true });
    assert.equal(failure(core.validateState(JSON.stringify(state), 'bob')).code, 'rejected');
  });

  it('answers unavailable, never throws, once the module is gone', () => {
    const raw: Partial<CosmicModule> = {
      canonical: () => {
        throw new Error('Go program has already exited');
      },
      hash: () => 'not json',
    };
    const broken = new Core(raw as CosmicModule);
    assert.equal(failure(broken.canonical('{}')).code, 'unavailable');
    assert.equal(failure(broken.hash('{}')).code, 'unavailable');
    broken.markExited('test');
    assert.equal(failure(broken.hash('{}')).code, 'unavailable');
    assert.equal(broken.alive, false);
  });
});
