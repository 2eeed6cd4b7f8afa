package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/storefront"
)

func ptr[T any](v T) *T { return &v }

// TestExplainSaysWhyTheSidesDiffer covers each reason an explanation gives,
// and the cases where the sides agree.
func TestExplainSaysWhyTheSidesDiffer(t *testing.T) {
	rules, err := pricing.Parse([]byte("rules:\n  - {name: ten off, discount: \"10\"}\n"))
	require.NoError(t, err)
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	modified := now.Add(-time.Hour)
	lookup := func(qty, price string, at time.Time) ERPLookup {
		return ERPLookup{Rows: []inventory.Row{{SKU: ptr("A"), Quantity: ptr(qty), Price: ptr(price), LastModified: at}},
			Clock: inventory.Clock{Instant: now, Wall: now}}
	}
	// stored is the row invsync wrote for quantity 5 at 10.00 under rules.
	stored := func(edit func(*storefront.StoredRow)) *storefront.StoredRow {
		r := &storefront.StoredRow{SKU: "A", Quantity: 5, PriceCents: 900, ERPQuantity: ptr(int64(5)), PricedCents: ptr(int64(900)),
			ERPPrice: ptr("10"), ERPModified: modified, ObservedAt: modified, RulesVersion: rules.Version, WrittenBy: "invsync-apply-1"}
		if edit != nil {
			edit(r)
		}
		return r
	}
	gone := ERPLookup{Rows: []inventory.Row{}, Clock: inventory.Clock{Instant: now, Wall: now}}
	for _, tt := range []struct {
		name    string
		erp     ERPLookup
		row     *storefront.StoredRow
		agree   bool
		reasons []string
	}{
		{"equal", lookup("5", "10", modified), stored(nil), true, nil},
		{"neither has it", gone, nil, true, nil},
		{"discontinued, gone from the ERP", gone, stored(func(r *storefront.StoredRow) {
			r.Quantity, r.DeletedAt, r.ReconcileVerdict = 0, ptr(now), storefront.VerdictDiscontinued
		}), true, nil},
		{"missing", lookup("5", "10", modified), nil, false, []string{ReasonMissing}},
		{"gone from the ERP", gone, stored(nil), false, []string{ReasonGone}},
		{"hand edit", lookup("5", "10", modified), stored(func(r *storefront.StoredRow) { r.PriceCents = 1 }),
			false, []string{ReasonHandEdit}},
		{"pending change", lookup("6", "10", now.Add(-time.Minute)), stored(nil), false, []string{ReasonPendingChange}},
		{"re-price pending", lookup("5", "10", modified), stored(func(r *storefront.StoredRow) {
			r.PriceCents, r.PricedCents, r.RulesVersion = 1000, ptr(int64(1000)), "old"
		}), false, []string{ReasonRepricing}},
		{"discontinued, back in the ERP", lookup("5", "10", modified), stored(func(r *storefront.StoredRow) {
			r.Quantity, r.DeletedAt = 0, ptr(now)
		}), false, []string{ReasonDiscontinued}},
		{"dead-lettered", lookup("-3", "10", now.Add(-time.Minute)), stored(nil), false, []string{ReasonDeadLettered}},
		{"dead-lettered, never written", lookup("-3", "10", now.Add(-time.Minute)), nil, false, []string{ReasonDeadLettered}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := Explain("A", tt.erp, tt.row, nil, rules, inventory.DefaultLimits(), now)
			var codes []string
			for _, r := range e.Reasons {
				codes = append(codes, r.Code)
			}
			require.Equal(t, tt.reasons, codes, e.Summary)
			require.Equal(t, tt.agree, e.Agree)
			require.NotEmpty(t, e.Summary)
			require.Equal(t, rules.Version, e.RulesVersion)
			require.NotNil(t, e.DeadLetters, "listed as [] in JSON")
			if e.ERP.Found && e.ERP.Rejection == nil {
				require.Equal(t, *e.ERP.PriceCents, e.Pricing.PriceCents)
				require.Equal(t, "erp", e.PricedFrom)
				require.Len(t, e.Pricing.Steps, 1)
			}
			if !e.ERP.Found {
				require.Equal(t, "not in the ERP", e.ERP.Note)
			}
		})
	}
}

func TestExplainListsLettersAndBoundsThem(t *testing.T) {
	now := time.Now()
	var letters []deadletter.Letter
	for range maxExplainLetters + 1 {
		letters = append(letters, deadletter.Letter{ID: "x", SKU: "A"})
	}
	e := Explain("A", ERPLookup{}, nil, letters, pricing.None(), inventory.DefaultLimits(), now)
	require.Len(t, e.DeadLetters, maxExplainLetters)
	require.True(t, e.MoreDeadLetters)
}

func TestIsWorkflowID(t *testing.T) {
	require.True(t, IsWorkflowID("invsync-apply-0123"))
	require.True(t, IsWorkflowID("invsync-reconcile-erp-2026-11-20T00:00:00Z"))
	require.False(t, IsWorkflowID(""))
	require.False(t, IsWorkflowID("reprice:abc@2026-11-20T00:00:00Z"))
}

func TestExplainInputValidate(t *testing.T) {
	require.NoError(t, ExplainInput{SKU: "SKU-1"}.Validate())
	for _, sku := range []string{"", "a\x00b", "\xff", string(make([]byte, 10<<10))} {
		require.Error(t, ExplainInput{SKU: sku}.Validate(), "%q", sku)
	}
}

func TestMoney(t *testing.T) {
	require.Equal(t, "0.05", Money(5))
	require.Equal(t, "19.99", Money(1999))
	require.Equal(t, "-1.50", Money(-150))
}
