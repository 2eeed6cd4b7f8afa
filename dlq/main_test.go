package main

import (
	"bytes"
	"encoding/json"
	"os/user"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
)

func TestParseTakesFlagsAnywhere(t *testing.T) {
	for _, tt := range []struct {
		args   string
		cmd    string
		ids    []string
		yes    bool
		all    bool
		limit  int
		reason string
		config []string
	}{
		{args: "purge ab12 -yes", cmd: "purge", ids: []string{"ab12"}, yes: true, limit: 50},
		{args: "-yes purge ab12", cmd: "purge", ids: []string{"ab12"}, yes: true, limit: 50},
		{args: "purge ab12 -yes cd34", cmd: "purge", ids: []string{"ab12", "cd34"}, yes: true, limit: 50},
		{args: "purge -all -reason undecodable -yes", cmd: "purge", all: true, yes: true, reason: "undecodable", limit: 50},
		{args: "list -limit 5", cmd: "list", limit: 5},
		{args: "-limit=5 list", cmd: "list", limit: 5},
		{args: "list -reason quantity_negative", cmd: "list", reason: "quantity_negative", limit: 50},
		{args: "-queue-prefix shop list -temporal-address=t:7233", cmd: "list", limit: 50,
			config: []string{"-queue-prefix=shop", "-temporal-address=t:7233"}},
		{args: "replay ab12 cd34", cmd: "replay", ids: []string{"ab12", "cd34"}, limit: 50},
		{args: "show -- -odd", cmd: "show", ids: []string{"-odd"}, limit: 50},
	} {
		t.Run(tt.args, func(t *testing.T) {
			inv, err := parse(strings.Fields(tt.args))
			require.NoError(t, err)
			require.Equal(t, tt.cmd, inv.cmd)
			require.Equal(t, tt.ids, inv.ids)
			require.Equal(t, tt.yes, inv.yes)
			require.Equal(t, tt.all, inv.all)
			require.Equal(t, tt.limit, inv.limit)
			require.Equal(t, tt.reason, inv.reason)
			require.Equal(t, tt.config, inv.config)
			require.Equal(t, time.Minute, inv.wait)
		})
	}
}

func TestParseRefusesWhatCannotWork(t *testing.T) {
	for _, tt := range []struct{ args, err string }{
		{"", "name a command"},
		{"drop", `unknown command drop`},
		{"list -yes", "list does not take -yes"},
		{"show ab12 -all", "show does not take -all"},
		{"purge", "name the dead letters by ID, or select all"},
		{"replay -all ab12", "not both"},
		{"show", "name 1 to 100 letters"},
		{"list -limit 1001", "list 1 to 1000 letters"},
		{"list -nope", "flag provided but not defined: -nope"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			_, err := parse(strings.Fields(tt.args))
			require.ErrorContains(t, err, tt.err)
		})
	}
}

// hostile is text a letter may hold: terminal escapes, a bidi override, a
// C1 control, a NUL and bytes that are not UTF-8.
const hostile = "SKU\x1b]0;owned\x07\u202e\u009b\x00\xff"

// requireSafe fails unless every character of out is printable, or a
// newline.
func requireSafe(t *testing.T, out string) {
	t.Helper()
	require.True(t, utf8.ValidString(out), "output is valid UTF-8")
	for _, r := range out {
		require.True(t, r == '\n' || unicode.IsPrint(r), "unsafe character %U in output:\n%s", r, out)
	}
}

