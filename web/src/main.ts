/**
 * Entry point of the game page (`dist/app.js`): loads the WASM core at once,
 * signs the player in (development login when `/api/config` says
 * `dev_mode`), then wires the connection (`src/conn`), the game controller
 * (`src/game`) and the views (`src/ui`).
 *
 * Query parameters tune the connection for tests: `maxRetries`,
 * `backoffBaseMs`, `backoffCapMs`, `heartbeatMs`, `connectTimeoutMs`.
 * `#token=<jwt>` signs in with a token (servers without development login).
 *
 * @module
 */

import { Connection, type ConnectionOptions, type KeyValueStorage } from './conn/index.js';
import { loadCore, unwrap, type Balance, type Core } from './core/index.js';
import {
  GameController,
  IndexedDbQueueStore,
  TabPeers,
  TabWatcher,
  WebStorageQueueStore,
  adoptLegacy,
  channelName,
  claimTab,
  quote,
  readLegacyQueue,
  removeLegacyQueue,
  type GameSnapshot,
  type QueueStore,
  type Quotes,
  type SavedQueue,
  type TabClaim,
  type TabLocks,
} from './game/index.js';
import { authFromToken, devLogin, DevLoginError, loadAuth, saveAuth, tokenProvider, type Auth } from './ui/auth.js';
import { ConnectionBadge } from './ui/badge.js';
import { nodeNote, parseConfig, type ServerConfig } from './ui/config.js';
import { byTestId } from './ui/dom.js';
import { amount, humanize, perSecond } from './ui/format.js';
import { GardenView } from './ui/garden.js';
import { Picker, ResearchPanel } from './ui/panels.js';
import { Toasts } from './ui/toasts.js';

/** CosmicDebug is `window.cosmicDebug`, the hook the browser tests read. */
export interface CosmicDebug {
  /** The confirmed server version and hash, the bodies drawn, the pending actions. */
  state(): { version: number; hash: string; bodies: number; queue: number };
  /** The connection state name (`connecting`, `open`, …, `closed`). */
  connectionState(): string;
  /** How long the WASM core took to start, ms (fetch, compile, instantiate, run main); 0 until it has. */
  wasmStartMs: number;
  /** The same, split up, and when the core was ready (ms since navigation start). */
  wasmTiming: { instantiateMs: number; runMs: number; totalMs: number; readyAt: number } | undefined;
  /** Replace the stored token (tests: an expired one), effective on the next connection. */
  setToken(token: string): void;
  /** Counters of the game controller. */
  stats(): Record<string, number>;
  /** This tab's id, whether it started as a duplicate of another tab, and where its queue persists. */
  tab(): { id: string; duplicate: boolean; store: string; peerPending: number };
}

declare global {
  interface Window {
    cosmicDebug: CosmicDebug;
  }
}

// Start the module download and compilation before anything else.
const corePromise: Promise<Core> = loadCore({ wasmUrl: 'cosmic.wasm', wasmExecUrl: 'wasm_exec.js' });
const fetchConfig = (): Promise<ServerConfig> =>
  fetch('/api/config')
    .then((r): Promise<unknown> | object => (r.ok ? (r.json() as Promise<unknown>) : {}))
    .then(parseConfig)
    .catch(() => parseConfig({}));
const configPromise = fetchConfig();

const ui = {
  garden: byTestId<SVGSVGElement>('garden'),
  hint: byTestId('garden-hint'),
  loading: byTestId('loading'),
  login: byTestId<HTMLFormElement>('login'),
  loginUser: byTestId<HTMLInputElement>('login-user'),
  loginSubmit: byTestId<HTMLButtonElement>('login-submit'),
  loginError: byTestId('login-error'),
  noLogin: byTestId('no-login'),
  stardust: byTestId('stardust'),
  energy: byTestId('energy'),
  stardustRate: byTestId('stardust-rate'),
  energyRate: byTestId('energy-rate'),
  bodyCount: byTestId('body-count'),
  queue: byTestId('queue-size'),
  storageNote: byTestId('storage-note'),
  user: document.querySelector('.user') as HTMLElement,
  userName: byTestId('user-name'),
  logout: byTestId<HTMLButtonElement>('logout'),
  save: byTestId<HTMLButtonElement>('save'),
  footnote: byTestId('footnote'),
};

