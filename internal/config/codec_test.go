package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/peterbourgon/ff/v3"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/invsync/invsync/internal/codec"
)

func b64Key(b byte) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, codec.KeySize))
}

func TestLoadCodec(t *testing.T) {
	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(text), 0o600))
		return p
	}
	keys := "new:" + b64Key(1) + ",old:" + b64Key(2)
	for _, tt := range []struct {
		name    string
		env     map[string]string
		encrypt string // the encrypting key's ID; empty: no codec
		err     string
	}{
		{"none", nil, "", ""},
		{"environment", map[string]string{"INVSYNC_CODEC_KEYS": keys}, "new", ""},
		{"file", map[string]string{"INVSYNC_CODEC_KEY_FILE": file("keys", "# rotated in May\nnew:"+b64Key(1)+"\nold:"+b64Key(2)+"\n")}, "new", ""},
		{"both", map[string]string{"INVSYNC_CODEC_KEYS": keys, "INVSYNC_CODEC_KEY_FILE": file("k2", keys)}, "", "not both"},
		{"missing file", map[string]string{"INVSYNC_CODEC_KEY_FILE": filepath.Join(dir, "nope")}, "", "codec-key-file"},
		{"empty file", map[string]string{"INVSYNC_CODEC_KEY_FILE": file("empty", "# none yet\n")}, "", "holds no key"},
		{"short key", map[string]string{"INVSYNC_CODEC_KEYS": "k:" + b64Key(3)[:20]}, "", "entry 1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c, _, err := Load("t", nil)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.NotContains(t, err.Error(), b64Key(3)[:20], "an error never shows a key")
				return
			}
			require.NoError(t, err)
			opts, err := c.ClientOptions(slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			if tt.encrypt == "" {
				require.Nil(t, c.PayloadCodec())
				require.Nil(t, c.DataConverter(), "the SDK's default converter")
				require.Nil(t, opts.DataConverter)
				require.Nil(t, opts.FailureConverter)
				return
			}
			require.Equal(t, tt.encrypt, c.PayloadCodec().EncryptingKeyID())
			// Failures can quote a row: their messages are encrypted too.
			f := opts.FailureConverter.ErrorToFailure(errors.New("quantity of SKU-1 is negative"))
			require.NotContains(t, f.String(), "SKU-1")
			p, err := opts.DataConverter.ToPayload("SKU-1")
			require.NoError(t, err)
			require.Equal(t, codec.EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
		})
	}
}

// TestHelpNeverShowsACodecKey: an id:key entry parses as a URL, which
// logging.Redact would show whole; help shows the IDs only.
func TestHelpNeverShowsACodecKey(t *testing.T) {
	secret := b64Key('s')
	setenv(t, map[string]string{"INVSYNC_CODEC_KEYS": "new:" + secret + "," + secret})
	var out strings.Builder
	fs := flagSet("workers", new(Config))
	fs.SetOutput(&out)
	require.NoError(t, ff.Parse(fs, nil, ff.WithEnvVarPrefix(envPrefix)))
	fs.PrintDefaults()
	require.Equal(t, "new:xxxxx,:xxxxx", fs.Lookup("codec-keys").Value.String())
	require.Contains(t, out.String(), "$INVSYNC_CODEC_KEYS")
	require.NotContains(t, out.String(), secret[:8])
	for _, o := range Reference() {
		if o.Flag == "codec-keys" {
			require.True(t, o.Secret)
		}
	}
}

func TestCodecOrigins(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"http://127.0.0.1:8233", []string{"http://127.0.0.1:8233"}},
		{"http://127.0.0.1:8233/, http://localhost:8233", []string{"http://127.0.0.1:8233", "http://localhost:8233"}},
		{"", nil},
	} {
		require.Equal(t, tt.want, CodecConfig{CORSOrigins: tt.in}.Origins(), tt.in)
	}
}
