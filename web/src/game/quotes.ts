/**
 * Prices for the UI, asked of the rules rather than computed here: each
 * body type and research topic is tried on a copy of the garden whose
 * resources are set to the maximum, at the garden's own time (so no growth
 * is credited). What the action would spend is its price, research
 * discounts and level scaling included; a refusal says why it is not
 * available at all (research required, top level reached).
 *
 * The copy keeps the owner and the research but not the bodies: decoding a
 * large garden costs the core milliseconds per call, and prices depend on
 * research. A quote is a hint; `queuePush` on the real garden decides (a
 * full garden, for instance, is refused there).
 *
 * @module
 */

import type { GameState, Resources } from '../conn/protocol.js';
import type { Balance, Core } from '../core/index.js';

/** Quote is what an action costs now, or why it cannot be taken at all. */
export type Quote = { ok: true; cost: Resources } | { ok: false; reason: string };

/** Quotes are the prices of every body type and the next level of every topic. */
export interface Quotes {
  bodies: ReadonlyMap<string, Quote>;
  topics: ReadonlyMap<string, Quote>;
}

/** quote prices every action of `balance` for `state`. */
export function quote(core: Core, balance: Balance, state: GameState): Quotes {
  const max = balance.limits.max_resource;
  const probe: GameState = {
    bodies: {},
    owner: state.owner,
    research: state.research,
    resources: { energy: max, stardust: max },
    updated_at: state.updated_at,
  };
  const text = JSON.stringify(probe);
  const at = state.updated_at;
  const price = (r: ReturnType<Core['applyAction']>): Quote => {
    if (!r.ok) return { ok: false, reason: r.message };
    const after = (JSON.parse(r.value.state) as GameState).resources;
    return { ok: true, cost: { energy: max - after.energy, stardust: max - after.stardust } };
  };
  const bodies = new Map<string, Quote>();
  for (const b of balance.body_types) {
    const data = { body_type: b.type, position: { x: 0, y: 0, z: 0 } };
    bodies.set(b.type, price(core.applyAction(text, { type: 'CreateCelestialBody', id: 'quote', data }, at)));
  }
  const topics = new Map<string, Quote>();
  for (const t of balance.topics) {
    topics.set(t.topic, price(core.applyAction(text, { type: 'Research', id: 'quote', data: { topic: t.topic } }, at)));
  }
  return { bodies, topics };
}

/** affordable says whether `have` covers `cost`; a display hint, the rules decide. */
export function affordable(have: Resources | undefined, cost: Resources): boolean {
  return have !== undefined && have.stardust >= cost.stardust && have.energy >= cost.energy;
}
