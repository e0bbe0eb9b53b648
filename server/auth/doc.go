// Package auth authenticates WebSocket clients with JWTs, as protocol.md §1
// specifies.
//
// A [Verifier] checks a token against a pinned set of algorithms: HS256 with
// the server's secret, plus RS256 or ES256 when a public key is configured.
// Every refusal is an [*Error] carrying one of the contract codes
// ([CodeRequired], [CodeInvalid], [CodeExpired]) and a message that is safe to
// send to clients. [FromRequest] finds the token in the Authorization header
// or the `token` query parameter and reports which, because the contract
// answers header clients with HTTP 401 ([WriteHTTPError]) and query clients
// with close code 4401 after the upgrade.
//
// Tokens never reach logs: [Token] redacts itself under slog and fmt, and
// [RedactURL] hides the `token` query parameter in any URL that is logged.
// An [Issuer] mints HS256 tokens for dev-login, tests and tools/token;
// [Issuer.IssueOperator] adds the claim "role": "operator"
// ([Claims.Operator]), which dev-login never does.
package auth
