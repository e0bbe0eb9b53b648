package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

const (
	// MinSecretBytes is the shortest HS256 secret accepted (RFC 7518 §3.2:
	// a key of at least the hash output size).
	MinSecretBytes = 32
	// MaxLeeway is the largest clock-skew allowance protocol.md §1 permits.
	MaxLeeway = 5 * time.Second
	// DefaultLeeway is used when Config.Leeway is zero.
	DefaultLeeway = 5 * time.Second
	// DefaultMaxSubjectBytes is used when Config.MaxSubjectBytes is zero.
	DefaultMaxSubjectBytes = 128
	// MinRSABits is the smallest RSA public key accepted for RS256.
	MinRSABits = 2048
	// MaxTokenBytes bounds the token length Verify will parse; longer tokens
	// are auth_invalid without being decoded.
	MaxTokenBytes = 8 << 10
)

// Fixed client-safe messages; none includes anything taken from the token.
const (
	msgRequired    = "a bearer token is required"
	msgMalformed   = "token is malformed"
	msgSignature   = "token signature or algorithm is not accepted"
	msgMissing     = "token lacks a required claim (sub and exp are required)"
	msgNotYet      = "token is not valid yet"
	msgFutureIat   = "token is issued in the future"
	msgExpired     = "token has expired"
	msgSubject     = "token subject is not a valid user id"
	msgInvalid     = "token is invalid"
	msgTooLong     = "token is too long"
	msgBadHeader   = `Authorization header must be "Bearer <token>"`
	msgQueryRepeat = "the token query parameter is given more than once"
)

// errAlgNotConfigured is the keyfunc's refusal; it is the cause of an
// auth_invalid Error.
var errAlgNotConfigured = errors.New("signing algorithm not configured")

// Config configures a Verifier. A zero field means its documented default.
type Config struct {
	// HS256Secret is the shared HMAC secret (JWT_SECRET). It must be at
	// least MinSecretBytes long. Required unless PublicKeyPEM is set; when
	// empty, HS256 tokens are refused. NewVerifier copies it.
	HS256Secret []byte
	// PublicKeyPEM is an optional PEM-encoded public key: a PKIX
	// "PUBLIC KEY" (RSA or ECDSA P-256) or a PKCS#1 "RSA PUBLIC KEY". An RSA
	// key (at least MinRSABits) enables RS256; a P-256 key enables ES256.
	// Other key types and curves are a configuration error.
	PublicKeyPEM []byte
	// Leeway is the clock skew allowed on exp, nbf and iat. Zero means
	// DefaultLeeway (5s); negative values or values above MaxLeeway are an
	// error.
	Leeway time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// MaxSubjectBytes bounds the length of sub in bytes. Zero means
	// DefaultMaxSubjectBytes (128); negative is an error.
	MaxSubjectBytes int
}

// Claims is what a verified token grants.
type Claims struct {
	// UserID is the token's sub: non-empty, valid UTF-8, no control
	// characters, at most Config.MaxSubjectBytes bytes.
	UserID string
	// ExpiresAt is the token's exp (always present in a verified token).
	ExpiresAt time.Time
	// IssuedAt is the token's iat, or the zero Time when absent.
	IssuedAt time.Time
	// Operator is true when the token carries the claim
	// "role": "operator" (RoleOperator), exactly that string. It allows
	// what only the people running the server may do, such as a
	// SaveGame with a state (docs/protocol.md). A missing role, any other
	// string or a value that is not a string leaves it false; such a token
	// is still a valid player token.
	Operator bool
}

// RoleOperator is the value of the "role" claim that makes a token an
// operator's (Claims.Operator). Dev-login never issues it.
const RoleOperator = "operator"

// tokenClaims is what Verify reads from a token: the registered claims and
// the project's "role", kept raw so that a role of another JSON type does
// not make the token malformed.
type tokenClaims struct {
	jwt.RegisteredClaims
	Role json.RawMessage `json:"role,omitempty"`
}

// isOperator reports whether a raw "role" claim is the string
// RoleOperator.
func isOperator(role json.RawMessage) bool {
	var s string
	return len(role) > 0 && json.Unmarshal(role, &s) == nil && s == RoleOperator
}

// Verifier checks JWTs against a pinned set of algorithms and keys. It is
// immutable after NewVerifier and safe for concurrent use.
type Verifier struct {
	secret  []byte
	rsaKey  *rsa.PublicKey
	ecKey   *ecdsa.PublicKey
	maxSub  int
	methods []string
	parser  *jwt.Parser
}

