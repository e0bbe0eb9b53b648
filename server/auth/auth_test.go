package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	testNow    = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	testSecret = []byte("test-secret-0123456789abcdef-0123456789")
)

func fixedClock() time.Time { return testNow }

// claims returns a valid claim set at testNow, with edits applied; a nil
// value deletes the claim.
func claims(edits map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub": "alice",
		"iat": testNow.Unix(),
		"exp": testNow.Add(time.Hour).Unix(),
	}
	for k, v := range edits {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", m.Alg(), err)
	}
	return s
}

func pemPKIX(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

type testKeys struct {
	rsa, rsaOther *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	rsaPEM, ecPEM []byte
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.rsaOther, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	k.rsaPEM = pemPKIX(t, &k.rsa.PublicKey)
	k.ecPEM = pemPKIX(t, &k.ec.PublicKey)
	return k
}

func mustVerifier(t *testing.T, cfg Config) *Verifier {
	t.Helper()
	if cfg.Clock == nil {
		cfg.Clock = fixedClock
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

// rawToken assembles a token from a literal header, claims and signature.
func rawToken(header string, c jwt.MapClaims, sig string) string {
	p, _ := json.Marshal(c)
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc(p) + "." + sig
}

func TestVerify(t *testing.T) {
	k := newTestKeys(t)
	hsOnly := mustVerifier(t, Config{HS256Secret: testSecret})
	hsRSA := mustVerifier(t, Config{HS256Secret: testSecret, PublicKeyPEM: k.rsaPEM})
	rsaOnly := mustVerifier(t, Config{PublicKeyPEM: k.rsaPEM})
	ecOnly := mustVerifier(t, Config{PublicKeyPEM: k.ecPEM})
	leeway1s := mustVerifier(t, Config{HS256Secret: testSecret, Leeway: time.Second})
	maxSub4 := mustVerifier(t, Config{HS256Secret: testSecret, MaxSubjectBytes: 4})

	hs := func(edits map[string]any) string { return sign(t, jwt.SigningMethodHS256, testSecret, claims(edits)) }
	valid := hs(nil)
	tampered := func() string {
		parts := strings.Split(valid, ".")
		other := strings.Split(hs(map[string]any{"sub": "mallory"}), ".")
		return parts[0] + "." + other[1] + "." + parts[2]
	}()
	sec := func(d time.Duration) int64 { return testNow.Add(d).Unix() }

	tests := []struct {
		name     string
		v        *Verifier
		token    string
		wantCode string // "" means accepted
		wantSub  string
	}{
		{"valid HS256", hsOnly, valid, "", "alice"},
		{"valid HS256 without iat", hsOnly, hs(map[string]any{"iat": nil}), "", "alice"},
		{"valid HS256 on verifier with RSA key", hsRSA, valid, "", "alice"},
		{"valid RS256", hsRSA, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), "", "alice"},
		{"valid RS256 key only", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), "", "alice"},
		{"valid ES256", ecOnly, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), "", "alice"},
		{"unicode sub", hsOnly, hs(map[string]any{"sub": "jürgen-✓"}), "", "jürgen-✓"},
		{"sub at max length", hsOnly, hs(map[string]any{"sub": strings.Repeat("a", 128)}), "", strings.Repeat("a", 128)},

		{"empty token", hsOnly, "", CodeRequired, ""},

		{"expired", hsOnly, hs(map[string]any{"exp": sec(-10 * time.Second)}), CodeExpired, ""},
		{"expired within default leeway", hsOnly, hs(map[string]any{"exp": sec(-3 * time.Second)}), "", "alice"},
		{"expired beyond 1s leeway", leeway1s, hs(map[string]any{"exp": sec(-3 * time.Second)}), CodeExpired, ""},
		{"nbf in future", hsOnly, hs(map[string]any{"nbf": sec(10 * time.Second)}), CodeInvalid, ""},
		{"nbf within leeway", hsOnly, hs(map[string]any{"nbf": sec(3 * time.Second)}), "", "alice"},
		{"iat in future", hsOnly, hs(map[string]any{"iat": sec(10 * time.Second)}), CodeInvalid, ""},
		{"iat within leeway", hsOnly, hs(map[string]any{"iat": sec(3 * time.Second)}), "", "alice"},
		{"expired and nbf in future", hsOnly, hs(map[string]any{"exp": sec(-time.Hour), "nbf": sec(time.Hour)}), CodeInvalid, ""},

		{"missing sub", hsOnly, hs(map[string]any{"sub": nil}), CodeInvalid, ""},
		{"empty sub", hsOnly, hs(map[string]any{"sub": ""}), CodeInvalid, ""},
		{"numeric sub", hsOnly, hs(map[string]any{"sub": 42}), CodeInvalid, ""},
		{"control char in sub", hsOnly, hs(map[string]any{"sub": "al\x07ice"}), CodeInvalid, ""},
		{"C1 control char in sub", hsOnly, hs(map[string]any{"sub": "al\u0085ice"}), CodeInvalid, ""},
		{"sub too long", hsOnly, hs(map[string]any{"sub": strings.Repeat("a", 129)}), CodeInvalid, ""},
		{"sub over custom max", maxSub4, valid, CodeInvalid, ""},
		{"missing exp", hsOnly, hs(map[string]any{"exp": nil}), CodeInvalid, ""},
		{"exp not a number", hsOnly, hs(map[string]any{"exp": "tomorrow"}), CodeInvalid, ""},

		{"alg none", hsOnly, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claims(nil)), CodeInvalid, ""},
		{"alg NONE hand-made", hsOnly, rawToken(`{"alg":"NONE","typ":"JWT"}`, claims(nil), ""), CodeInvalid, ""},
		{"alg missing", hsOnly, rawToken(`{"typ":"JWT"}`, claims(nil), ""), CodeInvalid, ""},
		{"HS512 same secret", hsOnly, sign(t, jwt.SigningMethodHS512, testSecret, claims(nil)), CodeInvalid, ""},
		{"HS384 same secret", hsOnly, sign(t, jwt.SigningMethodHS384, testSecret, claims(nil)), CodeInvalid, ""},
		{"wrong secret", hsOnly, sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdef-xyz"), claims(nil)), CodeInvalid, ""},
		{"tampered payload", hsOnly, tampered, CodeInvalid, ""},
		{"garbage", hsOnly, "garbage", CodeInvalid, ""},
		{"three garbage segments", hsOnly, "a.b.c", CodeInvalid, ""},
		{"too long", hsOnly, valid + strings.Repeat("A", MaxTokenBytes), CodeInvalid, ""},
		{"RS256 without public key", hsOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(nil)), CodeInvalid, ""},
		{"RS256 other key", hsRSA, sign(t, jwt.SigningMethodRS256, k.rsaOther, claims(nil)), CodeInvalid, ""},
		{"PS256 with configured key", hsRSA, sign(t, jwt.SigningMethodPS256, k.rsa, claims(nil)), CodeInvalid, ""},
		{"ES256 with RSA key configured", hsRSA, sign(t, jwt.SigningMethodES256, k.ec, claims(nil)), CodeInvalid, ""},
		{"HS256 without secret", rsaOnly, valid, CodeInvalid, ""},
		{"expired RS256", rsaOnly, sign(t, jwt.SigningMethodRS256, k.rsa, claims(map[string]any{"exp": sec(-time.Minute)})), CodeExpired, ""},

		// RS256/HS256 key confusion: the attacker HMACs with the public
		// key's bytes. Keys are chosen by alg, so this never verifies.
		{"key confusion RSA PEM, no secret", rsaOnly, sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)), CodeInvalid, ""},
		{"key confusion RSA PEM, with secret", hsRSA, sign(t, jwt.SigningMethodHS256, k.rsaPEM, claims(nil)), CodeInvalid, ""},
		{"key confusion RSA DER", hsRSA, sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey), claims(nil)), CodeInvalid, ""},
		{"key confusion EC PEM", ecOnly, sign(t, jwt.SigningMethodHS256, k.ecPEM, claims(nil)), CodeInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(tt.token)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got.UserID != tt.wantSub {
					t.Errorf("UserID = %q, want %q", got.UserID, tt.wantSub)
				}
				if got.ExpiresAt.IsZero() {
					t.Error("ExpiresAt is zero")
				}
				return
			}
			t.Logf("refused: %v", err)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("Verify error = %v (%T), want *Error", err, err)
			}
			if ae.Code != tt.wantCode {
				t.Errorf("code = %q, want %q (%v)", ae.Code, tt.wantCode, err)
			}
			if got != (Claims{}) {
				t.Errorf("claims on error = %+v, want zero", got)
			}
			if ae.Message == "" {
				t.Error("empty message")
			}
			if len(tt.token) > 8 && (strings.Contains(ae.Message, tt.token) || strings.Contains(ae.Error(), tt.token)) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestVerifyClaims(t *testing.T) {
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	got, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, claims(nil)))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{UserID: "alice", ExpiresAt: testNow.Add(time.Hour), IssuedAt: testNow}
	if !got.ExpiresAt.Equal(want.ExpiresAt) || !got.IssuedAt.Equal(want.IssuedAt) || got.UserID != want.UserID {
		t.Errorf("claims = %+v, want %+v", got, want)
	}
}

