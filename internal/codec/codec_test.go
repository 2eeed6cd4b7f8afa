package codec

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// testKey is a key whose secret is its ID's first byte repeated.
func testKey(t *testing.T, id string) Key {
	t.Helper()
	k, err := NewKey(id, bytes.Repeat([]byte{id[0]}, KeySize))
	require.NoError(t, err)
	return k
}

func newCodec(t *testing.T, ids ...string) *Codec {
	t.Helper()
	var keys []Key
	for _, id := range ids {
		keys = append(keys, testKey(t, id))
	}
	c, err := New(keys)
	require.NoError(t, err)
	return c
}

// payload is what the default data converter makes of v.
func payload(t *testing.T, v any) *commonpb.Payload {
	t.Helper()
	p, err := converter.GetDefaultDataConverter().ToPayload(v)
	require.NoError(t, err)
	return p
}

func TestRoundTripHidesContentAndKeepsEncoding(t *testing.T) {
	c := newCodec(t, "k1")
	in := []*commonpb.Payload{
		payload(t, map[string]any{"sku": "SKU-SECRET-1", "price": "19.99"}),
		payload(t, []byte("raw bytes")),
		payload(t, nil),
	}
	enc, err := c.Encode(in)
	require.NoError(t, err)
	require.Len(t, enc, len(in))
	for _, p := range enc {
		require.Equal(t, EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
		require.Equal(t, "k1", string(p.Metadata[MetadataKeyID]))
		require.NotContains(t, string(p.Data), "SKU-SECRET-1")
		require.NotContains(t, string(p.Data), "json/plain", "the original encoding is inside the ciphertext")
	}
	dec, err := c.Decode(enc)
	require.NoError(t, err)
	for i := range in {
		require.True(t, proto.Equal(in[i], dec[i]), "payload %d comes back as it was", i)
	}

	again, err := c.Encode(in[:1])
	require.NoError(t, err)
	require.NotEqual(t, enc[0].Data, again[0].Data, "each payload has a nonce of its own")
}

func TestDataConverterRoundTrip(t *testing.T) {
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), newCodec(t, "k1"))
	type change struct {
		SKU   string
		Price string
	}
	p, err := dc.ToPayload(change{"SKU-7", "12.50"})
	require.NoError(t, err)
	require.Equal(t, EncodingEncrypted, string(p.Metadata[converter.MetadataEncoding]))
	var got change
	require.NoError(t, dc.FromPayload(p, &got))
	require.Equal(t, change{"SKU-7", "12.50"}, got)
}

func TestTamperingIsDetected(t *testing.T) {
	c := newCodec(t, "k1", "k2")
	for _, tt := range []struct {
		name   string
		tamper func(p *commonpb.Payload)
	}{
		{"a ciphertext bit", func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 }},
		{"the nonce", func(p *commonpb.Payload) { p.Data[0] ^= 1 }},
		{"the tag", func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }},
		{"truncated", func(p *commonpb.Payload) { p.Data = p.Data[:len(p.Data)-1] }},
		{"key ID swapped for another known key", func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k2") }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			enc, err := c.Encode([]*commonpb.Payload{payload(t, "SKU-1")})
			require.NoError(t, err)
			tt.tamper(enc[0])
			_, err = c.Decode(enc)
			require.ErrorContains(t, err, "does not decrypt")
		})
	}
}

func TestRotationOldKeyDecryptsNewKeyEncrypts(t *testing.T) {
	old := newCodec(t, "2024")
	written, err := old.Encode([]*commonpb.Payload{payload(t, "before rotation")})
	require.NoError(t, err)

	rotated := newCodec(t, "2025", "2024")
	require.Equal(t, "2025", rotated.EncryptingKeyID())
	dec, err := rotated.Decode(written)
	require.NoError(t, err)
	require.True(t, proto.Equal(payload(t, "before rotation"), dec[0]))

	fresh, err := rotated.Encode([]*commonpb.Payload{payload(t, "after rotation")})
	require.NoError(t, err)
	require.Equal(t, "2025", string(fresh[0].Metadata[MetadataKeyID]))
	_, err = old.Decode(fresh)
	require.ErrorContains(t, err, `key "2025", which is not among this codec's keys`)
}

func TestDecodePassesUnencryptedPayloadsThrough(t *testing.T) {
	c := newCodec(t, "k1")
	in := []*commonpb.Payload{
		payload(t, "written before encryption"),
		payload(t, []byte{1, 2}),
		{Metadata: map[string][]byte{converter.MetadataEncoding: []byte("binary/snappy")}, Data: []byte("x")},
		{},
		nil,
	}
	out, err := c.Decode(in)
	require.NoError(t, err)
	require.Equal(t, in, out)
}

