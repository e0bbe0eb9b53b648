package main

// A minimal JSON scanner: the tool reads only a few fields of each frame,
// so it walks the bytes instead of decoding them (no allocation, no
// reflection). It trusts the server to send valid JSON and only guards
// against running off the end.

// eachField calls fn with the raw key (without quotes, escapes kept) and
// the raw value of every member of the JSON object starting at b (leading
// space allowed), until fn returns false. It reports whether b began with
// a well-formed object (as far as it was read).
func eachField(b []byte, fn func(key, val []byte) bool) bool {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return false
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return false
		}
		if b[i] == '}' {
			return true
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		if i >= len(b) || b[i] != '"' {
			return false
		}
		kEnd, ok := skipString(b, i)
		if !ok {
			return false
		}
		key := b[i+1 : kEnd-1]
		i = skipSpace(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		vEnd, ok := skipValue(b, i)
		if !ok {
			return false
		}
		if !fn(key, b[i:vEnd]) {
			return true
		}
		i = vEnd
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index after the string whose quote is at b[i].
func skipString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				end, ok := skipString(b, i)
				if !ok {
					return 0, false
				}
				i = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
		}
		return 0, false
	default: // number, true, false, null
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' {
			j++
		}
		return j, j > i
	}
}

// field returns the raw value of key in the object b, or nil.
func field(b []byte, key string) []byte {
	var out []byte
	eachField(b, func(k, v []byte) bool {
		if string(k) == key {
			out = v
			return false
		}
		return true
	})
	return out
}

// parseUint parses a raw JSON non-negative integer; anything else gives 0.
func parseUint(v []byte) uint64 {
	var n uint64
	for _, c := range v {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// parseInt parses a raw JSON integer, possibly negative.
func parseInt(v []byte) int64 {
	if len(v) > 0 && v[0] == '-' {
		return -int64(parseUint(v[1:]))
	}
	return int64(parseUint(v))
}

// rawString returns the contents of a raw JSON string without escapes
// (ids, codes, session ids), or "" for anything else.
func rawString(v []byte) []byte {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil
	}
	return v[1 : len(v)-1]
}

// isTrue reports whether v is the literal true.
func isTrue(v []byte) bool { return string(v) == "true" }
