// Command token mints an HS256 JWT for development and QA:
//
//	JWT_SECRET=... go run ./tools/token -sub alice -ttl 1h
//	go run ./tools/token -dev -sub alice
//	JWT_SECRET=... go run ./tools/token -sub alice -role operator -ttl 15m
//
// -role operator adds the claim "role": "operator", which lets the token's
// holder replace alice's garden with SaveGame and a state
// (docs/operations.md); without -role the token is a player's.
//
// It prints the token on stdout and nothing else, so that
// TOKEN=$(go run ./tools/token -dev -sub alice) works. The secret comes from
// JWT_SECRET, or with -dev from auth.DevSecret (-dev wins over JWT_SECRET).
// Usage errors (bad flags, missing -sub, no secret, bad secret) exit with 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cosmic-gardener/realtime/server/auth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is main without the process: getenv reads the environment. It returns
// the exit code: 0 on success, 2 on a usage error, 1 otherwise.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: token -sub USER [-ttl DURATION] [-role operator] [-dev]")
		fmt.Fprintln(stderr, "Prints an HS256 JWT signed with $JWT_SECRET (or the insecure dev secret with -dev).")
		fs.PrintDefaults()
	}
	sub := fs.String("sub", "", "user id (the token's sub claim); required")
	ttl := fs.Duration("ttl", time.Hour, "token lifetime, at least 1s")
	dev := fs.Bool("dev", false, "sign with the insecure development secret instead of $JWT_SECRET")
	role := fs.String("role", "", `"operator" for an operator's token (may SaveGame a state); empty for a player's`)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(msg string) int {
		fmt.Fprintln(stderr, "token: "+msg)
		fs.Usage()
		return 2
	}
	if fs.NArg() > 0 {
		return usage(fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	if *sub == "" {
		return usage("-sub is required")
	}
	if *ttl < time.Second {
		return usage(fmt.Sprintf("-ttl %v: must be at least 1s", *ttl))
	}
	issue := (*auth.Issuer).Issue
	switch *role {
	case "":
	case auth.RoleOperator:
		issue = (*auth.Issuer).IssueOperator
	default:
		// The server knows no other role; minting one would look like a
		// grant and be none.
		return usage(fmt.Sprintf("-role %q: want %q or nothing", *role, auth.RoleOperator))
	}
	secret := getenv("JWT_SECRET")
	if *dev {
		secret = auth.DevSecret
	}
	if secret == "" {
		return usage("no secret: set JWT_SECRET or pass -dev")
	}
	iss, err := auth.NewIssuer([]byte(secret), nil)
	if err != nil {
		fmt.Fprintf(stderr, "token: JWT_SECRET: %v\n", err)
		return 2
	}
	tok, err := issue(iss, *sub, *ttl)
	if err != nil {
		fmt.Fprintf(stderr, "token: %v\n", err)
		return 2
	}
	if _, err := fmt.Fprintln(stdout, tok); err != nil {
		fmt.Fprintf(stderr, "token: write: %v\n", err)
		return 1
	}
	return 0
}
