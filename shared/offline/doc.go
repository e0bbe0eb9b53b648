// Package offline is the client's queue of actions that the server has not
// yet confirmed: taken while offline, or sent and awaiting their
// ActionResult.
//
// The predicted garden is the last state confirmed by the server with every
// pending action applied by the same rules the server runs. Results remove
// actions; a newer server state rebases the queue. The Queue encodes to JSON
// so a browser can persist it and lose nothing across a reload. The Queue
// is a plain value: not safe for concurrent use.
package offline
