/**
 * The game model of the browser client: {@link GameController} follows the
 * server's garden, queues the player's actions offline and predicts the
 * garden the page draws, through the WASM core; `store.ts` persists each
 * tab's queue and `tabs.ts` ties the tabs of one browser together.
 *
 * @module
 */

export {
  GameController,
  MAX_ACTION_AGE_MS,
  MAX_INTERNAL_RETRIES,
  RATE_LIMITED_RESEND_MS,
  RESYNC_RETRY_MS,
  type ActionAttempt,
  type Confirmed,
  type GameConnection,
  type GameControllerOptions,
  type GameEvents,
  type GameSnapshot,
  type GameStats,
  type Toast,
  type ToastKind,
} from './controller.js';
export {
  DB_NAME,
  DB_STORE,
  IndexedDbQueueStore,
  LEGACY_PREFIX,
  LEGACY_TAB,
  WEB_STORAGE_PREFIX,
  WebStorageQueueStore,
  parseSaved,
  readLegacyQueue,
  removeLegacyQueue,
  type QueueStore,
  type SavedQueue,
  type StoreKind,
  type WebStorage,
} from './store.js';
export {
  RELOAD_WAIT_MS,
  TAB_KEY,
  TabPeers,
  TabWatcher,
  adoptLegacy,
  channelName,
  claimTab,
  holdLock,
  tabLockName,
  type Adopter,
  type ChannelLike,
  type ClaimOptions,
  type LockRequestOptions,
  type PeerGame,
  type TabClaim,
  type TabLocks,
  type TabMessage,
  type TabPeersOptions,
  type TabWatcherOptions,
} from './tabs.js';
export { affordable, quote, type Quotes } from './quotes.js';
