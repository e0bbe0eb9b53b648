/**
 * The garden map: one SVG whose viewBox covers ±1000 in x and y. Each body
 * is a `<g data-body-id data-body-type>` drawn from a per-type template;
 * bodies not yet confirmed by the server are marked `pending`, and those
 * the rules now refuse `skipped`.
 *
 * @module
 */

import type { Body, GameState, Vec3 } from '../conn/protocol.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** VIEW_RADIUS: the viewBox covers ±VIEW_RADIUS on both axes. */
export const VIEW_RADIUS = 1000;

/** KNOWN_TYPES have their own look; any other type is drawn as a generic body. */
export const KNOWN_TYPES = ['asteroid', 'moon', 'comet', 'planet', 'nebula', 'star', 'black_hole'] as const;

/** POP_IN_LIMIT: in a garden of this many bodies or more, bodies from other devices appear without the pop-in animation. */
export const POP_IN_LIMIT = 200;

/** BODY_SCALE enlarges every template so bodies read well at the map's scale. */
const BODY_SCALE = 1.5;

/** HALO is the radius of the pending/skipped ring per type (before BODY_SCALE). */
const HALO: Record<string, number> = {
  star: 50,
  planet: 48,
  moon: 22,
  asteroid: 20,
  comet: 18,
  nebula: 70,
  black_hole: 58,
};

/** ICON_RADIUS frames each type in a picker icon. */
const ICON_RADIUS: Record<string, number> = {
  star: 60,
  planet: 50,
  moon: 20,
  asteroid: 18,
  comet: 40,
  nebula: 95,
  black_hole: 56,
};

