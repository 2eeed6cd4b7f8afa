package activities

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/internal/inventory"
	"github.com/invsync/invsync/internal/pricing"
	"github.com/invsync/invsync/internal/storefront"
)

// Explaining a SKU: the ExplainSKU workflow reads the ERP's row of the SKU
// with LookupSKU on the ERP task queue (one ERP query at a time, as every
// other), then ExplainSKU, on the apply task queue, reads the storefront's
// row and dead letters and prices the ERP's row with the rules in force:
// what each side holds, whether they agree, and why not.

// ExplainInput names the SKU to explain.
type ExplainInput struct {
	SKU string `json:"sku"`
	// ERPTaskQueue is where the ERP is read; "": the default's.
	ERPTaskQueue string `json:"erp_task_queue,omitempty"`
	// WebUI is the Temporal Web UI's base URL, for links to the workflows
	// that wrote the row; "": no links.
	WebUI string `json:"web_ui,omitempty"`
}

// Validate refuses what cannot be a storefront SKU (empty, over 64 bytes,
// control characters, invalid UTF-8) before anything is read.
func (in ExplainInput) Validate() error {
	if err := inventory.CheckSKU(in.SKU); err != nil {
		var rej *inventory.Rejection
		if errors.As(err, &rej) {
			return fmt.Errorf("not a SKU: %s", rej.Message)
		}
		return err
	}
	if len(in.ERPTaskQueue) > 1000 || len(in.WebUI) > 1000 {
		return errors.New("task queue or Web UI address too long")
	}
	return nil
}

// ERPLookup is what the ERP has of one SKU, read at Clock: every value the
// exact text the view holds (nil: NULL).
type ERPLookup struct {
	// Rows are the view's rows of the SKU: one, or none; a view that holds
	// a SKU twice shows both.
	Rows  []inventory.Row `json:"rows"`
	Clock inventory.Clock `json:"clock"`
}