func TestOutputIsSafeForATerminal(t *testing.T) {
	at := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	row := deadletter.ForRow(inventory.Row{SKU: new(hostile), LastModified: at},
		inventory.Rejection{Code: "sku_invalid\x1b", Message: "sku " + hostile})
	row.SKU = hostile // as if written by something that did not quote it
	msg := deadletter.ForMessage([]byte(hostile+"\n{}"), inventory.Rejection{Code: "undecodable", Message: hostile}, deadletter.StageBroker)
	row.LastAt, msg.LastAt = at, at
	letters := []deadletter.Letter{row, msg}

	var out bytes.Buffer
	printList(&out, activities.ListDeadLettersResult{Letters: letters,
		Counts: deadletter.Counts{Total: 2, ByReason: map[string]int64{hostile: 2}}})
	printLetters(&out, letters)
	printReplay(&out, activities.ReplayResult{Read: 2, Rejected: 1, RejectedByReason: map[string]int{hostile: 1},
		RejectedIDs: []string{hostile}, NotChanges: 1, SkippedIDs: []string{hostile}, RulesVersion: hostile})
	requireSafe(t, out.String())
	require.Contains(t, out.String(), `"SKU\x1b]0;owned\a\u202e\u009b\x00\xff"`, "shown escaped, not dropped")
	require.Contains(t, out.String(), `"SKU\x1b]0;owned\a\u202e\u009b\x00\xff\n{}"`, "the payload too")

	// Plain text is shown as it is.
	require.Equal(t, "SKU-0000050", quote("SKU-0000050"))
	require.Equal(t, "Größe 10 ½", quote("Größe 10 ½"))
}

func TestTheTemporalCallIsSafeAndValid(t *testing.T) {
	in := activities.SelectDeadLetters{Filter: deadletter.Filter{IDs: []string{hostile, "it's 😀"}, Reason: "x"}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	call := asciiJSON(b)
	requireSafe(t, call)
	for _, r := range call {
		require.Less(t, r, rune(0x7f), "printable ASCII only")
	}
	var back activities.SelectDeadLetters
	require.NoError(t, json.Unmarshal([]byte(call), &back))
	require.Equal(t, "it's 😀", back.IDs[1], "the same input")
	require.Equal(t, `'it'\''s'`, shellQuote("it's"))
}

func TestPrintIDsSaysWhenItShowsSome(t *testing.T) {
	var out bytes.Buffer
	printIDs(&out, "purged", 10000, []string{"a", "b"})
	printIDs(&out, "not found", 1, []string{"c"})
	printIDs(&out, "skipped", 0, nil)
	require.Equal(t, "purged (the first 2 of 10000): a b\nnot found: c\n", out.String())
}

func TestOperatorComesFromTheFlagTheEnvironmentOrTheOSUser(t *testing.T) {
	osUser := func() (*user.User, error) { return &user.User{Username: "osuser"}, nil }
	noUser := func() (*user.User, error) { return nil, user.UnknownUserIdError(4242) }
	for _, tt := range []struct {
		args, env string
		user      func() (*user.User, error)
		want, err string
	}{
		{args: "purge ab12 -operator alice", env: "bob", user: osUser, want: "alice"},
		{args: "-operator=alice purge -all", user: noUser, want: "alice"},
		{args: "purge ab12", env: "bob", user: osUser, want: "bob"},
		{args: "purge ab12", user: osUser, want: "osuser"},
		{args: "list", user: noUser, want: ""},
		{args: "replay -all", user: noUser, want: ""},
		{args: "purge ab12 -yes", user: noUser,
			err: "purge must say who runs it: give -operator NAME or set $INVSYNC_OPERATOR (the OS user name could not be found: user: unknown userid 4242)"},
		{args: "list -operator", user: osUser, err: "flag needs an argument: -operator"},
		{args: "purge ab12", env: "bob\x1b[2J", user: osUser, err: "$INVSYNC_OPERATOR: operator"},
		{args: "list -operator " + strings.Repeat("x", 129), user: osUser, err: "-operator: operator: 129 bytes, at most 128"},
	} {
		t.Run(tt.args, func(t *testing.T) {
			t.Setenv(operatorEnv, tt.env)
			currentUser = tt.user
			t.Cleanup(func() { currentUser = user.Current })
			inv, err := parse(strings.Fields(tt.args))
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, inv.operator)
		})
	}
}