const DEFS = `
<defs>
  <radialGradient id="cg-space" cx="50%" cy="50%" r="60%">
    <stop offset="0" stop-color="#141c48"/><stop offset="0.55" stop-color="#0a1030"/><stop offset="1" stop-color="#04060f"/>
  </radialGradient>
  <radialGradient id="cg-cloud-a"><stop offset="0" stop-color="#7a4bff" stop-opacity="0.22"/><stop offset="1" stop-color="#7a4bff" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-cloud-b"><stop offset="0" stop-color="#2aa6ff" stop-opacity="0.16"/><stop offset="1" stop-color="#2aa6ff" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-star"><stop offset="0" stop-color="#fffef5"/><stop offset="0.45" stop-color="#ffe89a"/><stop offset="1" stop-color="#ff9d3c"/></radialGradient>
  <radialGradient id="cg-star-glow"><stop offset="0" stop-color="#ffd27a" stop-opacity="0.6"/><stop offset="1" stop-color="#ff9d3c" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-planet" cx="0.35" cy="0.35" r="0.75"><stop offset="0" stop-color="#a8f3ff"/><stop offset="0.5" stop-color="#3a8fd6"/><stop offset="1" stop-color="#1b2f7a"/></radialGradient>
  <radialGradient id="cg-moon" cx="0.35" cy="0.35" r="0.8"><stop offset="0" stop-color="#f4f5fa"/><stop offset="1" stop-color="#7f869e"/></radialGradient>
  <radialGradient id="cg-comet"><stop offset="0" stop-color="#ffffff"/><stop offset="1" stop-color="#8fe3ff"/></radialGradient>
  <linearGradient id="cg-tail" x1="0" y1="0" x2="1" y2="0"><stop offset="0" stop-color="#bdf0ff" stop-opacity="0.85"/><stop offset="1" stop-color="#8fd8ff" stop-opacity="0"/></linearGradient>
  <radialGradient id="cg-neb-a"><stop offset="0" stop-color="#d678ff" stop-opacity="0.55"/><stop offset="1" stop-color="#d678ff" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-neb-b"><stop offset="0" stop-color="#5aaaff" stop-opacity="0.5"/><stop offset="1" stop-color="#5aaaff" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-neb-c"><stop offset="0" stop-color="#ff78aa" stop-opacity="0.45"/><stop offset="1" stop-color="#ff78aa" stop-opacity="0"/></radialGradient>
  <radialGradient id="cg-bh-disk"><stop offset="0.42" stop-color="#000" stop-opacity="0"/><stop offset="0.5" stop-color="#ffb35c" stop-opacity="0.95"/><stop offset="0.7" stop-color="#ff5f3c" stop-opacity="0.55"/><stop offset="1" stop-color="#a03cff" stop-opacity="0"/></radialGradient>
  <linearGradient id="cg-asteroid" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#c29a76"/><stop offset="1" stop-color="#5a4232"/></linearGradient>
  <radialGradient id="cg-generic"><stop offset="0" stop-color="#e6ecff"/><stop offset="1" stop-color="#6a7bd6"/></radialGradient>

  <g id="cg-sym-star">
    <circle r="80" fill="url(#cg-star-glow)">
      <animate attributeName="r" values="74;86;74" dur="4s" repeatCount="indefinite"/>
    </circle>
    <path d="M0,-62 L5,-5 L62,0 L5,5 L0,62 L-5,5 L-62,0 L-5,-5Z" fill="#fff5d0" opacity="0.55"/>
    <circle r="32" fill="url(#cg-star)"/>
  </g>
  <g id="cg-sym-planet">
    <ellipse rx="44" ry="12" fill="none" stroke="#bfe6ff" stroke-opacity="0.35" stroke-width="5"/>
    <circle r="24" fill="url(#cg-planet)"/>
    <path d="M-44,0 A44,12 0 0,0 44,0" fill="none" stroke="#d8f1ff" stroke-opacity="0.8" stroke-width="5"/>
  </g>
  <g id="cg-sym-moon">
    <circle r="13" fill="url(#cg-moon)"/>
    <circle cx="-4" cy="-3" r="3" fill="#9aa0b6" opacity="0.7"/>
    <circle cx="5" cy="4" r="2.2" fill="#9aa0b6" opacity="0.6"/>
    <circle cx="3" cy="-6" r="1.4" fill="#9aa0b6" opacity="0.6"/>
  </g>
  <g id="cg-sym-asteroid">
    <path d="M-12,-4 L-7,-11 L3,-12 L11,-6 L12,3 L6,11 L-4,10 L-11,5Z" fill="url(#cg-asteroid)" stroke="#2e221b" stroke-width="1.2"/>
    <circle cx="-3" cy="-2" r="2.4" fill="#4a372a"/>
    <circle cx="5" cy="4" r="1.6" fill="#4a372a"/>
  </g>
  <g id="cg-sym-comet">
    <path d="M0,-8 L90,-3 L90,3 L0,8Z" fill="url(#cg-tail)"/>
    <path d="M0,-5 L60,-16 L62,-12 L0,4Z" fill="url(#cg-tail)" opacity="0.5"/>
    <circle r="8" fill="url(#cg-comet)"/>
  </g>
  <g id="cg-sym-nebula">
    <circle cx="-28" cy="-12" r="70" fill="url(#cg-neb-a)"/>
    <circle cx="30" cy="10" r="62" fill="url(#cg-neb-b)"/>
    <circle cx="4" cy="28" r="50" fill="url(#cg-neb-c)"/>
    <circle cx="-6" cy="-4" r="3" fill="#fff" opacity="0.8"/>
    <circle cx="22" cy="-20" r="2" fill="#fff" opacity="0.7"/>
    <circle cx="-30" cy="18" r="2" fill="#fff" opacity="0.6"/>
  </g>
  <g id="cg-sym-black_hole">
    <circle r="56" fill="url(#cg-bh-disk)"/>
    <ellipse rx="52" ry="13" fill="none" stroke="#ffcf8a" stroke-width="4" opacity="0.9"/>
    <circle r="24" fill="#000" stroke="#ff9d5c" stroke-width="2"/>
    <path d="M-52,0 A52,13 0 0,0 52,0" fill="none" stroke="#ffe0b0" stroke-width="4"/>
  </g>
  <g id="cg-sym-generic">
    <circle r="16" fill="url(#cg-generic)"/>
  </g>
</defs>`;

