package auth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DevSecret is the fixed, public HS256 secret used only in development mode
// (DEV_MODE=1) when JWT_SECRET is not set, so that `make run`, dev-login and
// tools/token agree without setup. It is INSECURE: anyone can mint tokens
// with it. Never use it in production.
const DevSecret = "INSECURE-cosmic-gardener-dev-only-jwt-secret-do-not-deploy"

// Issuer mints HS256 tokens with sub, iat and exp (for dev-login, tests and
// tools/token), and with "role": "operator" for operators (IssueOperator).
// It is immutable and safe for concurrent use.
type Issuer struct {
	secret []byte
	clock  func() time.Time
}

// NewIssuer returns an Issuer signing with secret (at least MinSecretBytes;
// copied). A nil clock means time.Now.
func NewIssuer(secret []byte, clock func() time.Time) (*Issuer, error) {
	if len(secret) < MinSecretBytes {
		return nil, fmt.Errorf("auth: HS256 secret is %d bytes, need at least %d", len(secret), MinSecretBytes)
	}
	if clock == nil {
		clock = time.Now
	}
	return &Issuer{secret: append([]byte(nil), secret...), clock: clock}, nil
}

// Issue returns a player's token for userID valid for ttl from now. userID
// must obey the Verifier's default subject rules (non-empty, at most
// DefaultMaxSubjectBytes, valid UTF-8, no control characters); ttl must be
// at least one second, since JWT times have whole-second precision (iat and
// exp are truncated to the second).
func (i *Issuer) Issue(userID string, ttl time.Duration) (string, error) {
	return i.issue(userID, ttl, "")
}

// IssueOperator is Issue for an operator: the token also carries
// "role": "operator", so its Claims.Operator is true. It is for
// tools/token, the load generator and tests; dev-login must not call it,
// since anyone can log in there.
func (i *Issuer) IssueOperator(userID string, ttl time.Duration) (string, error) {
	return i.issue(userID, ttl, RoleOperator)
}

// issueClaims is what Issue signs; Role is omitted when empty.
type issueClaims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

func (i *Issuer) issue(userID string, ttl time.Duration, role string) (string, error) {
	if err := validSubject(userID, DefaultMaxSubjectBytes); err != nil {
		return "", fmt.Errorf("auth: issue: %w", err)
	}
	if ttl < time.Second {
		return "", errors.New("auth: issue: ttl must be at least 1s")
	}
	now := i.clock()
	claims := issueClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
		Role: role,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(i.secret)
	if err != nil {
		return "", fmt.Errorf("auth: issue: %w", err)
	}
	return s, nil
}