// TestVerifyOperator: only "role": "operator", exactly, makes an operator;
// any other role still verifies as a player's token.
func TestVerifyOperator(t *testing.T) {
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	tests := []struct {
		name string
		role any // nil: no role claim
		want bool
	}{
		{"no role", nil, false},
		{"operator", "operator", true},
		{"another case", "Operator", false},
		{"padded", " operator", false},
		{"another role", "admin", false},
		{"empty string", "", false},
		{"a number", 1, false},
		{"a boolean", true, false},
		{"a list holding operator", []string{"operator"}, false},
		{"an object", map[string]any{"role": "operator"}, false},
		{"null", json.RawMessage("null"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := claims(nil)
			if tt.role != nil {
				c["role"] = tt.role
			}
			got, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, c))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Operator != tt.want || got.UserID != "alice" {
				t.Errorf("claims = %+v, want Operator %v", got, tt.want)
			}
		})
	}
}

func TestVerifyConcurrent(t *testing.T) {
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	tok := sign(t, jwt.SigningMethodHS256, testSecret, claims(nil))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := v.Verify(tok); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestNewVerifierConfig(t *testing.T) {
	k := newTestKeys(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	wrongType := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}})
	badDER := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1, 2, 3}})

	tests := []struct {
		name        string
		cfg         Config
		wantErr     bool
		wantMethods []string
	}{
		{"secret only", Config{HS256Secret: testSecret}, false, []string{"HS256"}},
		{"secret exactly 32 bytes", Config{HS256Secret: bytes.Repeat([]byte("k"), 32)}, false, []string{"HS256"}},
		{"secret and RSA", Config{HS256Secret: testSecret, PublicKeyPEM: k.rsaPEM}, false, []string{"HS256", "RS256"}},
		{"RSA PKCS1 PEM", Config{PublicKeyPEM: pkcs1}, false, []string{"RS256"}},
		{"EC P-256", Config{PublicKeyPEM: k.ecPEM}, false, []string{"ES256"}},
		{"leeway 5s", Config{HS256Secret: testSecret, Leeway: 5 * time.Second}, false, []string{"HS256"}},
		{"max subject set", Config{HS256Secret: testSecret, MaxSubjectBytes: 64}, false, []string{"HS256"}},

		{"no key", Config{}, true, nil},
		{"short secret", Config{HS256Secret: []byte("too-short")}, true, nil},
		{"31-byte secret", Config{HS256Secret: bytes.Repeat([]byte("k"), 31)}, true, nil},
		{"leeway 10s", Config{HS256Secret: testSecret, Leeway: 10 * time.Second}, true, nil},
		{"negative leeway", Config{HS256Secret: testSecret, Leeway: -time.Second}, true, nil},
		{"negative max subject", Config{HS256Secret: testSecret, MaxSubjectBytes: -1}, true, nil},
		{"not PEM", Config{HS256Secret: testSecret, PublicKeyPEM: []byte("hello")}, true, nil},
		{"wrong PEM type", Config{PublicKeyPEM: wrongType}, true, nil},
		{"bad DER", Config{PublicKeyPEM: badDER}, true, nil},
		{"RSA 1024", Config{PublicKeyPEM: pemPKIX(t, &small.PublicKey)}, true, nil},
		{"EC P-384", Config{PublicKeyPEM: pemPKIX(t, &p384.PublicKey)}, true, nil},
		{"Ed25519", Config{PublicKeyPEM: pemPKIX(t, edPub)}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("NewVerifier succeeded, want error (methods %v)", v.Methods())
				}
				return
			}
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			if got := fmt.Sprint(v.Methods()); got != fmt.Sprint(tt.wantMethods) {
				t.Errorf("Methods = %s, want %v", got, tt.wantMethods)
			}
		})
	}
}

