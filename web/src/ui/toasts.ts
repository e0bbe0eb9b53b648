/**
 * Toasts: short messages under the top bar. Errors stay longer than
 * successes; a message repeating the newest one bumps its counter instead
 * of stacking; at most {@link MAX_TOASTS} are shown, the oldest leaving
 * first. Toasts never catch clicks: the garden under them stays playable.
 *
 * @module
 */

import type { Toast } from '../game/index.js';
import { h } from './dom.js';

/** MAX_TOASTS is how many toasts are visible at once. */
export const MAX_TOASTS = 5;

const DURATION_MS: Record<Toast['kind'], number> = { success: 2500, info: 4500, error: 8000 };

interface Shown {
  node: HTMLElement;
  kind: Toast['kind'];
  message: string;
  count: number;
  timer: ReturnType<typeof setTimeout>;
}

/** Toasts shows {@link Toast}s in a container. */
export class Toasts {
  private last: Shown | undefined;

  constructor(private readonly root: HTMLElement) {}

  show(t: Toast): void {
    const last = this.last;
    if (last !== undefined && last.node.isConnected && last.kind === t.kind && last.message === t.message) {
      last.count += 1;
      let badge = last.node.querySelector('.count');
      if (badge === null) {
        badge = h('span', { class: 'count' });
        last.node.appendChild(badge);
      }
      badge.textContent = `×${last.count}`;
      clearTimeout(last.timer);
      last.timer = setTimeout(() => this.remove(last.node), DURATION_MS[t.kind]);
      return;
    }
    const node = h(
      'div',
      { class: `toast ${t.kind}`, 'data-testid': 'toast', role: t.kind === 'error' ? 'alert' : 'status' },
      h('span', { class: 'text' }, t.message),
    );
    this.root.appendChild(node);
    while (this.root.childElementCount > MAX_TOASTS) this.root.firstElementChild?.remove();
    this.last = {
      node,
      kind: t.kind,
      message: t.message,
      count: 1,
      timer: setTimeout(() => this.remove(node), DURATION_MS[t.kind]),
    };
  }

  private remove(node: HTMLElement): void {
    node.classList.add('leaving');
    setTimeout(() => node.remove(), 300);
  }
}
