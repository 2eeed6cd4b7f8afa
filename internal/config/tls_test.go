package config

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/internal/testenv"
)

// tlsProxy terminates TLS, with a client certificate when conf asks for one,
// on a loopback port and relays the plain bytes to upstream, as a load
// balancer in front of a Temporal frontend does (the dev server has no TLS
// of its own). It returns its address and the outcome of each handshake:
// with TLS 1.3 a client learns that its certificate was refused only as it
// goes on, so the test asks the server side.
func tlsProxy(t *testing.T, conf *tls.Config, upstream string) (string, <-chan error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	handshakes := make(chan error, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go relay(c.(*tls.Conn), upstream, handshakes)
		}
	}()
	return ln.Addr().String(), handshakes
}

// relay completes c's handshake, reports it, then copies both ways between
// c and upstream until either side ends.
func relay(c *tls.Conn, upstream string, handshakes chan<- error) {
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := c.HandshakeContext(ctx)
	select {
	case handshakes <- err:
	default:
	}
	if err != nil {
		return
	}
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
	<-done
}

// TestDialThroughMutualTLS: with the TEMPORAL_TLS_ variables the starter's
// connection (DialCommand) reaches a Temporal behind mTLS and starts a
// workflow; without the client certificate, with plain text or without the
// CA it fails and says why.
func TestDialThroughMutualTLS(t *testing.T) {
	temporal := testenv.StartTemporal(t)
	p := newPKI(t)
	server, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	require.NoError(t, err)
	proxy := func(t *testing.T) (string, <-chan error) {
		return tlsProxy(t, &tls.Config{
			Certificates: []tls.Certificate{server},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    p.pool,
			NextProtos:   []string{"h2"}, // gRPC clients insist on it
			MinVersion:   tls.VersionTLS12,
		}, temporal.Address())
	}
	mtls := map[string]string{
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": p.caFile,
		"TEMPORAL_TLS_SERVER_NAME":         "temporal.test",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    p.clientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     p.clientKey,
	}

	t.Run("mTLS", func(t *testing.T) {
		addr, _ := proxy(t)
		setenv(t, with(mtls, "TEMPORAL_ADDRESS", addr))
		c, _, err := Load("starter", nil)
		require.NoError(t, err)
		require.Equal(t, "mTLS", c.TemporalSecurity())
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		tc, err := c.DialCommand(ctx)
		require.NoError(t, err)
		defer tc.Close()
		run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "tls-check", TaskQueue: "tls-check"}, "TLSCheck")
		require.NoError(t, err)
		d, err := tc.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		require.NoError(t, err)
		require.Equal(t, "TLSCheck", d.WorkflowExecutionInfo.Type.Name)
	})

	for _, tt := range []struct {
		name         string
		env          map[string]string
		want, server string
	}{
		{"without the client certificate", with(mtls, "TEMPORAL_TLS_CLIENT_CERT_PATH", "", "TEMPORAL_TLS_CLIENT_KEY_PATH", ""),
			"over TLS: failed reaching server", "client didn't provide a certificate"},
		{"plain text", nil, "over plain text: failed reaching server", "does not look like a TLS handshake"},
		{"without the CA", with(mtls, "TEMPORAL_TLS_SERVER_CA_CERT_PATH", ""),
			"certificate signed by unknown authority", "bad certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			addr, handshakes := proxy(t)
			setenv(t, with(tt.env, "TEMPORAL_ADDRESS", addr))
			c, _, err := Load("starter", nil)
			require.NoError(t, err)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			start := time.Now()
			tc, err := c.DialCommand(ctx)
			if err == nil {
				tc.Close()
			}
			t.Logf("after %s: %v", time.Since(start).Round(time.Millisecond), err)
			require.ErrorContains(t, err, tt.want)
			require.ErrorContains(t, <-handshakes, tt.server, "the proxy's handshake")
		})
	}
}

// with is m with the pairs of kv set; an empty value unsets the variable.
func with(m map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}
