// Package rules holds the deterministic game rules: what each action does to
// a garden, what it costs, how resources grow, and which client-supplied
// states are acceptable.
//
// Every function is pure: the caller passes the current time (Unix
// milliseconds) and the action id, so the server and the browser's offline
// predictions reach the same result for the same inputs. A refused action
// is a *Rejection (sent as ActionResult{success:false}); any other error is
// a bug.
package rules
