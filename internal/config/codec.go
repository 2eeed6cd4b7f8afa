package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"go.temporal.io/sdk/converter"

	"github.com/invsync/invsync/internal/codec"
)

// CodecConfig is the encryption of the payloads Temporal stores. Without
// keys, payloads are stored in clear and the worker serves no codec endpoint.
type CodecConfig struct {
	// Keys are id:base64 entries separated by commas; the first encrypts.
	Keys string
	// KeyFile holds the keys instead, one id:base64 a line.
	KeyFile string
	// CORSOrigins are the Web UI origins, comma-separated, whose pages may
	// call the codec endpoint.
	CORSOrigins string

	codec *codec.Codec // made by load
}

// codecFlags defines the codec's settings on fs.
func codecFlags(fs *flag.FlagSet, c *CodecConfig) {
	fs.Var((*keySecret)(&c.Keys), "codec-keys", "payload encryption keys, id:base64-of-32-bytes separated by commas; the first encrypts, every one decrypts (empty: -codec-key-file, else payloads in clear)")
	fs.StringVar(&c.KeyFile, "codec-key-file", "", "file of payload encryption keys, one id:base64 a line, the first encrypting; instead of -codec-keys")
	fs.StringVar(&c.CORSOrigins, "codec-cors-origin", "http://127.0.0.1:8233", "worker: Web UI origins, comma-separated, allowed to call the codec endpoint /codec")
}

// load reads the keys and makes the codec; no keys, no codec.
func (c *CodecConfig) load() error {
	text := c.Keys
	switch {
	case c.Keys != "" && c.KeyFile != "":
		return errors.New("codec-keys and codec-key-file: give one, not both")
	case c.KeyFile != "":
		b, err := os.ReadFile(c.KeyFile)
		if err != nil {
			return fmt.Errorf("codec-key-file: %w", err)
		}
		text = string(b)
	}
	keys, err := codec.ParseKeys(text)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		if c.KeyFile != "" {
			return fmt.Errorf("codec-key-file %s holds no key", c.KeyFile)
		}
		return nil
	}
	c.codec, err = codec.New(keys)
	return err
}

// PayloadCodec is the codec of the configured keys, nil when there are none.
func (c Config) PayloadCodec() *codec.Codec { return c.Codec.codec }

// Enabled reports whether payloads are encrypted.
func (c CodecConfig) Enabled() bool { return c.codec != nil }

// DataConverter is the Temporal client's data converter: the default one,
// its payloads encrypted when keys are configured; nil (the SDK's default)
// when not.
func (c Config) DataConverter() converter.DataConverter {
	if c.Codec.codec == nil {
		return nil
	}
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c.Codec.codec)
}

// Origins are the Web UI origins allowed to call the codec endpoint.
func (c CodecConfig) Origins() []string {
	var out []string
	for o := range strings.SplitSeq(c.CORSOrigins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, strings.TrimSuffix(o, "/"))
		}
	}
	return out
}

// keySecret is the keys' flag. logging.Redact, which the other secrets go
// through, would show "id:key" whole (it parses as a URL with scheme id), so
// help shows the key IDs only.
type keySecret string

func (k *keySecret) String() string {
	if k == nil || *k == "" {
		return ""
	}
	var ids []string
	for entry := range strings.SplitSeq(string(*k), ",") {
		id, _, ok := strings.Cut(entry, ":")
		if !ok {
			id = "" // no ID: the entry may be a key
		}
		ids = append(ids, strings.TrimSpace(id)+":xxxxx")
	}
	return strings.Join(ids, ",")
}

func (k *keySecret) Set(v string) error { *k = keySecret(v); return nil }
