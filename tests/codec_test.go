package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/invsync/invsync/internal/codec"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/testenv"
)

// TestEncryptedHistories runs a sync with codec keys against a Temporal dev
// server of its own whose Web UI is pointed at the worker's codec endpoint.
// The histories the cluster holds show no SKU and no price, only
// binary/encrypted payloads; the codec endpoint decodes them as the UI calls
// it, and the UI, in a browser, shows them decoded.
func TestEncryptedHistories(t *testing.T) {
	ctx := context.Background()
	key := make([]byte, codec.KeySize)
	_, _ = rand.Read(key)
	ports := testenv.FreePorts(t, 2)
	workerHTTP := fmt.Sprintf("127.0.0.1:%d", ports[0])
	codecURL := "http://" + workerHTTP + "/codec"
	ui := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	server := startTemporalUI(t, ports[1], codecURL)

	p := newPipelineOn(t, 20, servers{
		temporal: server.FrontendHostPort(),
		storeDSN: testenv.Database(t, "invsync_store"),
		amqpURL:  testenv.AMQPURL(),
		topo:     testenv.Topology(t),
	}, "INVSYNC_CODEC_KEYS=e2e:"+base64.StdEncoding.EncodeToString(key),
		"INVSYNC_HTTP_ADDR="+workerHTTP, "INVSYNC_CODEC_CORS_ORIGIN="+ui)
	// One row becomes a dead letter, its payload (and price) in the
	// history of `dlq show`.
	const broken = "SKU-0000007"
	testenv.Exec(t, p.erpDSN, `UPDATE erp_items SET quantity = -5 WHERE sku = '`+broken+`'`)
	price := p.erpPrice(ctx, broken)
	p.startWorker()
	p.run("starter")
	p.waitConverged(ctx, time.Minute, nil)
	require.Contains(t, p.logs.String(), "payloads encrypted")
	require.NotContains(t, p.logs.String(), base64.StdEncoding.EncodeToString(key)[:16], "the key is never logged")

	var id string
	require.Eventually(t, func() bool {
		id = letterID(p.run("dlq", "list"), broken, inventory.ReasonQuantityNegative)
		return id != ""
	}, 30*time.Second, 500*time.Millisecond)
	show := p.run("dlq", "show", id)
	require.Contains(t, show, `"price":"`+price+`"`, "dlq decrypts what the worker encrypted")
	showID := regexp.MustCompile(`--workflow-id (\S+)`).FindStringSubmatch(show)[1]

	// Read the histories as the cluster holds them: no codec.
	tc, err := client.DialContext(ctx, client.Options{
		HostPort: server.FrontendHostPort(), Namespace: "default",
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	})
	require.NoError(t, err)
	defer tc.Close()
	apply := firstWorkflow(ctx, t, tc, "ApplyChanges")
	var dlqPayloads []*commonpb.Payload
	for _, wf := range []string{p.pollerID(), apply, showID} {
		raw, payloads := storedPayloads(t, tc, wf)
		require.NotEmpty(t, payloads, wf)
		for _, pl := range payloads {
			require.Equal(t, codec.EncodingEncrypted, string(pl.Metadata[converter.MetadataEncoding]), "%s: %s", wf, pl)
			require.Equal(t, "e2e", string(pl.Metadata[codec.MetadataKeyID]))
		}
		require.NotContains(t, string(raw), "SKU-0", "%s: no SKU in clear", wf)
		require.NotContains(t, string(raw), price, "%s: no price in clear", wf)
		require.NotContains(t, string(raw), base64.StdEncoding.EncodeToString([]byte(`{"sku"`)), "%s: no DLQ payload in clear", wf)
		if wf == showID {
			dlqPayloads = payloads
		}
	}

	// The codec endpoint decodes them, as the Web UI asks from its origin.
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: dlqPayloads})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, codecURL+"/decode", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Namespace", "default")
	req.Header.Set("Origin", ui)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	decoded, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(decoded))
	require.Equal(t, ui, resp.Header.Get("Access-Control-Allow-Origin"))
	var out commonpb.Payloads
	require.NoError(t, protojson.Unmarshal(decoded, &out))
	require.Len(t, out.Payloads, len(dlqPayloads))
	for _, pl := range out.Payloads {
		require.Equal(t, "json/plain", string(pl.Metadata[converter.MetadataEncoding]))
	}
	var shown struct{ Letters []deadletter.Letter }
	require.NoError(t, json.Unmarshal(out.Payloads[len(out.Payloads)-1].Data, &shown), "the workflow's result")
	require.Len(t, shown.Letters, 1)
	require.Equal(t, broken, shown.Letters[0].SKU)
	require.Contains(t, string(shown.Letters[0].Payload), `"price":"`+price+`"`)

	// The Web UI, in a browser, shows the dead letter's workflow decoded.
	page := fmt.Sprintf("%s/namespaces/default/workflows/%s/%s/history", ui, showID, runID(ctx, t, tc, showID))
	dom := testenv.Browse(t, page, "--dump-dom", "--virtual-time-budget=15000")
	if dir := os.Getenv("INVSYNC_SCREENSHOT_DIR"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "codec-ui.html"), []byte(dom), 0o644)
	}
	require.Contains(t, dom, showID, "the UI rendered the workflow")
	require.Contains(t, dom, broken, "the UI shows the decoded result")
}