/** mulberry32 is a small seeded PRNG: the starfield is the same on every load. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** hashString gives each body a stable variation (tilt, spin, size) from its id. */
function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return h >>> 0;
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number> = {}): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function symbolId(type: string): string {
  return (KNOWN_TYPES as readonly string[]).includes(type) ? `cg-sym-${type}` : 'cg-sym-generic';
}

/**
 * bodyShape is a body's `<use>` of its type's template with its per-id
 * look: comets point away from the centre, planets tilt, rocks spin. With
 * `at`, the transform also moves it to the body's position, so a drawn
 * body carries one transform, not two.
 */
function bodyShape(b: Pick<Body, 'id' | 'type' | 'position'>, at = false): SVGUseElement {
  const h = hashString(b.id);
  const use = el('use', { href: `#${symbolId(b.type)}` });
  const r = (h % 360) - 180;
  const scale = BODY_SCALE * (0.85 + ((h >>> 9) % 30) / 100);
  let look: string;
  switch (b.type) {
    case 'comet': {
      const angle = (Math.atan2(b.position.y, b.position.x) * 180) / Math.PI;
      look = `rotate(${(b.position.x === 0 && b.position.y === 0 ? r : angle).toFixed(1)}) scale(${BODY_SCALE})`;
      break;
    }
    case 'planet':
      look = `rotate(${((h % 50) - 25).toFixed(0)}) scale(${scale.toFixed(2)})`;
      break;
    case 'asteroid':
    case 'moon':
    case 'nebula':
      look = `rotate(${r}) scale(${scale.toFixed(2)})`;
      break;
    default:
      look = `scale(${BODY_SCALE})`;
      break;
  }
  use.setAttribute('transform', at ? `translate(${b.position.x} ${b.position.y}) ${look}` : look);
  return use;
}

/** iconSvg returns a small standalone SVG of a body type for the picker (it refers to the garden's defs). */
export function iconSvg(type: string): SVGSVGElement {
  const r = ICON_RADIUS[type] ?? 20;
  const svg = el('svg', { viewBox: `${-r} ${-r} ${2 * r} ${2 * r}`, 'aria-hidden': 'true' });
  const use = el('use', { href: `#${symbolId(type)}` });
  if (type === 'comet') use.setAttribute('transform', 'rotate(-35) translate(-30 0)');
  svg.appendChild(use);
  return svg;
}

/** DrawnBody is what the view remembers of a body it drew: its look's key and its marks. */
export interface DrawnBody {
  /** key is {@link bodyKey} of the body as drawn. */
  readonly key: string;
  readonly pending: boolean;
  readonly skipped: boolean;
}

/** RenderPlan is what {@link planRender} says to change in the drawing. */
export interface RenderPlan {
  /** remove: ids of drawn bodies no longer in the garden. */
  remove: string[];
  /** draw: bodies new to the drawing or whose look changed, with their key; their marks are in `marks`. */
  draw: { id: string; body: Body; key: string }[];
  /** marks: bodies whose pending or skipped mark differs from the drawn one (new bodies count as unmarked). */
  marks: { id: string; pending: boolean; skipped: boolean }[];
}

/**
 * bodyKey is what a body's node is drawn from: two bodies with the same
 * key look the same (the per-id variation comes from the id, the node's
 * key in the drawing).
 */
export function bodyKey(b: Pick<Body, 'type' | 'position'>): string {
  return `${b.type}|${b.position.x}|${b.position.y}`;
}

/**
 * planRender compares the drawn bodies with `bodies` and the marks: which
 * nodes to remove, which to (re)draw, which to re-mark. It touches no DOM,
 * so it is tested without a browser; `GardenView.render` applies it.
 */
