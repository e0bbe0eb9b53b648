/**
 * Prices for the UI, asked of the rules rather than computed here: one
 * `quote` call to the core gives what each body type and the next level of
 * each research topic costs in the garden (research discounts and level
 * scaling included), or the reason code of why the rules refuse it there
 * whatever the resources (research required, a full garden, the top
 * level). A quote is a hint; `queuePush` on the real garden decides.
 *
 * @module
 */

import type { Resources } from '../conn/protocol.js';
import type { Core, JsonText, Price } from '../core/index.js';

/** Quotes are the prices of every body type and the next level of every topic. */
export interface Quotes {
  bodies: ReadonlyMap<string, Price>;
  topics: ReadonlyMap<string, Price>;
}

/** quote prices every action for `state` (canonical text, e.g. `GameSnapshot.predictedText`); undefined when the core cannot answer. */
export function quote(core: Core, state: JsonText): Quotes | undefined {
  const r = core.quote(state);
  if (!r.ok) return undefined;
  return { bodies: new Map(Object.entries(r.value.bodies)), topics: new Map(Object.entries(r.value.topics)) };
}

/** affordable says whether `have` covers `cost`; a display hint, the rules decide. */
export function affordable(have: Resources | undefined, cost: Resources): boolean {
  return have !== undefined && have.stardust >= cost.stardust && have.energy >= cost.energy;
}
