package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// Source says where a request's token came from. It decides how a refusal
// is delivered (protocol.md §1): HTTP 401 for SourceHeader, close code 4401
// after the upgrade otherwise.
type Source int

const (
	// SourceNone: no Authorization header and no token query parameter.
	SourceNone Source = iota
	// SourceHeader: an Authorization header was present (valid or not).
	SourceHeader
	// SourceQuery: the token query parameter was present.
	SourceQuery
)

// String returns "none", "header" or "query", for logs.
func (s Source) String() string {
	switch s {
	case SourceNone:
		return "none"
	case SourceHeader:
		return "header"
	case SourceQuery:
		return "query"
	}
	return "unknown"
}

// QueryParam is the query parameter that carries a token (protocol.md §1).
const QueryParam = "token"

// FromRequest extracts the token from r. The Authorization header wins: if
// present, it must be exactly "Bearer <token>" (scheme case-insensitive, one
// space, a token without whitespace); anything else, including several
// Authorization headers, is an auth_invalid *Error with SourceHeader.
// Otherwise the token query parameter is used (given more than once, it is
// an auth_invalid *Error with SourceQuery; given empty, the token is "" and
// Verify answers auth_required). Otherwise it returns "", SourceNone, nil.
// It does not verify the token.
func FromRequest(r *http.Request) (token string, src Source, err error) {
	if vals, ok := r.Header["Authorization"]; ok {
		if len(vals) != 1 {
			return "", SourceHeader, newError(CodeInvalid, msgBadHeader, errors.New("several Authorization headers"))
		}
		tok, ok := parseBearer(vals[0])
		if !ok {
			return "", SourceHeader, newError(CodeInvalid, msgBadHeader, errors.New("header is not \"Bearer <token>\""))
		}
		return tok, SourceHeader, nil
	}
	if vals, ok := r.URL.Query()[QueryParam]; ok {
		if len(vals) != 1 {
			return "", SourceQuery, newError(CodeInvalid, msgQueryRepeat, nil)
		}
		return vals[0], SourceQuery, nil
	}
	return "", SourceNone, nil
}

// parseBearer accepts exactly "Bearer <token>" with a case-insensitive
// scheme (RFC 6750 §2.1, RFC 9110 §11.1).
func parseBearer(h string) (string, bool) {
	const scheme = "Bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := h[len(scheme):]
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; c <= ' ' || c == 0x7f {
			return "", false
		}
	}
	return tok, true
}

// Redacted replaces secrets in logs.
const Redacted = "[REDACTED]"

// Token is a JWT string that never appears in logs: its slog LogValue, String
// and GoString all return "[REDACTED]". Convert back with string(t) to use
// it.
type Token string

// LogValue implements slog.LogValuer.
func (Token) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String implements fmt.Stringer, so %s and %v redact too.
func (Token) String() string { return Redacted }

// GoString implements fmt.GoStringer, so %#v redacts too.
func (Token) GoString() string { return Redacted }

// RedactURL returns u's request URI (path and query, as in
// http.Request.RequestURI) with the value of every token query parameter
// replaced by REDACTED. Other parameters keep their order and encoding. Use
// it for any log line that prints a URL (protocol.md §1: tokens in URLs are
// redacted from every log line). A nil u gives "".
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.RawQuery = redactQuery(u.RawQuery)
	c.ForceQuery = false
	return c.RequestURI()
}

func redactQuery(q string) string {
	if q == "" {
		return q
	}
	pairs := strings.Split(q, "&")
	for i, p := range pairs {
		key, _, _ := strings.Cut(p, "=")
		k, err := url.QueryUnescape(key)
		// A key that does not unescape is redacted too: better a lost debug
		// value than a leaked token.
		if err != nil || k == QueryParam {
			pairs[i] = key + "=REDACTED"
		}
	}
	return strings.Join(pairs, "&")
}
