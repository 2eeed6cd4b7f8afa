package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/config"
)

// explain takes -wait alone, like show. (Set here, beside the command, so
// the table of the dead-letter commands stays as it is.)
func init() { commandFlags["explain"] = []string{"wait"} }

// checkExplain checks an explain command line: one SKU, that can be one.
func checkExplain(args []string) error {
	if len(args) != 1 {
		return errors.New("explain takes one SKU")
	}
	return activities.ExplainInput{SKU: args[0]}.Validate()
}

func explainInput(cfg config.Config, sku string) activities.ExplainInput {
	return activities.ExplainInput{SKU: sku, ERPTaskQueue: cfg.ERPTaskQueue, WebUI: cfg.TemporalUI}
}

// printExplanation prints an explanation for a terminal: every value from
// the ERP or the storefront through quote.
func printExplanation(out io.Writer, e activities.Explanation) {
	fmt.Fprintf(out, "%s: %s\n", quote(e.SKU), quote(e.Summary))
	if len(e.Reasons) > 1 { // one is the summary
		for _, r := range e.Reasons {
			fmt.Fprintf(out, "  - %s: %s\n", quote(r.Code), quote(r.Message))
		}
	} else if len(e.Reasons) == 1 {
		fmt.Fprintf(out, "  (%s)\n", quote(e.Reasons[0].Code))
	}

	fmt.Fprintf(out, "\nERP, read at %s\n", stamp(e.ERP.Clock))
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if row := e.ERP.Row; row != nil {
		fmt.Fprintf(w, "  quantity\t%s\n", text(row.Quantity))
		fmt.Fprintf(w, "  price\t%s\n", text(row.Price))
		fmt.Fprintf(w, "  cost\t%s\n", text(row.Cost))
		fmt.Fprintf(w, "  category\t%s\n", text(row.Category))
		fmt.Fprintf(w, "  last modified\t%s\n", stamp(row.LastModified))
	}
	if e.ERP.Note != "" {
		fmt.Fprintf(w, "  note\t%s\n", quote(e.ERP.Note))
	}
	switch {
	case e.ERP.Rejection != nil:
		fmt.Fprintf(w, "  cannot be applied\t%s: %s\n", quote(e.ERP.Rejection.Code), quote(e.ERP.Rejection.Message))
	case e.ERP.Quantity != nil && e.ERP.PriceCents != nil:
		fmt.Fprintf(w, "  should show\tquantity %d at %s\n", *e.ERP.Quantity, activities.Money(*e.ERP.PriceCents))
	}
	w.Flush()

	fmt.Fprintln(out, "\nstorefront")
	w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	if r := e.Row; r == nil {
		fmt.Fprintln(w, "  no row")
	} else {
		fmt.Fprintf(w, "  shows\tquantity %d at %s\n", r.Quantity, activities.Money(r.PriceCents))
		if r.ERPQuantity != nil && r.PricedCents != nil {
			edited := ""
			if r.HandEdited {
				edited = " (edited by hand since)"
			}
			fmt.Fprintf(w, "  invsync wrote\tquantity %d at %s%s\n", *r.ERPQuantity, activities.Money(*r.PricedCents), edited)
		}
		fmt.Fprintf(w, "  ERP values kept\tprice %s, cost %s, category %s\n", text(r.ERPPrice), text(r.ERPCost), text(r.ERPCategory))
		fmt.Fprintf(w, "  ERP version\t%s\n", stamp(r.ERPModified))
		fmt.Fprintf(w, "  rules version\t%s\n", orDash(quote(r.RulesVersion)))
		fmt.Fprintf(w, "  synced at\t%s\n", stamp(r.SyncedAt))
		if r.DeletedAt != nil {
			fmt.Fprintf(w, "  discontinued at\t%s\n", stamp(*r.DeletedAt))
		}
		fmt.Fprintf(w, "  written by\t%s\n", orDash(quote(r.WrittenBy)))
		if r.WrittenByURL != "" {
			fmt.Fprintf(w, "  \t%s\n", quote(r.WrittenByURL))
		}
		if r.ReconcileVerdict != "" && r.ReconciledAt != nil {
			fmt.Fprintf(w, "  last reconcile\t%s, at %s\n", quote(r.ReconcileVerdict), stamp(*r.ReconciledAt))
		} else {
			fmt.Fprintln(w, "  last reconcile\tnone has written it")
		}
	}
	w.Flush()

	fmt.Fprintf(out, "\npricing: rules %s in force", orDash(quote(e.RulesVersion)))
	if p := e.Pricing; p == nil {
		fmt.Fprintln(out, "; nothing to price")
	} else {
		from := "the ERP's row"
		if e.PricedFrom == "storefront" {
			from = "the ERP values the storefront kept"
		}
		fmt.Fprintf(out, ", %s priced for %s\n", from, stamp(p.At))
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "  start\t%s\n", orDash(quote(p.Start)))
		for i, s := range p.Steps {
			fmt.Fprintf(w, "  %d. %s (%s)\t%s\n", i+1, quote(s.Rule), quote(s.Actions), quote(s.Price))
		}
		if len(p.Steps) == 0 {
			fmt.Fprintln(w, "  no rule applies")
		}
		if p.Rejection == nil {
			capped := ""
			if p.Cap != "" {
				capped = ", under the cap " + quote(p.Cap)
			}
			fmt.Fprintf(w, "  rounded (%s%s)\t%s\n", quote(p.Rounding), capped, activities.Money(p.PriceCents))
		}
		w.Flush()
		if p.Rejection != nil {
			fmt.Fprintf(out, "  rejected: %s: %s\n", quote(p.Rejection.Code), quote(p.Rejection.Message))
		}
	}

	fmt.Fprintf(out, "\ndead letters: %d", len(e.DeadLetters))
	if e.MoreDeadLetters {
		fmt.Fprint(out, " most recent shown, and more")
	}
	fmt.Fprintln(out)
	if len(e.DeadLetters) > 0 {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "  ID\tREASON\tSTAGE\tATTEMPTS\tLAST\tMESSAGE")
		for _, l := range e.DeadLetters {
			fmt.Fprintf(w, "  %s\t%s\t%s\t%d\t%s\t%s\n", quote(l.ID), quote(l.Reason.Code), quote(l.Stage), l.Attempts,
				l.LastAt.Format(time.RFC3339), quote(l.Reason.Message))
		}
		w.Flush()
	}
	if e.Workflow != "" {
		fmt.Fprintf(out, "\nexplained by workflow %s\n", quote(e.Workflow))
	}
}

// text shows an ERP value: "NULL" for none.
func text(s *string) string {
	if s == nil {
		return "NULL"
	}
	return quote(*s)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