// NewVerifier validates cfg, fills its defaults and returns a Verifier.
func NewVerifier(cfg Config) (*Verifier, error) {
	v := &Verifier{maxSub: cfg.MaxSubjectBytes}
	if len(cfg.HS256Secret) > 0 {
		if len(cfg.HS256Secret) < MinSecretBytes {
			return nil, fmt.Errorf("auth: HS256 secret is %d bytes, need at least %d", len(cfg.HS256Secret), MinSecretBytes)
		}
		v.secret = append([]byte(nil), cfg.HS256Secret...)
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if len(cfg.PublicKeyPEM) > 0 {
		if err := v.setPublicKey(cfg.PublicKeyPEM); err != nil {
			return nil, fmt.Errorf("auth: public key: %w", err)
		}
	}
	if len(v.methods) == 0 {
		return nil, errors.New("auth: no key configured: set an HS256 secret or a public key")
	}
	leeway := cfg.Leeway
	switch {
	case leeway == 0:
		leeway = DefaultLeeway
	case leeway < 0 || leeway > MaxLeeway:
		return nil, fmt.Errorf("auth: leeway %v outside (0, %v]", leeway, MaxLeeway)
	}
	switch {
	case v.maxSub == 0:
		v.maxSub = DefaultMaxSubjectBytes
	case v.maxSub < 0:
		return nil, fmt.Errorf("auth: MaxSubjectBytes %d is negative", v.maxSub)
	}
	clock := cfg.Clock
	if clock == nil {
		clock = time.Now
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(clock),
		jwt.WithStrictDecoding(),
	)
	return v, nil
}

func (v *Verifier) setPublicKey(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil {
		return errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		return fmt.Errorf("PEM block type %q, want \"PUBLIC KEY\" or \"RSA PUBLIC KEY\"", block.Type)
	}
	if err != nil {
		return err
	}
	switch k := key.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return fmt.Errorf("RSA key is %d bits, need at least %d", bits, MinRSABits)
		}
		v.rsaKey = k
		v.methods = append(v.methods, jwt.SigningMethodRS256.Alg())
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return fmt.Errorf("ECDSA curve %s, only P-256 (ES256) is supported", k.Curve.Params().Name)
		}
		v.ecKey = k
		v.methods = append(v.methods, jwt.SigningMethodES256.Alg())
	default:
		return fmt.Errorf("unsupported key type %T", key)
	}
	return nil
}

// Methods returns the pinned algorithms, e.g. ["HS256", "RS256"].
func (v *Verifier) Methods() []string { return append([]string(nil), v.methods...) }

// keyFor returns the key for the token's algorithm, and only for a
// configured one. Choosing the key by algorithm (never "the key") is what
// makes RS256/HS256 key confusion impossible: an HS256 token is only ever
// checked against the HMAC secret, never against the public key's bytes.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	switch t.Method {
	case jwt.SigningMethodHS256:
		if v.secret != nil {
			return v.secret, nil
		}
	case jwt.SigningMethodRS256:
		if v.rsaKey != nil {
			return v.rsaKey, nil
		}
	case jwt.SigningMethodES256:
		if v.ecKey != nil {
			return v.ecKey, nil
		}
	}
	return nil, errAlgNotConfigured
}

// Verify checks token and returns its claims. Every error is an *Error:
// an empty token is auth_required; an expired one (beyond the leeway)
// auth_expired; anything else wrong (malformed, too long, bad signature,
// alg none or not configured, missing sub or exp, bad sub, nbf or iat in the
// future beyond the leeway) auth_invalid.
func (v *Verifier) Verify(token string) (Claims, error) {
	if token == "" {
		return Claims{}, newError(CodeRequired, msgRequired, nil)
	}
	if len(token) > MaxTokenBytes {
		return Claims{}, newError(CodeInvalid, msgTooLong, nil)
	}
	var tc tokenClaims
	if _, err := v.parser.ParseWithClaims(token, &tc, v.keyFor); err != nil {
		return Claims{}, classify(err)
	}
	rc := &tc.RegisteredClaims
	if rc.Subject == "" {
		return Claims{}, newError(CodeInvalid, msgMissing, errors.New("sub is missing or empty"))
	}
	if err := validSubject(rc.Subject, v.maxSub); err != nil {
		return Claims{}, newError(CodeInvalid, msgSubject, err)
	}
	if rc.ExpiresAt == nil { // WithExpirationRequired guarantees it; stay safe.
		return Claims{}, newError(CodeInvalid, msgMissing, nil)
	}
	c := Claims{UserID: rc.Subject, ExpiresAt: rc.ExpiresAt.Time, Operator: isOperator(tc.Role)}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time
	}
	return c, nil
}

// classify maps the jwt library's errors to contract codes. Expiry is
// reported only when nothing else is wrong: a token that is also not valid
// yet or lacks a claim would not become acceptable by being renewed as is.
func classify(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return newError(CodeInvalid, msgMalformed, err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return newError(CodeInvalid, msgSignature, err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return newError(CodeInvalid, msgMissing, err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return newError(CodeInvalid, msgNotYet, err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return newError(CodeInvalid, msgFutureIat, err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return newError(CodeExpired, msgExpired, err)
	default:
		return newError(CodeInvalid, msgInvalid, err)
	}
}

// validSubject applies the user-id rules of Config.MaxSubjectBytes.
func validSubject(sub string, maxBytes int) error {
	switch {
	case sub == "":
		return errors.New("sub is missing or empty")
	case len(sub) > maxBytes:
		return fmt.Errorf("sub is %d bytes, limit %d", len(sub), maxBytes)
	case !utf8.ValidString(sub):
		return errors.New("sub is not valid UTF-8")
	}
	for _, r := range sub {
		if unicode.IsControl(r) {
			return errors.New("sub contains a control character")
		}
	}
	return nil
}
