/**
 * The connection badge: the state name (`data-state` and text), what it
 * means for the player, the reconnect countdown, and the retry and
 * reconnect buttons.
 *
 * @module
 */

import type { ConnState } from '../conn/state.js';

/** describe returns the detail shown after the state name. */
export function describe(state: ConnState, now: number): string {
  switch (state.kind) {
    case 'connecting':
      if (state.step === 'token') return state.authFailures > 0 ? 'renewing sign-in' : 'signing in';
      return state.attempt > 0 ? `attempt ${state.attempt + 1}` : '';
    case 'open':
      return '';
    case 'reconnecting': {
      const s = Math.max(0, Math.ceil((state.retryAt - now) / 1000));
      return `in ${s}s · attempt ${state.attempt}`;
    }
    case 'offline':
      return 'actions are queued';
    case 'failed':
      switch (state.reason) {
        case 'retries_exhausted':
          return 'server unreachable';
        case 'auth':
          return 'sign-in refused';
        case 'protocol':
          return 'protocol error';
        case 'message_too_big':
          return 'message too big';
      }
      return '';
    case 'closed':
      switch (state.reason) {
        case 'taken_over':
          return 'another tab took over';
        case 'normal':
          return 'closed by the server';
        case 'app':
          return '';
      }
  }
}

/** ConnectionBadge keeps the badge and its buttons in step with the connection. */
export class ConnectionBadge {
  private readonly label: HTMLElement;
  private readonly detail: HTMLElement;

  constructor(
    private readonly root: HTMLElement,
    private readonly retry: HTMLButtonElement,
    private readonly reconnect: HTMLButtonElement,
  ) {
    this.label = root.querySelector('.badge-label') as HTMLElement;
    this.detail = root.querySelector('.badge-detail') as HTMLElement;
  }

  update(state: ConnState, now = Date.now()): void {
    this.root.dataset['state'] = state.kind;
    this.label.textContent = state.kind;
    const d = describe(state, now);
    this.detail.textContent = d === '' ? '' : ` · ${d}`;
    this.root.title = state.kind === 'failed' && state.code !== undefined ? `last close code ${state.code}` : '';
    this.retry.hidden = state.kind !== 'failed';
    this.reconnect.hidden = !(state.kind === 'closed' && state.reason !== 'app');
  }
}
