// Package garden keeps the authoritative state of each player's garden in
// memory: the newest durable Snapshot, a short history of earlier ones, the
// patches between them (computed once per step and shared by every
// recipient), and the idempotency records of recent actions.
//
// Actions on one garden are serialised and run in named steps (Garden.Do):
// replay (a known id gets its recorded result), apply (pure: shared/rules
// and the next snapshot), commit (the store, the one step that can refuse
// an outcome) and publish (local subscribers). A change is published only
// once the store reports it durable (protocol.md §3: a success ActionResult
// follows a durable commit).
package garden