func TestVerifierCopiesSecret(t *testing.T) {
	secret := bytes.Clone(testSecret)
	v := mustVerifier(t, Config{HS256Secret: secret})
	secret[0] ^= 0xff
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, claims(nil))); err != nil {
		t.Fatalf("Verify after caller mutated secret: %v", err)
	}
}

func TestIssuer(t *testing.T) {
	iss, err := NewIssuer(testSecret, fixedClock)
	if err != nil {
		t.Fatal(err)
	}
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	tok, err := iss.Issue("bob", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(tok)
	if err != nil {
		t.Fatalf("Verify issued token: %v", err)
	}
	if got.UserID != "bob" || !got.ExpiresAt.Equal(testNow.Add(10*time.Minute)) || !got.IssuedAt.Equal(testNow) {
		t.Errorf("claims = %+v", got)
	}

	if got.Operator {
		t.Error("Issue minted an operator token")
	}
	op, err := iss.IssueOperator("bob", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := v.Verify(op); err != nil || !got.Operator || got.UserID != "bob" {
		t.Errorf("IssueOperator: claims %+v, %v; want an operator bob", got, err)
	}

	later := mustVerifier(t, Config{HS256Secret: testSecret, Clock: func() time.Time { return testNow.Add(11 * time.Minute) }})
	if _, err := later.Verify(tok); err == nil || err.(*Error).Code != CodeExpired {
		t.Errorf("Verify after ttl: %v, want auth_expired", err)
	}

	devIss, err := NewIssuer([]byte(DevSecret), fixedClock)
	if err != nil {
		t.Fatalf("NewIssuer(DevSecret): %v", err)
	}
	if _, err := devIss.Issue("alice", time.Hour); err != nil {
		t.Errorf("Issue with DevSecret: %v", err)
	}

	if _, err := NewIssuer([]byte("short"), nil); err == nil {
		t.Error("NewIssuer with short secret succeeded")
	}
	for _, tc := range []struct {
		name string
		sub  string
		ttl  time.Duration
	}{
		{"empty user", "", time.Hour},
		{"control char", "a\nb", time.Hour},
		{"user too long", strings.Repeat("x", 129), time.Hour},
		{"zero ttl", "bob", 0},
		{"negative ttl", "bob", -time.Hour},
		{"sub-second ttl", "bob", time.Millisecond},
	} {
		if _, err := iss.Issue(tc.sub, tc.ttl); err == nil {
			t.Errorf("%s: Issue succeeded, want error", tc.name)
		}
		if _, err := iss.IssueOperator(tc.sub, tc.ttl); err == nil {
			t.Errorf("%s: IssueOperator succeeded, want error", tc.name)
		}
	}
}

func TestFromRequest(t *testing.T) {
	tests := []struct {
		name     string
		target   string
		headers  []string // Authorization values
		wantTok  string
		wantSrc  Source
		wantCode string
	}{
		{"header Bearer", "/api/ws", []string{"Bearer abc.def.ghi"}, "abc.def.ghi", SourceHeader, ""},
		{"header bearer lowercase", "/api/ws", []string{"bearer abc.def.ghi"}, "abc.def.ghi", SourceHeader, ""},
		{"header BEARER", "/api/ws", []string{"BEARER abc.def.ghi"}, "abc.def.ghi", SourceHeader, ""},
		{"header wins over query", "/api/ws?token=fromquery", []string{"Bearer fromheader"}, "fromheader", SourceHeader, ""},
		{"Basic", "/api/ws", []string{"Basic x"}, "", SourceHeader, CodeInvalid},
		{"Bearer without token", "/api/ws", []string{"Bearer"}, "", SourceHeader, CodeInvalid},
		{"Bearer and space", "/api/ws", []string{"Bearer "}, "", SourceHeader, CodeInvalid},
		{"Bearer two spaces", "/api/ws", []string{"Bearer  abc"}, "", SourceHeader, CodeInvalid},
		{"Bearer token with space", "/api/ws", []string{"Bearer abc def"}, "", SourceHeader, CodeInvalid},
		{"token without scheme", "/api/ws", []string{"abc.def.ghi"}, "", SourceHeader, CodeInvalid},
		{"empty header", "/api/ws?token=q", []string{""}, "", SourceHeader, CodeInvalid},
		{"two headers", "/api/ws", []string{"Bearer a", "Bearer b"}, "", SourceHeader, CodeInvalid},
		{"query token", "/api/ws?token=abc.def.ghi&session=s1", nil, "abc.def.ghi", SourceQuery, ""},
		{"query token escaped", "/api/ws?token=a%2Bb", nil, "a+b", SourceQuery, ""},
		{"query token empty", "/api/ws?token=", nil, "", SourceQuery, ""},
		{"query token repeated", "/api/ws?token=a&token=b", nil, "", SourceQuery, CodeInvalid},
		{"none", "/api/ws?session=s1", nil, "", SourceNone, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for _, h := range tt.headers {
				r.Header.Add("Authorization", h)
			}
			tok, src, err := FromRequest(r)
			if tok != tt.wantTok || src != tt.wantSrc {
				t.Errorf("got (%q, %v), want (%q, %v)", tok, src, tt.wantTok, tt.wantSrc)
			}
			if tt.wantCode == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
				return
			}
			var ae *Error
			if !errors.As(err, &ae) || ae.Code != tt.wantCode {
				t.Errorf("err = %v, want *Error %s", err, tt.wantCode)
			}
		})
	}
}

