package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxMessageBytes is the largest change decoded. A change within the limits
// is a few hundred bytes; anything larger is not one.
const MaxMessageBytes = 16 << 10

// MaxSetBytes is the largest message of the changes queue decoded: well above
// the poller's sets of DefaultSetBytes, and a bound on what one message can
// make a consumer hold.
const MaxSetBytes = 1 << 20

// DefaultSetBytes is how large the poller makes a change set: one message
// carries hundreds of rows, so a backlog costs the broker one message per
// hundreds of rows, while a single change still leaves in its poll.
const DefaultSetBytes = 64 << 10

// SizeError is a message refused for its size alone, before any parsing:
// what it held is unknown, only that it is larger than anything it could be.
type SizeError struct {
	Size, Limit int
	// What the message was taken for: "change" or "change set".
	What string
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("message is %d bytes, the limit for a %s is %d", e.Size, e.What, e.Limit)
}

// strict decodes the wire format exactly: member names spelled as in Change
// (encoding/json would take "SKU" for "sku"), no unknown or repeated members,
// valid UTF-8, nothing after the value.
var strict = json.RejectUnknownMembers(true)

// DecodeChange reads one change strictly: bounded in size, one JSON object
// with only the known members. It says what is wrong in a message that is safe
// to show.
func DecodeChange(body []byte) (Change, error) {
	var c Change
	if len(body) > MaxMessageBytes {
		return c, &SizeError{Size: len(body), Limit: MaxMessageBytes, What: "change"}
	}
	if t := bytes.TrimLeft(body, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return c, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(body, &c, strict); err != nil {
		return Change{}, errors.New(printable("not a change: " + err.Error()))
	}
	return c, nil
}

// BadChange is an element of a change set that is not a change.
type BadChange struct {
	Raw []byte
	Err error
}

// DecodeChangeSet reads a message of the changes queue: a JSON array of
// changes, or one change object (as versions before change sets published).
// Each element stands alone: one that is not a change is returned as a
// BadChange and costs only itself. An error means the message as a whole is
// not a change set.
func DecodeChangeSet(body []byte) ([]Change, []BadChange, error) {
	if len(body) > MaxSetBytes {
		return nil, nil, &SizeError{Size: len(body), Limit: MaxSetBytes, What: "change set"}
	}
	t := bytes.TrimLeft(body, " \t\r\n")
	if len(t) > 0 && t[0] == '{' {
		c, err := DecodeChange(body)
		if err != nil {
			return nil, []BadChange{{Raw: body, Err: err}}, nil
		}
		return []Change{c}, nil, nil
	}
	if len(t) == 0 || t[0] != '[' {
		return nil, nil, errors.New("not a JSON array of changes")
	}
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if _, err := dec.ReadToken(); err != nil {
		return nil, nil, errors.New(printable("not valid JSON: " + err.Error()))
	}
	var changes []Change
	var bad []BadChange
	for dec.PeekKind() != ']' {
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, nil, errors.New(printable("not valid JSON: " + err.Error()))
		}
		c, err := DecodeChange(raw)
		if err != nil {
			bad = append(bad, BadChange{Raw: bytes.Clone(raw), Err: err})
			continue
		}
		changes = append(changes, c)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, nil, errors.New(printable("not valid JSON: " + err.Error()))
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return nil, nil, errors.New("data after the JSON array")
	}
	return changes, bad, nil
}

// EncodeChangeSets encodes changes as change sets of at most maxBytes each
// (one change larger than that is a set of its own), in order.
func EncodeChangeSets(changes []Change, maxBytes int) ([][]byte, error) {
	var sets [][]byte
	var set []byte
	for _, c := range changes {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, fmt.Errorf("encode change %s: %w", Quote(c.SKU), err)
		}
		if len(set) > 0 && len(set)+1+len(b)+1 > maxBytes {
			sets = append(sets, append(set, ']'))
			set = nil
		}
		if len(set) == 0 {
			set = append(make([]byte, 0, min(maxBytes, 64<<10)), '[')
		} else {
			set = append(set, ',')
		}
		set = append(set, b...)
	}
	if len(set) > 0 {
		sets = append(sets, append(set, ']'))
	}
	return sets, nil
}

// EncodeChanges encodes changes as one change set, whatever its size: the
// form a batch is staged in.
func EncodeChanges(changes []Change) ([]byte, error) {
	return json.Marshal(changes)
}

// DecodeChanges reads what EncodeChanges wrote.
func DecodeChanges(b []byte) ([]Change, error) {
	var cs []Change
	if err := json.Unmarshal(b, &cs, strict); err != nil {
		return nil, errors.New(printable("not a list of changes: " + err.Error()))
	}
	return cs, nil
}

// SetID names a change set by its content: the same set published twice has
// one ID.
func SetID(body []byte) string {
	sum := sha256.Sum256(body)
	return "set-" + hex.EncodeToString(sum[:16])
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
