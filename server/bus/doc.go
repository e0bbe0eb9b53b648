// Package bus carries the news of committed garden versions between server
// nodes over NATS: one subject per garden, subscribed only while the node
// serves a device of that garden. It is a fan-out, not a store: NATS
// delivers at most once, and the truth stays in the database. Whoever uses
// the bus must repair a lost message from the store (Receiver.Resync tells
// it when a loss is likely; a periodic version check catches the rest).
package bus