func TestEmptyQueryTokenIsRequired(t *testing.T) {
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	r := httptest.NewRequest(http.MethodGet, "/api/ws?token=", nil)
	tok, _, err := FromRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok); err == nil || err.(*Error).Code != CodeRequired {
		t.Errorf("Verify(%q) = %v, want auth_required", tok, err)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/api/ws?token=secret.jwt.value&session=s1&last_seq=4", "/api/ws?token=REDACTED&session=s1&last_seq=4"},
		{"/api/ws?session=s1&token=secret.jwt.value", "/api/ws?session=s1&token=REDACTED"},
		{"/api/ws?token=a&token=b", "/api/ws?token=REDACTED&token=REDACTED"},
		{"/api/ws?tok%65n=secret.jwt.value", "/api/ws?tok%65n=REDACTED"},
		{"/api/ws?token", "/api/ws?token=REDACTED"},
		{"/api/ws?%zz=secret.jwt.value", "/api/ws?%zz=REDACTED"},
		{"/api/ws?tokens=keep&x=1", "/api/ws?tokens=keep&x=1"},
		{"/api/ws", "/api/ws"},
		{"https://example.com/api/ws?token=secret.jwt.value#frag", "/api/ws?token=REDACTED"},
		{"/a%20b?token=secret.jwt.value", "/a%20b?token=REDACTED"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := RedactURL(u); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactURL(u), "secret") {
			t.Errorf("RedactURL(%q) leaks the token", tt.in)
		}
	}
	if got := RedactURL(nil); got != "" {
		t.Errorf("RedactURL(nil) = %q", got)
	}
	u, _ := url.Parse("/api/ws?token=secret")
	_ = RedactURL(u)
	if u.RawQuery != "token=secret" {
		t.Errorf("RedactURL modified its argument: %q", u.RawQuery)
	}
}

