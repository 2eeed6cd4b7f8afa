package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// MaxMessageBytes is the largest change message decoded. A change within the
// limits is a few hundred bytes; anything larger is not one.
const MaxMessageBytes = 16 << 10

// changeFields are the keys of a change message, spelled exactly.
var changeFields = map[string]bool{
	"sku": true, "quantity": true, "price": true, "cost": true, "category": true,
	"last_modified": true, "observed_at": true,
}

// DecodeChange reads one change message strictly: bounded in size, one JSON
// object with only the known keys spelled exactly (encoding/json alone would
// accept "SKU" for "sku" and ignore unknown keys), each key once, nothing after
// it. It says what is wrong in a message that is safe to show.
func DecodeChange(body []byte) (Change, error) {
	c, err := decodeChange(body)
	if err != nil {
		return Change{}, errors.New(printable(err.Error()))
	}
	return c, nil
}

func decodeChange(body []byte) (Change, error) {
	var c Change
	if len(body) > MaxMessageBytes {
		return c, fmt.Errorf("message is %d bytes, the limit for a change is %d", len(body), MaxMessageBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		return c, fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return c, fmt.Errorf("not valid JSON: %v", err)
		}
		key, _ := tok.(string)
		if !changeFields[key] {
			return c, fmt.Errorf("unknown field %s", Quote(key))
		}
		if seen[key] {
			return c, fmt.Errorf("field %s appears twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return c, fmt.Errorf("field %s: %v", key, err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return c, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return c, fmt.Errorf("data after the JSON object")
	}
	if err := json.Unmarshal(body, &c); err != nil {
		return Change{}, fmt.Errorf("not a change: %v", err)
	}
	return c, nil
}

// printable makes a message that may quote a hostile value safe to log and
// show: valid UTF-8, no control characters, at most 300 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
