/**
 * The game model of the browser client: {@link GameController} follows the
 * server's garden, queues the player's actions offline and predicts the
 * garden the page draws, through the WASM core.
 *
 * @module
 */

export {
  GameController,
  MAX_INTERNAL_RETRIES,
  RATE_LIMITED_RESEND_MS,
  RESYNC_RETRY_MS,
  STORAGE_PREFIX,
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
export { affordable, quote, type Quote, type Quotes } from './quotes.js';