func TestHostileMetadata(t *testing.T) {
	c := newCodec(t, "k1")
	enc := func(md map[string][]byte, data []byte) []*commonpb.Payload {
		md[converter.MetadataEncoding] = []byte(EncodingEncrypted)
		return []*commonpb.Payload{{Metadata: md, Data: data}}
	}
	long := strings.Repeat("x", 10000)
	for _, tt := range []struct {
		name     string
		payloads []*commonpb.Payload
		want     string
	}{
		{"no key ID", enc(map[string][]byte{}, make([]byte, 64)), "key (none), which is not among"},
		{"unknown key ID", enc(map[string][]byte{MetadataKeyID: []byte("k9")}, make([]byte, 64)), `key "k9", which is not among`},
		{"huge key ID", enc(map[string][]byte{MetadataKeyID: []byte(long)}, nil), "which is not among"},
		{"no data", enc(map[string][]byte{MetadataKeyID: []byte("k1")}, nil), "0 bytes is too short"},
		{"data shorter than nonce and tag", enc(map[string][]byte{MetadataKeyID: []byte("k1")}, make([]byte, 27)), "too short"},
		{"zeros", enc(map[string][]byte{MetadataKeyID: []byte("k1")}, make([]byte, 100)), "does not decrypt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Decode(tt.payloads)
			require.ErrorContains(t, err, tt.want)
			require.Less(t, len(err.Error()), 200, "an error stays short whatever the payload holds")
		})
	}
}

func TestParseKeys(t *testing.T) {
	b64 := func(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, KeySize)) }
	secret := b64('s')
	for _, tt := range []struct {
		name, in string
		ids      []string
		err      string
	}{
		{"one", "k1:" + b64(1), []string{"k1"}, ""},
		{"comma list", "new:" + b64(1) + ", old:" + b64(2), []string{"new", "old"}, ""},
		{"file", "# rotated 2025-01\nnew:" + b64(1) + "\n\n old : " + b64(2) + " \n", []string{"new", "old"}, ""},
		{"empty", "", nil, ""},
		{"no colon", secret, nil, "entry 1: want id:base64-key"},
		{"not base64", "k1:" + secret[:10] + "!", nil, "not standard base64"},
		{"short key", "k1:" + base64.StdEncoding.EncodeToString([]byte("short")), nil, "5 bytes, want 32"},
		{"no ID", ":" + secret, nil, "key ID (none)"},
		{"twice", "k1:" + b64(1) + ",k1:" + secret, nil, "k1 is given twice"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.in)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				require.NotContains(t, err.Error(), secret[:8], "an error never shows a key")
				return
			}
			require.NoError(t, err)
			var ids []string
			for _, k := range keys {
				ids = append(ids, k.ID)
			}
			require.Equal(t, tt.ids, ids)
		})
	}
}

// TestKeysAreNeverPrinted: a key that reaches fmt or a log handler shows its
// ID only.
func TestKeysAreNeverPrinted(t *testing.T) {
	secret := bytes.Repeat([]byte("S3"), KeySize/2)
	k, err := NewKey("k1", secret)
	require.NoError(t, err)
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "key", k)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "key", k, "keys", []Key{k})
	for _, out := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s", k, k, k, k), logs.String(),
	} {
		require.Contains(t, out, "k1")
		require.NotContains(t, out, "S3S3")
		require.NotContains(t, out, base64.StdEncoding.EncodeToString(secret)[:8])
	}
}

func TestHandler(t *testing.T) {
	c := newCodec(t, "k1")
	srv := httptest.NewServer(c.Handler([]string{"http://ui.example:8233"}))
	defer srv.Close()

	enc, err := c.Encode([]*commonpb.Payload{payload(t, map[string]string{"sku": "SKU-42"})})
	require.NoError(t, err)
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	require.NoError(t, err)

	post := func(path, origin string, body []byte) *http.Response {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Namespace", "default")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}

	resp := post("/codec/decode", "http://ui.example:8233", body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "http://ui.example:8233", resp.Header.Get("Access-Control-Allow-Origin"))
	var got struct {
		Payloads []struct {
			Metadata map[string][]byte `json:"metadata"`
			Data     []byte            `json:"data"`
		} `json:"payloads"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Len(t, got.Payloads, 1)
	require.Equal(t, "json/plain", string(got.Payloads[0].Metadata[converter.MetadataEncoding]))
	require.JSONEq(t, `{"sku":"SKU-42"}`, string(got.Payloads[0].Data))

	resp = post("/codec/decode", "", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the CLI sends no Origin")
	require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))

	resp = post("/codec/decode", "http://evil.example", body)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	resp = post("/codec/encode", "", []byte(`{"payloads":[{"metadata":{"encoding":"anNvbi9wbGFpbg=="},"data":"IlNLVS0xIg=="}]}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var encoded commonpb.Payloads
	b := new(bytes.Buffer)
	_, _ = b.ReadFrom(resp.Body)
	require.NoError(t, protojson.Unmarshal(b.Bytes(), &encoded))
	require.Equal(t, EncodingEncrypted, string(encoded.Payloads[0].Metadata[converter.MetadataEncoding]))

	resp = post("/codec/decode", "", bytes.Repeat([]byte(" "), MaxRequestBytes+1))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a body over the bound is refused")

	req, err := http.NewRequest(http.MethodOptions, srv.URL+"/codec/decode", nil)
	require.NoError(t, err)
	req.Header.Set("Origin", "http://ui.example:8233")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type,x-namespace")
	pre, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	pre.Body.Close()
	require.Equal(t, http.StatusNoContent, pre.StatusCode)
	require.Contains(t, pre.Header.Get("Access-Control-Allow-Headers"), "X-Namespace")
	require.Equal(t, "http://ui.example:8233", pre.Header.Get("Access-Control-Allow-Origin"))
}