// LookupSKU reads the ERP's rows of one SKU with one keyed query, and the
// ERP's clock. It runs on the ERP task queue, taking turns with the poller.
func (r *Reconciler) LookupSKU(ctx context.Context, sku string) (ERPLookup, error) {
	if err := (ExplainInput{SKU: sku}).Validate(); err != nil {
		return ERPLookup{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	clock, err := r.ERP.Clock(ctx)
	if err != nil {
		return ERPLookup{}, err
	}
	rows, err := r.ERP.Lookup(ctx, []string{sku})
	if err != nil {
		return ERPLookup{}, err
	}
	if rows == nil {
		rows = []inventory.Row{}
	}
	return ERPLookup{Rows: rows, Clock: clock}, nil
}

// ExplainRowInput is the SKU and what the ERP has of it.
type ExplainRowInput struct {
	ExplainInput
	ERP ERPLookup `json:"erp"`
}

// Explanation says what each side holds of a SKU and why they differ.
type Explanation struct {
	SKU string `json:"sku"`
	// At is the instant of the explanation: the ERP's row is priced for it.
	At  time.Time   `json:"at"`
	ERP ERPSide     `json:"erp"`
	Row *StoredSide `json:"storefront"`
	// Agree: the storefront shows what the rules in force make of the ERP's
	// row now (or neither has the SKU, or the storefront has it
	// discontinued and the ERP has it no more).
	Agree bool `json:"agree"`
	// Summary says so in a sentence, and Reasons why they differ.
	Summary string   `json:"summary"`
	Reasons []Reason `json:"reasons,omitempty"`
	// RulesVersion names the rules in force, and Pricing is how they price
	// the ERP's row now (or, when the ERP has none, the ERP's values the
	// storefront kept: PricedFrom says which).
	RulesVersion string               `json:"rules_version"`
	Pricing      *pricing.Explanation `json:"pricing,omitempty"`
	PricedFrom   string               `json:"priced_from,omitempty"`
	// DeadLetters are the SKU's letters, most recent first, without
	// payloads; MoreDeadLetters: there are more than these.
	DeadLetters     []deadletter.Letter `json:"dead_letters"`
	MoreDeadLetters bool                `json:"more_dead_letters,omitempty"`
	// Workflow is the ExplainSKU workflow that answered.
	Workflow string `json:"workflow,omitempty"`
}

// ERPSide is the ERP's row now and what the storefront should show of it.
type ERPSide struct {
	Found bool `json:"found"`
	// Note says "not in the ERP", or that the view holds the SKU twice.
	Note  string         `json:"note,omitempty"`
	Row   *inventory.Row `json:"row,omitempty"`
	Clock time.Time      `json:"clock"`
	// Quantity and PriceCents are what the storefront should show: the
	// row validated and priced now. Nil with a Rejection.
	Quantity   *int64 `json:"quantity,omitempty"`
	PriceCents *int64 `json:"price_cents,omitempty"`
	// Rejection is why the row cannot be applied: its dead letter's reason.
	Rejection *inventory.Rejection `json:"rejection,omitempty"`
}

// StoredSide is the storefront's row, with a link to the workflow that last
// wrote it.
type StoredSide struct {
	storefront.StoredRow
	WrittenByURL string `json:"written_by_url,omitempty"`
	// HandEdited: it shows other values than invsync wrote.
	HandEdited bool `json:"hand_edited,omitempty"`
}

// Reason is one cause of a disagreement.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Reason codes of a disagreement.
const (
	ReasonMissing       = "missing"        // the ERP has it, the storefront not
	ReasonPendingChange = "pending_change" // the ERP changed it since the version shown
	ReasonHandEdit      = "hand_edit"      // the storefront shows what invsync did not write
	ReasonDiscontinued  = "discontinued"   // discontinued, and the ERP has it again
	ReasonGone          = "gone_from_erp"  // the ERP no longer has it, the storefront still sells it
	ReasonDeadLettered  = "dead_lettered"  // the ERP's row cannot be applied
	ReasonRepricing     = "repricing"      // the rules price it otherwise now; not re-priced yet
)

// maxExplainLetters bounds the letters an explanation lists.
const maxExplainLetters = 20

// ExplainSKU reads the storefront's row and dead letters of the SKU and
// explains them against the ERP's row in.ERP, priced now with the rules in
// force.
func (a *Applier) ExplainSKU(ctx context.Context, in ExplainRowInput) (Explanation, error) {
	if err := in.Validate(); err != nil {
		return Explanation{}, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	stored, found, err := a.Store.StoredRow(ctx, in.SKU)
	if err != nil {
		return Explanation{}, err
	}
	letters, err := a.DeadLetters.DeadLettersOfSKU(ctx, in.SKU, maxExplainLetters+1)
	if err != nil {
		return Explanation{}, err
	}
	var row *storefront.StoredRow
	if found {
		row = &stored
	}
	ns, wf := "default", ""
	if activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		ns, wf = info.WorkflowNamespace, info.WorkflowExecution.ID
	}
	e := Explain(in.SKU, in.ERP, row, letters, a.rules(), a.Limits.OrDefault(), time.Now().UTC())
	e.Workflow = wf
	if e.Row != nil && in.WebUI != "" && IsWorkflowID(e.Row.WrittenBy) {
		e.Row.WrittenByURL = strings.TrimRight(in.WebUI, "/") + "/namespaces/" + url.PathEscape(ns) + "/workflows/" +
			url.PathEscape(e.Row.WrittenBy)
	}
	return e, nil
}

// IsWorkflowID reports whether a row's written_by names a workflow: all but
// the names rows get when written outside one (tests, and re-prices of
// "reprice:<rules version>@<instant>").
func IsWorkflowID(writtenBy string) bool {
	return writtenBy != "" && !strings.HasPrefix(writtenBy, "reprice:") && !strings.HasPrefix(writtenBy, "reconcile-")
}

// Explain compares what the ERP has of a SKU (lookup) with the storefront's
// row (nil: none) and letters, pricing the ERP's row with rules for the
// instant now. It reads nothing: the activity and the tests give it what
// was read.
func Explain(sku string, lookup ERPLookup, row *storefront.StoredRow, letters []deadletter.Letter,
	rules *pricing.Rules, lim inventory.Limits, now time.Time) Explanation {
	e := Explanation{SKU: sku, At: now, RulesVersion: rules.Version, DeadLetters: letters,
		ERP: ERPSide{Found: len(lookup.Rows) > 0, Clock: lookup.Clock.Instant}}
	if e.DeadLetters == nil {
		e.DeadLetters = []deadletter.Letter{}
	}
	if len(e.DeadLetters) > maxExplainLetters {
		e.DeadLetters, e.MoreDeadLetters = e.DeadLetters[:maxExplainLetters], true
	}
	if row != nil {
		e.Row = &StoredSide{StoredRow: *row, HandEdited: row.Drifted()}
	}
	var change inventory.Change
	if e.ERP.Found {
		erpRow := lookup.Rows[0]
		e.ERP.Row = &erpRow
		if len(lookup.Rows) > 1 {
			e.ERP.Note = fmt.Sprintf("the ERP view holds this SKU %d times; the first is shown", len(lookup.Rows))
		}
		var rej *inventory.Rejection
		change, rej = inventory.ParseRow(erpRow, lookup.Clock, lim)
		if rej == nil {
			var item inventory.Item
			var p pricing.Explanation
			p, item, rej = rules.Explain(change, lim, now)
			e.Pricing, e.PricedFrom = &p, "erp"
			if rej == nil {
				e.ERP.Quantity, e.ERP.PriceCents = &item.Quantity, &item.PriceCents
			}
		}
		e.ERP.Rejection = rej
	} else {
		e.ERP.Note = "not in the ERP"
		if row != nil && row.ERPPrice != nil && row.ERPQuantity != nil {
			// How the rules price what the ERP last said.
			it := inventory.Item{SKU: row.SKU, Quantity: *row.ERPQuantity, Price: *row.ERPPrice, Cost: row.ERPCost,
				Category: row.ERPCategory, LastModified: row.ERPModified, ObservedAt: row.ObservedAt}
			p, _, _ := rules.Explain(it.Change(), lim, now)
			e.Pricing, e.PricedFrom = &p, "storefront"
		}
	}

	switch {
	case !e.ERP.Found && row == nil:
		e.Summary = "agree: neither the ERP nor the storefront has this SKU"
	case !e.ERP.Found && row.DeletedAt != nil:
		e.Summary = "agree: the ERP no longer has this SKU, and the storefront has it discontinued"
		if row.Quantity != 0 {
			e.because(ReasonHandEdit, "discontinued, but shows quantity %d: edited by hand since; the next reconcile sets it to 0", row.Quantity)
		}
	case !e.ERP.Found:
		e.because(ReasonGone, "the ERP no longer has this SKU and the storefront still sells it: the next reconcile discontinues it")
	default:
		e.compare(change, row)
	}
	e.Agree = len(e.Reasons) == 0
	if !e.Agree {
		e.Summary = "disagree: " + e.Reasons[0].Message
		if n := len(e.Reasons) - 1; n > 0 {
			e.Summary += fmt.Sprintf(" (and %d more below)", n)
		}
	}
	return e
}

// because adds a reason the two sides disagree.
func (e *Explanation) because(code, format string, args ...any) {
	e.Reasons = append(e.Reasons, Reason{Code: code, Message: fmt.Sprintf(format, args...)})
}

// compare explains an ERP row (change, when it parsed) against the
// storefront's row (nil: none).
func (e *Explanation) compare(change inventory.Change, row *storefront.StoredRow) {
	rej := e.ERP.Rejection
	if rej != nil {
		keeps := "the storefront has no row of it"
		if row != nil {
			keeps = "the storefront keeps the last version it could apply"
		}
		e.because(ReasonDeadLettered, "the ERP's row cannot be applied (%s: %s): %s, and a dead letter holds the row",
			rej.Code, rej.Message, keeps)
	}
	if row == nil {
		if rej == nil {
			e.because(ReasonMissing, "the storefront has no row of this SKU: the change is on its way (poller, queue or batch), or the next reconcile adds it")
		}
		return
	}
	switch {
	case row.DeletedAt != nil:
		e.because(ReasonDiscontinued, "discontinued at %s by %s, but the ERP has it again: the poller restores it when the ERP changes the row, the next reconcile otherwise",
			row.DeletedAt.Format(time.RFC3339), orUnknown(row.WrittenBy))
	case row.Drifted():
		e.because(ReasonHandEdit, "edited by hand: shows quantity %d at %s, invsync wrote quantity %d at %s; the next reconcile writes it again",
			row.Quantity, Money(row.PriceCents), *row.ERPQuantity, Money(*row.PricedCents))
	}
	if rej == nil && changed(change, *row) {
		e.because(ReasonPendingChange, "the ERP changed the row (last modified %s) since the version shown (%s): the change is on its way, or the next reconcile writes it",
			change.LastModified.Format(time.RFC3339Nano), row.ERPModified.Format(time.RFC3339Nano))
	}
	if rej != nil || len(e.Reasons) > 0 {
		return
	}
	qty, cents := *e.ERP.Quantity, *e.ERP.PriceCents
	switch {
	case row.Quantity == qty && row.PriceCents == cents:
		e.Summary = fmt.Sprintf("agree: the storefront shows what the rules in force make of the ERP's row now: quantity %d at %s", qty, Money(cents))
	case row.PriceCents != cents:
		e.because(ReasonRepricing, "priced %s by rules %s; the rules in force (%s) price it %s now: the Reprice workflow has not written it yet",
			Money(row.PriceCents), orUnknown(row.RulesVersion), e.RulesVersion, Money(cents))
	default:
		e.because(ReasonPendingChange, "shows quantity %d, the ERP's row has %d: the change is on its way, or the next reconcile writes it", row.Quantity, qty)
	}
}

// changed reports whether the ERP's row is another version, or other
// values, than the storefront's row was written from.
func changed(c inventory.Change, row storefront.StoredRow) bool {
	if !c.LastModified.Truncate(time.Microsecond).Equal(row.ERPModified) {
		return true
	}
	if c.ERPHash != 0 && row.ERPHash != 0 {
		return c.ERPHash != row.ERPHash
	}
	return row.ERPQuantity == nil || c.Quantity == nil || *c.Quantity != *row.ERPQuantity ||
		row.ERPPrice == nil || c.Price == nil || *c.Price != *row.ERPPrice
}

// Money writes cents as a price: 1999 is "19.99".
func Money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