func TestTokenRedaction(t *testing.T) {
	const raw = "eyJhbGciOiJIUzI1NiJ9.secret-payload.sig"
	tok := Token(raw)

	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logger.Info("connect", "token", tok, slog.Group("req", "token", tok), slog.Any("any", tok))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if line["token"] != Redacted {
		t.Errorf("token logged as %v, want %q", line["token"], Redacted)
	}
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("connect", "token", tok)
	for _, s := range []string{
		buf.String(),
		fmt.Sprint(tok), fmt.Sprintf("%v %s %q %+v %#v", tok, tok, tok, tok, tok),
		fmt.Sprintf("%v", struct{ T Token }{tok}),
	} {
		if strings.Contains(s, "secret-payload") {
			t.Errorf("token leaked: %s", s)
		}
	}
	if string(tok) != raw {
		t.Error("string(Token) does not give the raw token back")
	}
}

func TestWriteHTTPError(t *testing.T) {
	for _, e := range []*Error{
		{Code: CodeInvalid, Message: "token is malformed", Err: errors.New("cause")},
		{Code: CodeExpired, Message: "token has expired"},
		nil,
	} {
		rec := httptest.NewRecorder()
		WriteHTTPError(rec, e)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("status = %d, want 401", rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		if rec.Header().Get("WWW-Authenticate") == "" {
			t.Error("no WWW-Authenticate")
		}
		var body map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("body %q: %v", rec.Body.String(), err)
		}
		want := map[string]string{"code": CodeRequired, "message": msgRequired}
		if e != nil {
			want = map[string]string{"code": e.Code, "message": e.Message}
		}
		if fmt.Sprint(body) != fmt.Sprint(want) {
			t.Errorf("body = %v, want %v", body, want)
		}
	}
}