const view = new GardenView(ui.garden);
const picker = new Picker(byTestId('picker'));
const research = new ResearchPanel(byTestId('research'));
const toasts = new Toasts(byTestId('toasts'));
const badge = new ConnectionBadge(
  byTestId('connection-state'),
  byTestId<HTMLButtonElement>('retry'),
  byTestId<HTMLButtonElement>('reconnect'),
);
picker.onSelect = (type) => view.select(type);

/** Session is one signed-in player: a connection, a controller, and the ties to the other tabs. */
interface Session {
  auth: Auth;
  conn: Connection;
  game: GameController;
  watcher: TabWatcher | undefined;
  peers: TabPeers | undefined;
  timers: number[];
}

/** Tab is this page's identity among the browser's tabs (`game/tabs.ts`) and its queue store. */
interface Tab {
  claim: TabClaim;
  store: QueueStore;
  locks: TabLocks | undefined;
}

let core: Core | undefined;
let balance: Balance | undefined;
let devMode = false;
/** The node that answered `/api/config` (NODE_ID), shown in the footer. */
let node = '';
let session: Session | undefined;
let tab: Tab | undefined;
/** Bumped by every start and stop, so an asynchronous start that was overtaken gives up. */
let generation = 0;
let quotes: { key: string; value: Quotes } | undefined;
let placedOnce = false;

window.cosmicDebug = {
  state() {
    const s = session?.game.snapshot;
    return {
      version: s?.confirmed?.version ?? 0,
      hash: s?.confirmed?.hash ?? '',
      bodies: Object.keys(s?.predicted?.bodies ?? {}).length,
      queue: s?.pending.length ?? 0,
    };
  },
  connectionState: () => session?.conn.state.kind ?? 'closed',
  wasmStartMs: 0,
  wasmTiming: undefined,
  setToken(token: string) {
    const auth = authFromToken(token) ?? { user: session?.auth.user ?? loadAuth()?.user ?? 'unknown', token };
    saveAuth(auth);
  },
  stats: () => ({ ...(session?.game.snapshot.stats ?? {}) }),
  tab: () => ({
    id: tab?.claim.id ?? '',
    duplicate: tab?.claim.duplicate ?? false,
    store: tab?.store.kind ?? '',
    peerPending: session?.game.snapshot.peerPending ?? 0,
  }),
};

/**
 * sessionStore keeps the connection's session per tab (protocol.md §5: tabs
 * must not share one) and per user. The keys carry the tab id: a duplicated
 * tab, which gets a copy of sessionStorage but a new tab id, does not see
 * (and resume) the original's session.
 */
function sessionStore(tabId: string, user: string): KeyValueStorage {
  return {
    get: (k) => sessionStorage.getItem(`${tabId}:${user}:${k}`),
    set: (k, v) => sessionStorage.setItem(`${tabId}:${user}:${k}`, v),
  };
}

/** tabStorage is sessionStorage for the tab id; it may throw (privacy modes), and a tab without it still plays. */
const tabStorage: KeyValueStorage = {
  get: (k) => {
    try {
      return sessionStorage.getItem(k);
    } catch {
      return null;
    }
  },
  set: (k, v) => {
    try {
      sessionStorage.setItem(k, v);
    } catch {
      // Without it a reload counts as a new tab; its queue is then adopted like a closed tab's.
    }
  },
};

const localStore: KeyValueStorage = {
  get: (k) => localStorage.getItem(k),
  set: (k, v) => localStorage.setItem(k, v),
};

