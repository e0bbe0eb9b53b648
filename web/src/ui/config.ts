/**
 * The page's reading of `GET /api/config` (docs/operations.md, Endpoints).
 *
 * @module
 */

/** ServerConfig is what the page uses of `/api/config`. */
export interface ServerConfig {
  /** dev-login is available (`dev_mode`). */
  devMode: boolean;
  /** The answering node's `NODE_ID`, '' when the server does not say. */
  node: string;
}

/** parseConfig reads the body of `/api/config`; a missing or odd field takes its default, so an older server still works. */
export function parseConfig(body: unknown): ServerConfig {
  const c = typeof body === 'object' && body !== null ? (body as { dev_mode?: unknown; node?: unknown }) : {};
  return { devMode: c.dev_mode === true, node: typeof c.node === 'string' ? c.node : '' };
}

/**
 * nodeNote is the footer's mention of the node that answered `/api/config`
 * ('' for none): behind `make run-cluster`'s load balancer, which keeps a
 * browser on one node, the node holding the page's WebSocket.
 */
export function nodeNote(node: string): string {
  return node === '' ? '' : `served by ${node}`;
}
