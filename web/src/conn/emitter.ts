/**
 * {@link Emitter}: the typed event map of STYLE §7, one implementation for
 * the connection and the game controller.
 *
 * @module
 */

/**
 * Emitter delivers events named by the keys of `Events`, each with its
 * payload type. Handlers run in subscription order, on a snapshot of the
 * subscribers (one that unsubscribes or subscribes during an emit changes
 * the next emit, not this one). A throwing handler disturbs neither the
 * emitter's owner nor the other handlers: its error is rethrown in a
 * microtask, where the page's error reporting sees it.
 */
export class Emitter<Events extends object> {
  private readonly handlers = new Map<keyof Events, Set<(payload: never) => void>>();

  /** on subscribes `handler` to `type` and returns the function that unsubscribes it. */
  on<K extends keyof Events>(type: K, handler: (payload: Events[K]) => void): () => void {
    let set = this.handlers.get(type);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(type, set);
    }
    const h = handler as (payload: never) => void;
    set.add(h);
    return () => {
      this.handlers.get(type)?.delete(h);
    };
  }

  /** emit calls every handler of `type` with `payload`. */
  emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.handlers.get(type);
    if (set === undefined) return;
    for (const h of [...set]) {
      try {
        (h as (p: Events[K]) => void)(payload);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