// startTemporalUI starts a Temporal dev server with its Web UI on uiPort,
// the UI decoding payloads through codecURL.
func startTemporalUI(t *testing.T, uiPort int, codecURL string) *testsuite.DevServer {
	t.Helper()
	cli, err := testenv.TemporalCLI()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	logs := new(lockedBuffer)
	s, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath:  cli,
		ClientOptions: &client.Options{Namespace: "default", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))},
		EnableUI:      true,
		UIPort:        fmt.Sprint(uiPort),
		ExtraArgs:     []string{"--ui-codec-endpoint", codecURL},
		LogLevel:      "error",
		Stdout:        logs,
		Stderr:        logs,
	})
	require.NoError(t, err, "start Temporal dev server: %s", logs)
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// erpPrice is the ERP's price of sku as the text the pipeline carries.
func (p *pipeline) erpPrice(ctx context.Context, sku string) string {
	p.t.Helper()
	conn, err := pgx.Connect(ctx, p.erpDSN)
	require.NoError(p.t, err)
	defer conn.Close(ctx)
	var price string
	require.NoError(p.t, conn.QueryRow(ctx, `SELECT price::text FROM erp_items WHERE sku = $1`, sku).Scan(&price))
	return price
}

// firstWorkflow is the ID of a workflow of the type.
func firstWorkflow(ctx context.Context, t *testing.T, tc client.Client, workflowType string) string {
	t.Helper()
	var id string
	require.Eventually(t, func() bool {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("WorkflowType = '%s' AND ExecutionStatus = 'Completed'", workflowType), PageSize: 1,
		})
		if err != nil || len(resp.Executions) == 0 {
			return false
		}
		id = resp.Executions[0].Execution.WorkflowId
		return true
	}, 30*time.Second, 500*time.Millisecond, "a completed %s workflow", workflowType)
	return id
}

func runID(ctx context.Context, t *testing.T, tc client.Client, workflowID string) string {
	t.Helper()
	d, err := tc.DescribeWorkflowExecution(ctx, workflowID, "")
	require.NoError(t, err)
	return d.WorkflowExecutionInfo.Execution.RunId
}

// storedPayloads reads a workflow's history as the cluster stores it, and
// returns it marshalled and the payloads its events carry, except search
// attributes and headers, which the SDK never passes through a codec.
func storedPayloads(t *testing.T, tc client.Client, workflowID string) ([]byte, []*commonpb.Payload) {
	t.Helper()
	h := history(t, tc, workflowID)
	raw, err := proto.Marshal(h)
	require.NoError(t, err)
	var payloads []*commonpb.Payload
	collectPayloads(h.ProtoReflect(), &payloads)
	return raw, payloads
}

func collectPayloads(m protoreflect.Message, out *[]*commonpb.Payload) {
	if p, ok := m.Interface().(*commonpb.Payload); ok {
		*out = append(*out, p)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Name() == "search_attributes" || fd.Name() == "header":
		case fd.IsList() && fd.Message() != nil:
			for i := range v.List().Len() {
				collectPayloads(v.List().Get(i).Message(), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
				collectPayloads(mv.Message(), out)
				return true
			})
		case !fd.IsMap() && fd.Message() != nil:
			collectPayloads(v.Message(), out)
		}
		return true
	})
}
