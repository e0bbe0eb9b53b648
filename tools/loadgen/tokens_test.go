package main

import (
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/cosmic-gardener/realtime/server/auth"
)

// TestTokenSourceOperator: --rich saves states, which only operators may
// do, so its tokens carry the operator claim; other runs get players'.
func TestTokenSourceOperator(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{HS256Secret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	for _, operator := range []bool{false, true} {
		ts, err := newTokenSource(testSecret, false, operator, "ws://127.0.0.1:1/api/ws", http.DefaultClient)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.token("lg-1")
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(tok)
		if err != nil || c.Operator != operator || c.UserID != "lg-1" {
			t.Errorf("operator %v: claims %+v, %v", operator, c, err)
		}
	}
	if _, err := newTokenSource("", true, true, "ws://127.0.0.1:1/api/ws", http.DefaultClient); !errors.Is(err, errDevLoginRich) {
		t.Errorf("dev-login with operator tokens: %v, want errDevLoginRich", err)
	}
}

// TestFlagsRichWithDevLogin: --rich, asked for or implied by the scenario,
// cannot use dev-login tokens against our server.
func TestFlagsRichWithDevLogin(t *testing.T) {
	tests := []struct {
		args []string
		fail bool
	}{
		{[]string{"--scenario", "idle", "--dev-login"}, false},
		{[]string{"--scenario", "idle", "--rich"}, false},
		{[]string{"--scenario", "idle", "--rich", "--dev-login"}, true},
		{[]string{"--scenario", "onegarden", "--dev-login"}, true},
		{[]string{"--scenario", "patchsize", "--dev-login"}, true},
		{[]string{"--scenario", "onegarden", "--dev-login", "--target", "centrifuge"}, false},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if (err != nil) != tt.fail || (tt.fail && !errors.Is(err, errDevLoginRich)) {
			t.Errorf("%q: %v, want failure %v", tt.args, err, tt.fail)
		}
	}
}