function randomId(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * openTab claims this tab's id and opens the queue store: IndexedDB, or
 * per-tab `localStorage` keys where IndexedDB is missing (the page says so).
 */
async function openTab(): Promise<Tab> {
  const locks = (navigator as { locks?: TabLocks }).locks;
  const claim = await claimTab({ storage: tabStorage, locks, newId: randomId });
  let store: QueueStore;
  try {
    store = await IndexedDbQueueStore.open();
  } catch {
    store = new WebStorageQueueStore(localStorage);
    ui.storageNote.hidden = false;
  }
  return { claim, store, locks };
}

/**
 * seedFrom gives a tab without a record of its own (a new or duplicated
 * tab) the newest garden another tab of this browser saved, without that
 * tab's pending actions, so it can draw the garden before it connects.
 */
function seedFrom(recs: SavedQueue[], c: Core, tabId: string): SavedQueue | undefined {
  let best: SavedQueue | undefined;
  for (const r of recs) {
    if (r.confirmed !== null && (best?.confirmed == null || r.confirmed.version > best.confirmed.version)) best = r;
  }
  if (best?.confirmed == null) return undefined;
  const q = c.queueRebase('', best.confirmed.version, best.confirmed.state);
  if (!q.ok) return undefined;
  return { ...best, tab: tabId, queue: q.value.queue, awaiting: {} };
}

function connectionOptions(auth: Auth): ConnectionOptions {
  const q = new URLSearchParams(location.search);
  const num = (name: string): number | undefined => {
    const v = q.get(name);
    const n = v === null ? NaN : Number(v);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const opts: ConnectionOptions = {
    url: '/api/ws',
    tokenProvider: tokenProvider(devMode, (next) => {
      if (session !== undefined) session.auth = next;
    }),
    storage: sessionStore(tab?.claim.id ?? 'no-tab', auth.user),
  };
  const maxRetries = num('maxRetries');
  if (maxRetries !== undefined) opts.maxRetries = Math.floor(maxRetries);
  const base = num('backoffBaseMs');
  const cap = num('backoffCapMs');
  if (base !== undefined || cap !== undefined) {
    opts.backoff = {};
    if (base !== undefined && base > 0) opts.backoff.baseMs = base;
    if (cap !== undefined && cap > 0) opts.backoff.capMs = cap;
  }
  const hb = num('heartbeatMs');
  if (hb !== undefined && hb > 0) opts.heartbeatMs = hb;
  const ct = num('connectTimeoutMs');
  if (ct !== undefined && ct > 0) opts.connectTimeoutMs = ct;
  return opts;
}

// ---------------------------------------------------------------------------
// Rendering

function render(snap: GameSnapshot): void {
  const predicted = snap.predicted;
  const confirmedIds = new Set(Object.keys(confirmedBodies(snap)));
  const pending = new Set(Object.keys(predicted?.bodies ?? {}).filter((id) => !confirmedIds.has(id)));
  // The core names the body an action creates: the page knows no id scheme.
  const skipped = new Set<string>();
  for (const s of snap.skipped) {
    const id = core?.bodyId(s.id);
    if (id?.ok) skipped.add(id.value);
  }
  const n = view.render(predicted, pending, skipped);
  ui.bodyCount.textContent = amount(n);
  ui.queue.textContent = String(snap.pending.length);
  ui.queue.parentElement?.classList.toggle('has-pending', snap.pending.length > 0);
  ui.queue.parentElement?.setAttribute(
    'title',
    snap.skipped.length > 0
      ? `${snap.pending.length} waiting for the server; ${snap.skipped.length} will probably be refused`
      : `${snap.pending.length} action(s) waiting for the server`,
  );
  if (placedOnce || n > 0) ui.hint.style.opacity = '0';
  refreshQuotes(snap);
  showRates();
  tickResources();
  const c = snap.confirmed;
  const timing = core?.timing;
  ui.footnote.textContent = [
    c ? `server version ${c.version} · hash ${c.hash.slice(0, 12)}…` : 'not synchronised yet',
    timing ? `core started in ${timing.totalMs.toFixed(0)} ms` : '',
    snap.stats.hashMismatches > 0 ? `${snap.stats.hashMismatches} resync(s)` : '',
    nodeNote(node),
  ]
    .filter(Boolean)
    .join(' · ');
}

let confirmedCache: { key: string; bodies: Record<string, unknown> } | undefined;
function confirmedBodies(snap: GameSnapshot): Record<string, unknown> {
  const c = snap.confirmed;
  if (c === undefined) return {};
  if (confirmedCache?.key !== c.hash) {
    confirmedCache = { key: c.hash, bodies: (JSON.parse(c.state) as { bodies: Record<string, unknown> }).bodies };
  }
  return confirmedCache.bodies;
}

/** refreshQuotes asks the core for prices when the predicted garden changed (one call; the module keeps that garden decoded). */
function refreshQuotes(snap: GameSnapshot): void {
  const text = snap.predictedText;
  if (core === undefined || text === null || quotes?.key === text) return;
  const value = quote(core, text);
  quotes = value === undefined ? undefined : { key: text, value };
}

/** tickBadge keeps the badge (and its reconnect countdown) current. */
function tickBadge(): void {
  if (session !== undefined) badge.update(session.conn.state);
}

/**
 * tickResources shows the resources projected to now with the core's
 * `settle`, once a second and after every change: for display only, the
 * garden itself changes only through actions (protocol.md §3).
 */
function tickResources(): void {
  const s = session;
  if (s === undefined) return;
  const have = s.game.projected(Date.now());
  if (have !== undefined) {
    ui.stardust.textContent = amount(have.stardust);
    ui.energy.textContent = amount(have.energy);
  }
  picker.update(quotes?.value, have);
  research.update(s.game.snapshot.predicted?.research, quotes?.value, have);
}

/** showRates shows growth per second as the core's `rates` gives it (thousandths of a unit); it changes only with the garden. */
function showRates(): void {
  const text = session?.game.snapshot.predictedText;
  if (core === undefined || text === undefined || text === null) return;
  const r = core.rates(text);
  if (!r.ok) return;
  ui.stardustRate.textContent = perSecond(r.value.stardust / 1000);
  ui.energyRate.textContent = perSecond(r.value.energy / 1000);
}

// ---------------------------------------------------------------------------
// Session lifecycle

/**
 * start signs `auth.user` in on this tab: loads the tab's saved queue (or
 * seeds one), builds the connection and the controller, adopts the queues
 * of the user's closed tabs and of the legacy shared key, and joins the
 * other tabs' channel.
 */
async function start(auth: Auth): Promise<void> {
  const c = core;
  const t = tab;
  if (c === undefined || t === undefined) return;
  stop();
  const gen = ++generation;
  ui.login.hidden = true;
  ui.noLogin.hidden = true;
  ui.user.hidden = false;
  ui.userName.textContent = auth.user;
  const user = auth.user;
  let saved: SavedQueue | undefined;
  let others: SavedQueue[] = [];
  try {
    [saved, others] = await Promise.all([t.store.load(user, t.claim.id), t.store.list(user)]);
  } catch {
    // An unreadable store: play on from the server's state.
  }
  if (gen !== generation) return;
  saved ??= seedFrom(others, c, t.claim.id);
  const conn = new Connection(connectionOptions(auth));
  const game = new GameController({ core: c, conn, store: t.store, tab: t.claim.id, userId: user, ...(saved ? { saved } : {}) });
  const s: Session = { auth, conn, game, watcher: undefined, peers: undefined, timers: [] };
  session = s;
  game.on('change', render);
  // Rule messages name topics and types as on the wire (stellar_fusion).
  game.on('toast', (m) => toasts.show({ ...m, message: humanize(m.message) }));
  game.dropExpired();
  const adopted = (n: number): void => {
    if (n > 0) toasts.show({ kind: 'info', message: `${n} action(s) queued in a closed tab will be sent from this one.` });
  };
  if (t.locks !== undefined) {
    s.watcher = new TabWatcher({
      user,
      tab: t.claim.id,
      store: t.store,
      locks: t.locks,
      game,
      onAdopted: (_tab, n) => adopted(n),
    });
    void s.watcher.start().catch(() => undefined);
  }
  const legacy = readLegacyQueue(localStore, user);
  if (legacy !== undefined) {
    void adoptLegacy(game, legacy, () => removeLegacyQueue((k) => localStorage.removeItem(k), user))
      .then(adopted)
      .catch(() => undefined); // the key stays; adopted again next time, harmlessly
  }
  if (typeof BroadcastChannel === 'function') {
    const watcher = s.watcher;
    s.peers = new TabPeers({
      tab: t.claim.id,
      channel: new BroadcastChannel(channelName(user)),
      game,
      onPeer: (peer) => watcher?.watch(peer),
      forgetOnBye: watcher === undefined,
    });
    s.peers.start();
  }
  conn.on('state', ({ newState, oldState }) => {
    badge.update(newState);
    if (newState.kind === 'open') refreshNode(s);
    if (newState.kind === 'failed' && newState.reason === 'auth' && oldState.kind !== 'failed') {
      toasts.show({ kind: 'error', message: 'The server refused the sign-in. Log out and sign in again.' });
    }
    if (newState.kind === 'closed' && newState.reason === 'taken_over') {
      // Another connection resumed this tab's session (a copy of this tab
      // that could not tell, without Web Locks). The connection has
      // forgotten the session; a new one does not fight the other tab for
      // it (protocol.md §6: do not reconnect *this* session).
      toasts.show({ kind: 'info', message: 'Another tab took over this tab\'s session; starting a new one.' });
      queueMicrotask(() => {
        if (session === s) conn.connect();
      });
    }
  });
  conn.on('Error', (m) => {
    if (m.id === undefined && m.data.code !== 'rate_limited') toasts.show({ kind: 'error', message: `Server error: ${m.data.message}` });
  });
  s.timers.push(window.setInterval(tickBadge, 250), window.setInterval(tickResources, 1000));
  render(game.snapshot);
  conn.connect();
}

/**
 * refreshNode asks again which node answers, once a connection is open:
 * behind `make run-cluster`'s load balancer, whose cookie keeps a browser
 * on one node, that is the node holding this page's WebSocket, also after
 * a reconnect moved it.
 */
function refreshNode(s: Session): void {
  void fetchConfig().then((c) => {
    if (session !== s || c.node === node) return;
    node = c.node;
    render(s.game.snapshot);
  });
}

function stop(): void {
  generation++;
  const s = session;
  if (s === undefined) return;
  session = undefined;
  for (const t of s.timers) clearInterval(t);
  s.watcher?.dispose();
  s.peers?.dispose();
  s.conn.close();
  s.game.dispose();
}

function showLogin(): void {
  stop();
  ui.user.hidden = true;
  view.render(null, new Set(), new Set());
  ui.queue.textContent = '0';
  badge.update({ kind: 'closed', reason: 'app' });
  if (devMode) {
    ui.login.hidden = false;
    ui.loginUser.focus();
  } else {
    ui.noLogin.hidden = false;
  }
}

ui.login.addEventListener('submit', (e) => {
  e.preventDefault();
  const user = ui.loginUser.value.trim();
  if (user === '') return;
  ui.loginSubmit.disabled = true;
  ui.loginError.textContent = '';
  devLogin(user)
    .then((token) => {
      const auth = { user: authFromToken(token)?.user ?? user, token };
      saveAuth(auth);
      return start(auth);
    })
    .catch((err: unknown) => {
      ui.loginError.textContent = err instanceof DevLoginError ? err.message : 'Sign-in failed.';
    })
    .finally(() => {
      ui.loginSubmit.disabled = false;
    });
});

ui.logout.addEventListener('click', () => {
  saveAuth(undefined);
  showLogin();
});

byTestId<HTMLButtonElement>('retry').addEventListener('click', () => session?.conn.retryNow());
byTestId<HTMLButtonElement>('reconnect').addEventListener('click', () => session?.conn.connect());

ui.save.addEventListener('click', () => session?.game.save());

view.onPlace = (pos) => {
  const type = picker.selected;
  if (session === undefined || type === undefined) return;
  const r = session.game.createBody(type, pos);
  if (r.ok) placedOnce = true;
};

research.onResearch = (topic) => session?.game.research(topic);

// ---------------------------------------------------------------------------
// Boot

async function boot(): Promise<void> {
  const fragmentToken = new URLSearchParams(location.hash.slice(1)).get('token');
  if (fragmentToken) {
    const auth = authFromToken(fragmentToken);
    if (auth !== undefined) saveAuth(auth);
    history.replaceState(null, '', location.pathname + location.search);
  }
  let loaded: Core;
  try {
    [loaded, { devMode, node }] = await Promise.all([corePromise, configPromise]);
  } catch (err) {
    ui.loading.replaceChildren(
      Object.assign(document.createElement('p'), {
        textContent: `The game core could not start: ${err instanceof Error ? err.message : String(err)}`,
      }),
    );
    return;
  }
  core = loaded;
  window.cosmicDebug.wasmStartMs = loaded.timing.totalMs;
  window.cosmicDebug.wasmTiming = { ...loaded.timing, readyAt: performance.now() };
  balance = unwrap(loaded.balance());
  tab = await openTab();
  picker.build(balance);
  research.build(balance);
  ui.loading.hidden = true;
  const auth = loadAuth();
  if (auth === undefined) showLogin();
  else await start(auth);
}

void boot();
