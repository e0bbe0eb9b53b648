/**
 * The sidebar: the body-type picker and the research panel. Prices come
 * from {@link quote} (the rules), affordability from the projected
 * resources; both are hints, the rules decide when the player acts.
 *
 * @module
 */

import { RejectReason, type Resources } from '../conn/protocol.js';
import type { Balance, BodyTypeInfo, TopicInfo } from '../core/index.js';
import { affordable, type Quotes } from '../game/index.js';
import { h } from './dom.js';
import { costNodes, humanize } from './format.js';
import { iconSvg } from './garden.js';

/** Picker lists the body types; one is selected at a time. */
export class Picker {
  private readonly buttons = new Map<string, HTMLButtonElement>();
  private readonly costs = new Map<string, HTMLElement>();
  private current: string | undefined;

  /** onSelect is called when the player picks a type. */
  onSelect: (type: string) => void = () => {};

  constructor(private readonly root: HTMLElement) {}

  get selected(): string | undefined {
    return this.current;
  }

  /** build creates one button per body type, cheapest first. */
  build(balance: Balance): void {
    const types = [...balance.body_types].sort(
      (a, b) => a.cost.stardust + a.cost.energy - (b.cost.stardust + b.cost.energy) || a.type.localeCompare(b.type),
    );
    this.root.replaceChildren();
    types.forEach((t: BodyTypeInfo, i) => {
      const cost = h('span', { class: 'pick-cost' }, ...costNodes(t.cost));
      const growth = [t.stardust_rate > 0 ? `+${t.stardust_rate / 1000} ✦/s` : '', t.energy_rate > 0 ? `+${t.energy_rate / 1000} ⚡/s` : '']
        .filter(Boolean)
        .join(' ');
      const b = h(
        'button',
        {
          type: 'button',
          class: 'pick',
          role: 'radio',
          'aria-checked': 'false',
          'data-testid': `body-type-${t.type}`,
          title: `${humanize(t.type)}${growth ? ` · grows ${growth}` : ''}${i < 9 ? ` · key ${i + 1}` : ''}`,
        },
        iconSvg(t.type),
        h('span', { class: 'pick-name' }, humanize(t.type)),
        cost,
      );
      b.addEventListener('click', () => this.select(t.type));
      this.buttons.set(t.type, b);
      this.costs.set(t.type, cost);
      this.root.appendChild(b);
    });
    document.addEventListener('keydown', (e) => {
      if (e.target instanceof HTMLInputElement || e.ctrlKey || e.metaKey || e.altKey) return;
      const n = Number.parseInt(e.key, 10);
      const t = types[n - 1];
      if (t !== undefined) this.select(t.type);
    });
    if (types[0] !== undefined) this.select(types[0].type);
  }

  select(type: string): void {
    this.current = type;
    for (const [t, b] of this.buttons) b.setAttribute('aria-checked', String(t === type));
    this.onSelect(type);
  }

  /** update shows current prices and marks what is locked or unaffordable. */
  update(quotes: Quotes | undefined, have: Resources | undefined): void {
    for (const [type, b] of this.buttons) {
      const q = quotes?.bodies.get(type);
      const cost = this.costs.get(type);
      if (q === undefined || cost === undefined) continue;
      if (q.cost !== undefined) {
        cost.replaceChildren(...costNodes(q.cost));
        b.classList.remove('locked');
        b.classList.toggle('unaffordable', !affordable(have, q.cost));
      } else {
        // The reason code, not the English message, says what to show.
        const short = q.reason === RejectReason.RequiresResearch && q.requires !== undefined ? `needs ${humanize(q.requires)}` : q.message;
        cost.replaceChildren(document.createTextNode(short));
        b.title = q.message;
        b.classList.add('locked');
        b.classList.remove('unaffordable');
      }
    }
  }
}

interface TopicRow {
  info: TopicInfo;
  row: HTMLElement;
  pips: HTMLElement[];
  button: HTMLButtonElement;
}

/** ResearchPanel lists the topics with their level, effect and next price. */
export class ResearchPanel {
  private readonly rows = new Map<string, TopicRow>();

  /** onResearch is called when the player researches a topic. */
  onResearch: (topic: string) => void = () => {};

  constructor(private readonly root: HTMLElement) {}

  build(balance: Balance): void {
    this.root.replaceChildren();
    for (const t of balance.topics) {
      const pips = Array.from({ length: t.max_level }, () => h('span', { class: 'pip' }));
      const button = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `research-${t.topic}` }, 'Research');
      button.addEventListener('click', () => this.onResearch(t.topic));
      const row = h(
        'div',
        { class: 'topic', 'data-topic': t.topic },
        h('span', { class: 'topic-name' }, humanize(t.topic)),
        h('span', { class: 'topic-effect' }, t.effect),
        h('span', { class: 'topic-pips', 'aria-label': 'level' }, ...pips),
        button,
      );
      this.rows.set(t.topic, { info: t, row, pips, button });
      this.root.appendChild(row);
    }
  }

  update(levels: Readonly<Record<string, number>> | undefined, quotes: Quotes | undefined, have: Resources | undefined): void {
    for (const [topic, r] of this.rows) {
      const level = levels?.[topic] ?? 0;
      r.pips.forEach((p, i) => p.classList.toggle('on', i < level));
      r.row.setAttribute('aria-label', `${humanize(topic)}, level ${level} of ${r.info.max_level}`);
      const q = quotes?.topics.get(topic);
      if (level >= r.info.max_level) {
        r.button.replaceChildren('Max');
        r.button.disabled = true;
        r.row.classList.remove('unaffordable');
      } else if (q?.cost !== undefined) {
        r.button.replaceChildren(`Lv ${level + 1} · `, ...costNodes(q.cost));
        r.button.disabled = false;
        r.row.classList.toggle('unaffordable', !affordable(have, q.cost));
      } else {
        r.button.replaceChildren('Research');
        r.button.disabled = q !== undefined;
        if (q !== undefined && q.cost === undefined) r.button.title = q.message;
      }
    }
  }
}
