package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/storefront"
)

func TestParseExplain(t *testing.T) {
	inv, err := parse([]string{"explain", "SKU-0000001", "-wait", "5s"})
	require.NoError(t, err)
	require.Equal(t, []string{"SKU-0000001"}, inv.ids)
	require.Equal(t, 5*time.Second, inv.wait)
	for args, want := range map[string]string{
		"explain":                                "explain takes one SKU",
		"explain a b":                            "explain takes one SKU",
		"explain a -yes":                         "explain does not take -yes",
		"explain " + strings.Repeat("x", 10<<10): "10240 bytes, the limit is 64",
	} {
		_, err := parse(strings.Fields(args))
		require.ErrorContains(t, err, want, args)
	}
	_, err = parse([]string{"explain", "a\x1b[2Jb"})
	require.ErrorContains(t, err, `"a\x1b[2Jb" holds control characters`)
}

// TestPrintExplanationIsTerminalSafe: values from the ERP or the storefront
// holding escapes or invalid UTF-8 print quoted.
func TestPrintExplanationIsTerminalSafe(t *testing.T) {
	hostile := "x\x1b]0;owned\x07\xff"
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	e := activities.Explanation{
		SKU: "A", At: now, Summary: "disagree: " + hostile, RulesVersion: "v1",
		Reasons: []activities.Reason{{Code: activities.ReasonHandEdit, Message: hostile}},
		ERP: activities.ERPSide{Found: true, Clock: now, Row: &inventory.Row{Quantity: &hostile, Price: &hostile, Category: &hostile},
			Rejection: &inventory.Rejection{Code: "price_invalid", Message: hostile}},
		Row: &activities.StoredSide{StoredRow: storefront.StoredRow{SKU: "A", Quantity: 3, PriceCents: 1999, ERPCategory: &hostile,
			WrittenBy: hostile, ReconcileVerdict: hostile, ReconciledAt: &now, DeletedAt: &now}},
		DeadLetters: []deadletter.Letter{{ID: hostile, Reason: inventory.Rejection{Code: hostile, Message: hostile}}},
	}
	var out bytes.Buffer
	printExplanation(&out, e)
	s := out.String()
	require.NotContains(t, s, "\x1b")
	require.NotContains(t, s, "\x07")
	require.True(t, strings.IndexFunc(s, func(r rune) bool { return r != '\n' && !unicode.IsPrint(r) }) < 0, s)
	require.Contains(t, s, `"x\x1b]0;owned\a\xff"`)
	require.Contains(t, s, "quantity 3 at 19.99")
	require.Contains(t, s, "discontinued at")
}
