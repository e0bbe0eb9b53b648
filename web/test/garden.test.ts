import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Body } from '../src/conn/protocol.js';
import { bodyKey, planRender, type DrawnBody, type RenderPlan } from '../src/ui/garden.js';

function body(id: string, x: number, y: number, type = 'asteroid'): Body {
  return { id, type, position: { x, y, z: 0 }, created_at: 1 };
}

function garden(n: number): Record<string, Body> {
  const out: Record<string, Body> = {};
  for (let i = 0; i < n; i++) out[`b-${i}`] = body(`b-${i}`, i, -i);
  return out;
}

/** apply is what GardenView.render does with a plan, on a map instead of the DOM. */
function apply(drawn: Map<string, DrawnBody>, plan: RenderPlan): void {
  for (const id of plan.remove) drawn.delete(id);
  for (const d of plan.draw) drawn.set(d.id, { key: d.key, pending: false, skipped: false });
  for (const m of plan.marks) drawn.set(m.id, { ...drawn.get(m.id)!, pending: m.pending, skipped: m.skipped });
}

const none: ReadonlySet<string> = new Set();

function sorted(plan: RenderPlan): { remove: string[]; draw: string[]; marks: string[] } {
  return {
    remove: [...plan.remove].sort(),
    draw: plan.draw.map((d) => d.id).sort(),
    marks: plan.marks.map((m) => `${m.id}${m.pending ? ' pending' : ''}${m.skipped ? ' skipped' : ''}`).sort(),
  };
}

describe('planRender: only what changed is drawn', () => {
  const cases: {
    name: string;
    before: Record<string, Body>;
    beforeMarks?: { pending?: string[]; skipped?: string[] };
    after: Record<string, Body>;
    pending?: string[];
    skipped?: string[];
    want: { remove: string[]; draw: string[]; marks: string[] };
  }[] = [
    { name: 'a first drawing draws every body', before: {}, after: garden(3), want: { remove: [], draw: ['b-0', 'b-1', 'b-2'], marks: [] } },
    { name: 'the same garden draws nothing', before: garden(1000), after: garden(1000), want: { remove: [], draw: [], marks: [] } },
    {
      name: 'one new body among a thousand draws that one',
      before: garden(1000),
      after: { ...garden(1000), 'b-new': body('b-new', 5, 5) },
      want: { remove: [], draw: ['b-new'], marks: [] },
    },
    {
      name: 'a removed body is removed, the rest untouched',
      before: garden(3),
      after: { 'b-0': body('b-0', 0, 0), 'b-2': body('b-2', 2, -2) },
      want: { remove: ['b-1'], draw: [], marks: [] },
    },
    {
      name: 'a moved body is redrawn',
      before: garden(3),
      after: { ...garden(3), 'b-1': body('b-1', 40, 41) },
      want: { remove: [], draw: ['b-1'], marks: [] },
    },
    {
      name: 'a body whose type changed is redrawn',
      before: garden(2),
      after: { ...garden(2), 'b-1': body('b-1', 1, -1, 'moon') },
      want: { remove: [], draw: ['b-1'], marks: [] },
    },
    {
      name: 'a new pending body is drawn and marked',
      before: garden(2),
      after: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      pending: ['b-p'],
      want: { remove: [], draw: ['b-p'], marks: ['b-p pending'] },
    },
    {
      name: 'a confirmed body loses its mark without a redraw',
      before: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      beforeMarks: { pending: ['b-p'] },
      after: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      want: { remove: [], draw: [], marks: ['b-p'] },
    },
    {
      name: 'a pending body the rules now refuse is marked skipped too',
      before: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      beforeMarks: { pending: ['b-p'] },
      after: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      pending: ['b-p'],
      skipped: ['b-p'],
      want: { remove: [], draw: [], marks: ['b-p pending skipped'] },
    },
    {
      name: 'unchanged marks are not repeated',
      before: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      beforeMarks: { pending: ['b-p'], skipped: ['b-p'] },
      after: { ...garden(2), 'b-p': body('b-p', 9, 9) },
      pending: ['b-p'],
      skipped: ['b-p'],
      want: { remove: [], draw: [], marks: [] },
    },
    {
      name: 'a marked body that moves is redrawn and marked again',
      before: { 'b-p': body('b-p', 9, 9) },
      beforeMarks: { pending: ['b-p'] },
      after: { 'b-p': body('b-p', 10, 9) },
      pending: ['b-p'],
      want: { remove: [], draw: ['b-p'], marks: ['b-p pending'] },
    },
    { name: 'an empty garden removes everything', before: garden(2), after: {}, want: { remove: ['b-0', 'b-1'], draw: [], marks: [] } },
    {
      name: 'ids that name Object.prototype members are bodies like any other',
      before: {},
      after: { toString: body('toString', 1, 1), constructor: body('constructor', 2, 2) },
      want: { remove: [], draw: ['constructor', 'toString'], marks: [] },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const drawn = new Map<string, DrawnBody>();
      apply(drawn, planRender(drawn, c.before, new Set(c.beforeMarks?.pending), new Set(c.beforeMarks?.skipped)));
      const plan = planRender(drawn, c.after, new Set(c.pending), new Set(c.skipped));
      assert.deepEqual(sorted(plan), c.want);
      // Applied, the plan leaves exactly the new garden with its marks, and
      // planning again finds nothing to do.
      apply(drawn, plan);
      assert.deepEqual([...drawn.keys()].sort(), Object.keys(c.after).sort());
      for (const [id, d] of drawn) {
        assert.equal(d.key, bodyKey(c.after[id]!), id);
        assert.equal(d.pending, (c.pending ?? []).includes(id), `${id} pending`);
        assert.equal(d.skipped, (c.skipped ?? []).includes(id), `${id} skipped`);
      }
      assert.deepEqual(sorted(planRender(drawn, c.after, new Set(c.pending), new Set(c.skipped))), { remove: [], draw: [], marks: [] });
    });
  }

  it('a thousand-body garden parsed again (new objects, same bodies) plans nothing', () => {
    const drawn = new Map<string, DrawnBody>();
    const g = garden(1000);
    apply(drawn, planRender(drawn, g, none, none));
    const again = planRender(drawn, structuredClone(g), none, none);
    assert.deepEqual(sorted(again), { remove: [], draw: [], marks: [] });
  });
});

describe('bodyKey', () => {
  it('changes with the type and the position, not the creation time', () => {
    const a = body('b-1', 1, 2);
    const later: Body = { ...a, created_at: 99 };
    assert.equal(bodyKey(a), bodyKey(later));
    assert.notEqual(bodyKey(a), bodyKey({ ...a, type: 'moon' }));
    assert.notEqual(bodyKey(a), bodyKey({ ...a, position: { x: 1, y: 3, z: 0 } }));
    assert.notEqual(bodyKey(a), bodyKey({ ...a, position: { x: 2, y: 1, z: 0 } }));
  });
});