export function planRender(
  drawn: ReadonlyMap<string, DrawnBody>,
  bodies: Readonly<Record<string, Body>>,
  pendingIds: ReadonlySet<string>,
  skippedIds: ReadonlySet<string>,
): RenderPlan {
  const plan: RenderPlan = { remove: [], draw: [], marks: [] };
  for (const id of drawn.keys()) {
    if (!Object.prototype.hasOwnProperty.call(bodies, id)) plan.remove.push(id);
  }
  for (const id in bodies) {
    const b = bodies[id]!;
    const key = bodyKey(b);
    const was = drawn.get(id);
    const redraw = was === undefined || was.key !== key;
    if (redraw) plan.draw.push({ id, body: b, key });
    const pending = pendingIds.has(id);
    const skipped = skippedIds.has(id);
    const had = redraw ? { pending: false, skipped: false } : was;
    if (had.pending !== pending || had.skipped !== skipped) plan.marks.push({ id, pending, skipped });
  }
  return plan;
}

/** GardenView draws a garden into an `<svg>` and reports clicks as positions. */
export class GardenView {
  private readonly svg: SVGSVGElement;
  private readonly nebulae: SVGGElement;
  private readonly bodies: SVGGElement;
  private readonly ghost: SVGGElement;
  private readonly nodes = new Map<string, { node: SVGGElement; key: string; pending: boolean; skipped: boolean }>();
  private drawn = false;
  private selected: string | undefined;

  /** onPlace is called with the clicked position (integers, z = 0). */
  onPlace: (pos: Vec3) => void = () => {};

  constructor(svg: SVGSVGElement) {
    this.svg = svg;
    svg.innerHTML = DEFS;
    svg.appendChild(this.backdrop());
    this.nebulae = el('g', { class: 'layer-nebulae' });
    this.bodies = el('g', { class: 'layer-bodies' });
    this.ghost = el('g', { class: 'ghost', visibility: 'hidden' });
    svg.append(this.nebulae, this.bodies, this.ghost);
    svg.addEventListener('click', (e) => {
      const p = this.toWorld(e.clientX, e.clientY);
      if (p !== undefined) this.onPlace(p);
    });
    svg.addEventListener('pointermove', (e) => this.moveGhost(e.clientX, e.clientY));
    svg.addEventListener('pointerleave', () => this.ghost.setAttribute('visibility', 'hidden'));
  }

  /** select sets the body type the ghost previews. */
  select(type: string | undefined): void {
    this.selected = type;
    this.ghost.replaceChildren();
    if (type !== undefined) this.ghost.appendChild(bodyShape({ id: 'ghost', type, position: { x: 0, y: 1, z: 0 } }));
  }

  /**
   * render draws `state`'s bodies. `pendingIds` are bodies not yet
   * confirmed, `skippedIds` those the rules now refuse. Only what changed
   * is touched ({@link planRender}): a body whose look is the same keeps
   * its node, and its classes change only when its marks do, so a garden
   * of a thousand bodies that gains one redraws one.
   */
  render(state: GameState | null, pendingIds: ReadonlySet<string>, skippedIds: ReadonlySet<string>): number {
    const plan = planRender(this.nodes, state?.bodies ?? {}, pendingIds, skippedIds);
    for (const id of plan.remove) {
      this.nodes.get(id)?.node.remove();
      this.nodes.delete(id);
    }
    for (const { id, body, key } of plan.draw) {
      this.nodes.get(id)?.node.remove();
      const node = this.bodyNode(body);
      // The pop-in animation gives each animated body a compositor layer
      // of its own while it runs: in a large garden that another device
      // keeps changing, only the player's own new bodies pop.
      if (this.drawn && (pendingIds.has(id) || this.nodes.size < POP_IN_LIMIT)) node.classList.add('fresh');
      (body.type === 'nebula' ? this.nebulae : this.bodies).appendChild(node);
      this.nodes.set(id, { node, key, pending: false, skipped: false });
    }
    for (const m of plan.marks) {
      const d = this.nodes.get(m.id);
      if (d === undefined) continue;
      if (d.pending !== m.pending) d.node.classList.toggle('pending', (d.pending = m.pending));
      if (d.skipped !== m.skipped) d.node.classList.toggle('skipped', (d.skipped = m.skipped));
    }
    this.drawn = true;
    return this.nodes.size;
  }

