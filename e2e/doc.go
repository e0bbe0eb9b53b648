// Package e2e holds the browser end-to-end tests: the built server binary
// runs as a subprocess on a free port with its own database, Debian's
// chromium (driven by playwright-go) plays the player's devices, and a TCP
// proxy owned by each test injects real network faults.
//
// Run with `make test-e2e` (which builds the server and the web client and
// installs the driver), or `go test ./e2e/` once they exist. Tests skip
// when the browser, the driver or the build is missing, unless E2E=1 is set
// (as `make test` does), where a missing piece is a failure.
package e2e
