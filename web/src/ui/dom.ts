/**
 * Small DOM helpers for the page; no framework.
 *
 * @module
 */

/** byTestId returns the element with `data-testid=id`, or throws: the page's HTML and script must agree. */
export function byTestId<T extends Element = HTMLElement>(id: string, root: ParentNode = document): T {
  const e = root.querySelector(`[data-testid="${id}"]`);
  if (e === null) throw new Error(`page: no element with data-testid="${id}"`);
  return e as T;
}

/** h creates an HTML element with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}