  private bodyNode(b: Body): SVGGElement {
    const g = el('g', {
      class: `body body-${b.type}`,
      'data-body-id': b.id,
      'data-body-type': b.type,
    });
    const title = el('title');
    title.textContent = `${b.type.replace('_', ' ')} · (${Math.round(b.position.x)}, ${Math.round(b.position.y)})`;
    // The shape sits in its own group so the CSS pop-in animation (a
    // transform, centred on the shape's box) does not replace the use's
    // transform. The group itself has none: each body adds one transform.
    const shape = el('g', { class: 'shape' });
    shape.appendChild(bodyShape(b, true));
    const { x, y } = b.position;
    g.append(title, shape, el('circle', { class: 'halo', cx: x, cy: y, r: BODY_SCALE * (HALO[b.type] ?? 30) }));
    return g;
  }

  private toWorld(clientX: number, clientY: number): Vec3 | undefined {
    const m = this.svg.getScreenCTM();
    if (m === null) return undefined;
    const p = new DOMPoint(clientX, clientY).matrixTransform(m.inverse());
    return { x: Math.round(p.x), y: Math.round(p.y), z: 0 };
  }

  private moveGhost(clientX: number, clientY: number): void {
    if (this.selected === undefined) return;
    const p = this.toWorld(clientX, clientY);
    if (p === undefined) return;
    this.ghost.setAttribute('transform', `translate(${p.x} ${p.y})`);
    this.ghost.setAttribute('visibility', 'visible');
  }

  private backdrop(): SVGGElement {
    const g = el('g', { class: 'backdrop', 'pointer-events': 'none' });
    const far = VIEW_RADIUS * 4;
    g.appendChild(el('rect', { x: -far, y: -far, width: 2 * far, height: 2 * far, fill: 'url(#cg-space)' }));
    g.appendChild(el('circle', { cx: -520, cy: -380, r: 900, fill: 'url(#cg-cloud-a)' }));
    g.appendChild(el('circle', { cx: 640, cy: 520, r: 820, fill: 'url(#cg-cloud-b)' }));
    const rand = mulberry32(20240611);
    const stars = el('g', { class: 'starfield' });
    for (let i = 0; i < 420; i++) {
      const x = (rand() * 2 - 1) * 2600;
      const y = (rand() * 2 - 1) * 1400;
      const r = 1 + rand() * rand() * 4;
      const c = el('circle', { cx: x.toFixed(0), cy: y.toFixed(0), r: r.toFixed(1), fill: rand() < 0.15 ? '#ffe3b0' : '#dfe8ff', opacity: (0.25 + rand() * 0.6).toFixed(2) });
      if (i % 23 === 0) {
        c.appendChild(el('animate', { attributeName: 'opacity', values: '0.2;0.95;0.2', dur: `${(2 + rand() * 4).toFixed(1)}s`, repeatCount: 'indefinite' }));
      }
      stars.appendChild(c);
    }
    g.appendChild(stars);
    const grid = el('g', { class: 'grid' });
    for (const r of [250, 500, 750, 1000]) grid.appendChild(el('circle', { r }));
    grid.appendChild(el('line', { x1: -VIEW_RADIUS, y1: 0, x2: VIEW_RADIUS, y2: 0 }));
    grid.appendChild(el('line', { x1: 0, y1: -VIEW_RADIUS, x2: 0, y2: VIEW_RADIUS }));
    for (const r of [500, 1000]) {
      const t = el('text', { x: r + 8, y: -8 });
      t.textContent = String(r);
      grid.appendChild(t);
    }
    g.appendChild(grid);
    return g;
  }
}
