package config

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// testPKI is a throwaway CA, a server certificate for 127.0.0.1 and
// temporal.test and a client certificate, as PEM files in dir.
type testPKI struct {
	dir                   string
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	pool                  *x509.CertPool
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	p := testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "invsync test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	p.pool.AddCert(ca)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)

	issue := func(name string, serial int64, usage x509.ExtKeyUsage) (certFile, keyFile string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: []string{"temporal.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		require.NoError(t, err)
		return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = issue("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

func (p testPKI) write(t *testing.T, name, kind string, der []byte) string {
	path := filepath.Join(p.dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
	return path
}

// writeProfiles writes a Temporal config file with profiles as the
// Temporal CLI keeps them.
func writeProfiles(t *testing.T, p testPKI) string {
	path := filepath.Join(t.TempDir(), "temporal.toml")
	toml := fmt.Sprintf(`[profile.default]
address = "profile-host:7233"
namespace = "profile-ns"

[profile.cloud]
address = "inv.acct.tmprl.cloud:7233"
namespace = "inv.acct"
api_key = "cloud-s3cret"

[profile.mtls]
address = "temporal.internal:7233"
namespace = "inventory"
[profile.mtls.tls]
client_cert_path = %q
client_key_path = %q
server_ca_cert_path = %q
server_name = "temporal.test"

[profile.codec]
[profile.codec.codec]
endpoint = "http://codec.internal"

[profile.badcert]
[profile.badcert.tls]
client_cert_path = "/nonexistent/client.pem"
client_key_path = "/nonexistent/client-key.pem"
`, p.clientCert, p.clientKey, p.caFile)
	require.NoError(t, os.WriteFile(path, []byte(toml), 0o600))
	return path
}

// TestTemporalConnectionPrecedence: an invsync flag or INVSYNC_ variable
// comes first, then TEMPORAL_ADDRESS/TEMPORAL_NAMESPACE, then the profile
// of the config file, then the defaults; TLS and the API key come from the
// TEMPORAL_ variables and the profile only.
func TestTemporalConnectionPrecedence(t *testing.T) {
	p := newPKI(t)
	file := writeProfiles(t, p)
	for _, tt := range []struct {
		name                 string
		env                  map[string]string
		args                 []string
		address, namespace   string
		security, serverName string
	}{
		{name: "defaults", address: "127.0.0.1:7233", namespace: "default", security: "plain text"},
		{name: "TEMPORAL_ variables",
			env:     map[string]string{"TEMPORAL_ADDRESS": "env-host:7233", "TEMPORAL_NAMESPACE": "env-ns"},
			address: "env-host:7233", namespace: "env-ns", security: "plain text"},
		{name: "INVSYNC_ variables over TEMPORAL_",
			env: map[string]string{
				"TEMPORAL_ADDRESS": "env-host:7233", "TEMPORAL_NAMESPACE": "env-ns",
				"INVSYNC_TEMPORAL_ADDRESS": "inv-host:7233", "INVSYNC_TEMPORAL_NAMESPACE": "inv-ns",
			},
			address: "inv-host:7233", namespace: "inv-ns", security: "plain text"},
		{name: "a flag over TEMPORAL_, even with the default value",
			env:     map[string]string{"TEMPORAL_ADDRESS": "env-host:7233", "TEMPORAL_NAMESPACE": "env-ns"},
			args:    []string{"-temporal-address", "127.0.0.1:7233", "-temporal-namespace", "default"},
			address: "127.0.0.1:7233", namespace: "default", security: "plain text"},
		{name: "the default profile of the file",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": file},
			address: "profile-host:7233", namespace: "profile-ns", security: "plain text"},
		{name: "TEMPORAL_ variables over the profile",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_NAMESPACE": "env-ns"},
			address: "profile-host:7233", namespace: "env-ns", security: "plain text"},
		{name: "a profile with an API key turns TLS on",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "cloud"},
			address: "inv.acct.tmprl.cloud:7233", namespace: "inv.acct", security: "TLS + API key"},
		{name: "an API key over plain text when TLS is off",
			env:     map[string]string{"TEMPORAL_API_KEY": "k", "TEMPORAL_TLS": "false"},
			address: "127.0.0.1:7233", namespace: "default", security: "plain text + API key"},
		{name: "an mTLS profile",
			env:     map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "mtls"},
			address: "temporal.internal:7233", namespace: "inventory", security: "mTLS", serverName: "temporal.test"},
		{name: "mTLS from TEMPORAL_TLS_ variables",
			env: map[string]string{
				"TEMPORAL_TLS_CLIENT_CERT_PATH": p.clientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": p.clientKey,
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": p.caFile, "TEMPORAL_TLS_SERVER_NAME": "temporal.test",
			},
			address: "127.0.0.1:7233", namespace: "default", security: "mTLS", serverName: "temporal.test"},
		{name: "TLS without a client certificate",
			env:     map[string]string{"TEMPORAL_TLS": "true"},
			address: "127.0.0.1:7233", namespace: "default", security: "TLS"},
		{name: "empty TEMPORAL_ variables are unset",
			env:     map[string]string{"TEMPORAL_TLS_SERVER_NAME": "", "TEMPORAL_ADDRESS": ""},
			address: "127.0.0.1:7233", namespace: "default", security: "plain text"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			c, _, err := Load("t", tt.args)
			require.NoError(t, err)
			require.Equal(t, tt.address, c.TemporalAddress)
			require.Equal(t, tt.namespace, c.TemporalNamespace)
			require.Equal(t, tt.security, c.TemporalSecurity())
			opts, err := c.ClientOptions(slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			require.Equal(t, tt.address, opts.HostPort)
			require.Equal(t, tt.namespace, opts.Namespace)
			if tt.serverName != "" {
				require.Equal(t, tt.serverName, opts.ConnectionOptions.TLS.ServerName)
				require.NotNil(t, opts.ConnectionOptions.TLS.RootCAs, "the CA of the profile")
			}
		})
	}
}

// TestTemporalConfigErrors: a bad profile or certificate fails Load with
// what to fix, and no error shows the API key.
func TestTemporalConfigErrors(t *testing.T) {
	p := newPKI(t)
	file := writeProfiles(t, p)
	broken := filepath.Join(t.TempDir(), "broken.toml")
	require.NoError(t, os.WriteFile(broken, []byte("[profile.default]\napi_key = cloud-s3cret\n"), 0o600))
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"unknown profile", map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "nope", "TEMPORAL_API_KEY": "env-s3cret"},
			[]string{"TEMPORAL_PROFILE", "nope"}},
		{"unreadable client certificate", map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "badcert"},
			[]string{"/nonexistent/client.pem", "no such file"}},
		{"certificate without its key", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": p.clientCert, "TEMPORAL_API_KEY": "env-s3cret"},
			[]string{"client cert or key path", "TEMPORAL_TLS_"}},
		{"a key that is not the certificate's", map[string]string{"TEMPORAL_TLS_CLIENT_CERT_PATH": p.clientCert, "TEMPORAL_TLS_CLIENT_KEY_PATH": p.serverKey},
			[]string{"private key does not match public key"}},
		{"a CA file that holds no certificate", map[string]string{"TEMPORAL_TLS_SERVER_CA_CERT_PATH": p.clientKey},
			[]string{"server CA"}},
		{"a file that is not TOML", map[string]string{"TEMPORAL_CONFIG_FILE": broken},
			[]string{"TEMPORAL_CONFIG_FILE", "failed parsing config"}},
		{"a codec server", map[string]string{"TEMPORAL_CONFIG_FILE": file, "TEMPORAL_PROFILE": "codec"},
			[]string{"codec", "not supported"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setenv(t, tt.env)
			_, _, err := Load("t", nil)
			require.Error(t, err)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}

// TestAPIKeyReachesTheServer: the API key of TEMPORAL_API_KEY is sent as a
// bearer token on each call, with the namespace of the invsync setting.
func TestAPIKeyReachesTheServer(t *testing.T) {
	type call struct{ authorization, namespace []string }
	calls := make(chan call, 10)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		calls <- call{md.Get("authorization"), md.Get("temporal-namespace")}
		return h(ctx, req)
	}))
	workflowservice.RegisterWorkflowServiceServer(srv, systemInfoOnly{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)

	setenv(t, map[string]string{
		"TEMPORAL_ADDRESS": ln.Addr().String(), "TEMPORAL_API_KEY": "key-123", "TEMPORAL_TLS": "false",
		"INVSYNC_TEMPORAL_NAMESPACE": "inventory",
	})
	c, _, err := Load("t", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tc, err := c.DialCommand(ctx)
	require.NoError(t, err)
	defer tc.Close()
	got := <-calls
	require.Equal(t, []string{"Bearer key-123"}, got.authorization)
	require.NotContains(t, fmt.Sprintf("%+v", c), "key-123", "printing the settings does not show the key")
}

// systemInfoOnly answers the one call a client makes when it connects.
type systemInfoOnly struct {
	workflowservice.UnimplementedWorkflowServiceServer
}

func (systemInfoOnly) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{}, nil
}
