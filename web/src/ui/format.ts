/**
 * Number and name formatting for the page.
 *
 * @module
 */

import type { Resources } from '../conn/protocol.js';
import { h } from './dom.js';

const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const short = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const rate = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1, minimumFractionDigits: 1 });

/** amount formats a resource amount: 1,234, or 1.2M past a million. */
export function amount(n: number): string {
  return Math.abs(n) >= 1_000_000 ? short.format(n) : whole.format(n);
}

/** perSecond formats a growth rate. */
export function perSecond(n: number): string {
  return `+${rate.format(n)}/s`;
}

/** humanize turns `stellar_fusion` into `stellar fusion`. */
export function humanize(name: string): string {
  return name.replace(/_/g, ' ');
}

/** costNodes renders a price as "10 ✦ 5 ⚡" (zero parts omitted; "free" when both are). */
export function costNodes(cost: Resources): Node[] {
  const out: Node[] = [];
  if (cost.stardust > 0) out.push(h('span', { class: 'sd' }, `${amount(cost.stardust)} ✦`));
  if (cost.energy > 0) {
    if (out.length > 0) out.push(document.createTextNode(' '));
    out.push(h('span', { class: 'en' }, `${amount(cost.energy)} ⚡`));
  }
  if (out.length === 0) out.push(document.createTextNode('free'));
  return out;
}
