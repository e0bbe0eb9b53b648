// Package jsonenc appends JSON strings and numbers byte for byte as
// encoding/json writes them, without an encoder per value: game.Encode and
// the canonical writer of package patch build on it (HTML escaping off),
// the frame appenders of package protocol too (AppendStringHTML: escaping
// on, as json.Marshal). TestMatchesEncodingJSON keeps them in step.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendString appends s as a quoted JSON string, escaped as encoding/json
// escapes it with SetEscapeHTML(false): '"' and '\\', control characters,
// U+2028 and U+2029, and each byte of invalid UTF-8 as \ufffd. Strings of
// printable ASCII without '"' or '\\', which garden ids, types and topics
// are, are copied as they are; the others go through encoding/json.
func AppendString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(dst, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendStringHTML appends s as json.Marshal writes it: as AppendString,
// and also '<', '>' and '&' escaped as \u003c, \u003e and \u0026 (HTML
// escaping on, encoding/json's default).
func AppendStringHTML(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// AppendFloat appends f as encoding/json writes a float64: the shortest
// decimal that reads back to f, in exponent form below 1e-6 and from 1e21
// on, with exponents unpadded (1e-7, 1e+21). f must be finite; -0 is
// written "-0", as encoding/json writes it.
func AppendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}
