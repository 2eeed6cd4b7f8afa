// Package codec encrypts the payloads invsync hands to Temporal (workflow
// inputs, results, signals: prices, costs, dead-letter payloads), so that the
// cluster stores and shows only ciphertext, while operators holding a key read
// them through the codec endpoint.
//
// Each payload is marshalled whole and sealed with AES-256-GCM under a random
// nonce; the result has the encoding binary/encrypted and names its key's ID
// in its metadata, so keys can rotate: the first key encrypts, every key
// decrypts. The original encoding travels inside the ciphertext.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// EncodingEncrypted is the encoding of an encrypted payload, as
	// temporalio/samples-go names it.
	EncodingEncrypted = "binary/encrypted"
	// MetadataKeyID names the key that encrypted a payload.
	MetadataKeyID = "encryption-key-id"
	// KeySize is the size of an AES-256 key in bytes.
	KeySize = 32
	// maxIDLen bounds a key ID, so that a hostile payload's ID cannot bloat
	// an error message.
	maxIDLen = 64
)

// Key is one named AES-256 key. Its secret is unexported so that neither
// fmt nor a JSON log handler prints it.
type Key struct {
	ID     string
	secret []byte
}

// String names the key without its secret.
func (k Key) String() string { return "key " + k.ID }

// GoString keeps %#v from printing the secret too.
func (k Key) GoString() string { return k.String() }

// NewKey checks a key's ID and size.
func NewKey(id string, secret []byte) (Key, error) {
	if id == "" || len(id) > maxIDLen || strings.ContainsAny(id, ":, \t\r\n") {
		return Key{}, fmt.Errorf("key ID %s: want 1 to %d characters without colons, commas or spaces", quote(id), maxIDLen)
	}
	if len(secret) != KeySize {
		return Key{}, fmt.Errorf("key %s: %d bytes, want %d (AES-256)", id, len(secret), KeySize)
	}
	return Key{ID: id, secret: secret}, nil
}

// ParseKeys reads keys written id:base64, separated by commas or newlines, as
// the setting and the key file hold them. Blank lines and lines starting with
// # are skipped. Errors name an entry by its position or ID, never by its
// text, which may hold a secret.
func ParseKeys(s string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for i, entry := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' }) {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		id, b64, ok := strings.Cut(entry, ":")
		if !ok {
			return nil, fmt.Errorf("codec key entry %d: want id:base64-key", i+1)
		}
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("codec key entry %d: the key is not standard base64", i+1)
		}
		k, err := NewKey(strings.TrimSpace(id), secret)
		if err != nil {
			return nil, fmt.Errorf("codec key entry %d: %w", i+1, err)
		}
		if seen[k.ID] {
			return nil, fmt.Errorf("codec key %s is given twice", k.ID)
		}
		seen[k.ID] = true
		keys = append(keys, k)
	}
	return keys, nil
}

// Codec is a converter.PayloadCodec that encrypts with its first key and
// decrypts with any of its keys.
type Codec struct {
	encryptID string
	aeads     map[string]cipher.AEAD
}

var _ converter.PayloadCodec = (*Codec)(nil)

// New is a codec of keys; the first encrypts.
func New(keys []Key) (*Codec, error) {
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	c := &Codec{encryptID: keys[0].ID, aeads: make(map[string]cipher.AEAD, len(keys))}
	for _, k := range keys {
		if _, dup := c.aeads[k.ID]; dup {
			return nil, fmt.Errorf("codec: key %s is given twice", k.ID)
		}
		block, err := aes.NewCipher(k.secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %s: %w", k.ID, err)
		}
		c.aeads[k.ID] = aead
	}
	return c, nil
}

// EncryptingKeyID is the ID of the key new payloads are encrypted with.
func (c *Codec) EncryptingKeyID() string { return c.encryptID }

// Encode encrypts each payload whole. The key ID is the ciphertext's
// additional data, so the ID in the clear metadata cannot be swapped.
func (c *Codec) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	aead := c.aeads[c.encryptID]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return payloads, fmt.Errorf("codec: marshal payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return payloads, fmt.Errorf("codec: nonce: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(EncodingEncrypted),
				MetadataKeyID:              []byte(c.encryptID),
			},
			Data: aead.Seal(nonce, nonce, plain, []byte(c.encryptID)),
		}
	}
	return out, nil
}

// Decode decrypts encrypted payloads and passes the others through, so that
// histories written before encryption was turned on stay readable.
func (c *Codec) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != EncodingEncrypted {
			out[i] = p
			continue
		}
		d, err := c.decrypt(p)
		if err != nil {
			return payloads, err
		}
		out[i] = d
	}
	return out, nil
}

func (c *Codec) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	id := string(p.GetMetadata()[MetadataKeyID])
	aead, ok := c.aeads[id]
	if !ok {
		return nil, fmt.Errorf("codec: payload encrypted with key %s, which is not among this codec's keys", quote(id))
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("codec: encrypted payload of %d bytes is too short", len(data))
	}
	n := aead.NonceSize()
	plain, err := aead.Open(nil, data[:n], data[n:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("codec: payload does not decrypt with key %s: altered, or not encrypted with it", id)
	}
	var d commonpb.Payload
	if err := proto.Unmarshal(plain, &d); err != nil {
		return nil, fmt.Errorf("codec: decrypted payload: %w", err)
	}
	return &d, nil
}

// quote shows an ID from a payload or the configuration, cut short: either
// may be anything.
func quote(id string) string {
	if id == "" {
		return "(none)"
	}
	if len(id) > maxIDLen {
		return fmt.Sprintf("%q…", id[:maxIDLen])
	}
	return fmt.Sprintf("%q", id)
}