func TestErrorUnwrap(t *testing.T) {
	v := mustVerifier(t, Config{HS256Secret: testSecret})
	_, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, claims(map[string]any{"exp": testNow.Add(-time.Hour).Unix()})))
	if !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("errors.Is(%v, jwt.ErrTokenExpired) = false", err)
	}
	if !strings.HasPrefix(err.Error(), "auth: auth_expired: ") {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestSourceString(t *testing.T) {
	for s, want := range map[Source]string{SourceNone: "none", SourceHeader: "header", SourceQuery: "query", Source(9): "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

// TestKeyForByAlg checks the second line of defence behind the pinned method
// list: the keyfunc hands out a key only for its own, configured algorithm.
func TestKeyForByAlg(t *testing.T) {
	k := newTestKeys(t)
	rsaOnly := mustVerifier(t, Config{PublicKeyPEM: k.rsaPEM})
	all := mustVerifier(t, Config{HS256Secret: testSecret, PublicKeyPEM: k.ecPEM})
	tests := []struct {
		v       *Verifier
		m       jwt.SigningMethod
		wantKey bool
	}{
		{rsaOnly, jwt.SigningMethodHS256, false},
		{rsaOnly, jwt.SigningMethodRS256, true},
		{rsaOnly, jwt.SigningMethodES256, false},
		{rsaOnly, jwt.SigningMethodNone, false},
		{all, jwt.SigningMethodHS256, true},
		{all, jwt.SigningMethodES256, true},
		{all, jwt.SigningMethodRS256, false},
		{all, jwt.SigningMethodHS512, false},
	}
	for _, tt := range tests {
		key, err := tt.v.keyFor(&jwt.Token{Method: tt.m})
		if (err == nil) != tt.wantKey {
			t.Errorf("%v keyFor(%s) err = %v, want key %v", tt.v.Methods(), tt.m.Alg(), err, tt.wantKey)
		}
		if _, isBytes := key.([]byte); isBytes && tt.m != jwt.SigningMethodHS256 {
			t.Errorf("keyFor(%s) returned HMAC bytes", tt.m.Alg())
		}
	}
}
