import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { RejectReason } from '../src/conn/protocol.js';
import { unwrap, type Balance, type Core } from '../src/core/index.js';
import { affordable, quote } from '../src/game/index.js';
import { garden } from './game.js';
import { testCore } from './wasm.js';

let core: Core;
let balance: Balance;
before(async () => {
  core = await testCore();
  balance = unwrap(core.balance());
});

describe('quote: prices come from the rules', () => {
  it('a new garden pays the base prices; research-gated bodies say what they need, by code', () => {
    const q = quote(core, JSON.stringify(garden()));
    assert.ok(q);
    for (const b of balance.body_types) {
      const got = q.bodies.get(b.type);
      if (b.requires !== undefined) {
        assert.ok(got && got.cost === undefined, JSON.stringify(got));
        assert.equal(got.reason, RejectReason.RequiresResearch);
        assert.equal(got.requires, b.requires);
      } else {
        assert.deepEqual(got, { cost: b.cost }, b.type);
      }
    }
    for (const t of balance.topics) assert.deepEqual(q.topics.get(t.topic), { cost: t.cost }, t.topic);
  });

  it('follows research: discounts, level scaling, and the top level', () => {
    const g = garden();
    g.research = { efficient_construction: 1, stellar_fusion: 1, gravity_wells: balance.limits.max_research_level };
    const q = quote(core, JSON.stringify(g));
    const planet = balance.body_types.find((b) => b.type === 'planet');
    const got = q?.bodies.get('planet');
    assert.ok(planet && got?.cost);
    assert.ok(got.cost.stardust < planet.cost.stardust, 'discounted');
    const fusion = balance.topics.find((t) => t.topic === 'stellar_fusion');
    const next = q?.topics.get('stellar_fusion');
    assert.ok(fusion && next?.cost);
    assert.equal(next.cost.energy, fusion.cost.energy * 4, 'level 2 costs 2² × base');
    const top = q?.topics.get('gravity_wells');
    assert.equal(top?.reason, RejectReason.MaxLevel, JSON.stringify(top));
  });

  it('is undefined when the core cannot read the state', () => {
    assert.equal(quote(core, 'not json'), undefined);
  });

  it('rates and body ids come from the core too', () => {
    const g = garden();
    const r = unwrap(core.rates(JSON.stringify(g)));
    assert.deepEqual(r, { energy: balance.limits.base_energy_rate, stardust: balance.limits.base_stardust_rate });
    assert.equal(unwrap(core.bodyId('dev.1-7')), `${balance.limits.body_id_prefix}dev.1-7`);
  });

  it('affordable compares amounts', () => {
    assert.equal(affordable({ energy: 5, stardust: 10 }, { energy: 5, stardust: 10 }), true);
    assert.equal(affordable({ energy: 4, stardust: 10 }, { energy: 5, stardust: 10 }), false);
    assert.equal(affordable(undefined, { energy: 0, stardust: 0 }), false);
  });
});
