// Command loadgen is the load tool of the Cosmic Gardener realtime server:
// simulated players, each with one or more devices, over real WebSockets
// (protocol.md §1–§5), in the spirit of `artillery quick`.
//
//	go run ./tools/loadgen --scenario idle --count 2000 --duration 30s
//	go run ./tools/loadgen --scenario fanout --gardens 200 --devices 5 --rate 400 --duration 15s
//	go run ./tools/loadgen --target centrifuge --url ws://127.0.0.1:8100/connection/websocket --scenario onegarden
//	go run ./tools/loadgen compare a.json b.json   # side-by-side table of saved reports
//
// Scenarios (--scenario):
//
//   - storm: connect --count devices at --ramp per second, hold --duration.
//   - idle: hold --count connections for --duration, with a Heartbeat every
//     heartbeat_ms (from Welcome) and an Ack now and then, as a client does.
//   - active: one device per player; CreateCelestialBody at --rate actions/s
//     in total; ack_ms is action → own ActionResult.
//   - fanout: --gardens × --devices; --rate changes/s in total; broadcast_ms
//     is action → StateUpdate on the garden's other devices, matched by the
//     version in ActionResult.data.version against StateUpdate data.version.
//   - onegarden: one garden watched by --count devices, --rate changes/s.
//   - reconnect: hold --count, restart the server (--spawn or --restart-cmd),
//     time until every device is back, by resume or resync (protocol.md §5).
//   - patchsize: one garden with --bodies bodies; bytes of a one-body patch
//     StateUpdate against the full state.
//
// Targets (--target): ours, centrifuge (JSON protocol of
// github.com/centrifugal/centrifuge, a channel per garden) and socketio
// (Engine.IO v4 / Socket.IO v5 text framing, a room per garden); the peers
// support idle, storm, fanout and onegarden, see tools/peers.
//
// Tokens are HS256, minted with $JWT_SECRET (auth.DevSecret when unset), or
// fetched from POST /api/auth/dev-login with --dev-login. With --rich (on by
// default for onegarden, patchsize and busy active or fanout runs) the
// tool saves rich states, which only operators may do, so it mints operator
// tokens ("role": "operator"); dev-login cannot, and --dev-login with
// --rich is refused.
//
// --spawn starts the server itself (placeholders {addr}, {port}, {tmp}),
// samples its CPU and RSS, can take a pprof CPU profile (--pprof-out) and
// restarts it for the reconnect scenario. A progress line goes to stderr
// once per second, the report to stdout, --json and --html to files.
//
// The tool shares the machine with the server: one reading goroutine per
// connection, pooled read buffers, frames scanned for the few fields needed
// (jsonscan.go) instead of decoded, and writes from a small worker pool.
package main
