package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cosmic-gardener/realtime/server/auth"
)

// tokenSource gives each user a JWT: minted with the HS256 secret, or
// fetched from POST /api/auth/dev-login (protocol.md §1).
type tokenSource struct {
	issuer   *auth.Issuer // nil with dev-login
	operator bool         // mint operator tokens ("role": "operator")
	loginURL string
	client   *http.Client
}

// newTokenSource uses secret, or dev-login on the server of wsURL.
// operator mints operator tokens, which a SaveGame with a state (--rich)
// needs; dev-login cannot give those.
func newTokenSource(secret string, devLogin, operator bool, wsURL string, client *http.Client) (*tokenSource, error) {
	if devLogin && operator {
		return nil, errDevLoginRich
	}
	if devLogin {
		u, err := url.Parse(wsURL)
		if err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		u.Scheme = strings.Replace(u.Scheme, "ws", "http", 1)
		u.Path, u.RawQuery = "/api/auth/dev-login", ""
		return &tokenSource{loginURL: u.String(), client: client}, nil
	}
	if secret == "" {
		secret = auth.DevSecret
	}
	iss, err := auth.NewIssuer([]byte(secret), nil)
	if err != nil {
		return nil, fmt.Errorf("JWT_SECRET: %w", err)
	}
	return &tokenSource{issuer: iss, operator: operator}, nil
}

// errDevLoginRich refuses --rich (set by some scenarios) with --dev-login.
var errDevLoginRich = errors.New("--rich (on by default for onegarden, patchsize and busy active or fanout runs) saves states, " +
	"which needs operator tokens; dev-login does not issue them: drop --dev-login so that tokens are minted with $JWT_SECRET")

// token returns a token for user valid for a day.
func (t *tokenSource) token(user string) (string, error) {
	if t.issuer != nil {
		if t.operator {
			return t.issuer.IssueOperator(user, 24*time.Hour)
		}
		return t.issuer.Issue(user, 24*time.Hour)
	}
	body, _ := json.Marshal(map[string]string{"user": user})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.loginURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("dev-login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("dev-login: HTTP %d (is the server in DEV_MODE?)", resp.StatusCode)
	}
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("dev-login: bad answer: %v", err)
	}
	return out.Token, nil
}
