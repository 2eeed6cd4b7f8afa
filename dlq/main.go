// Command dlq works the dead letters the pipeline keeps in the storefront's
// PostgreSQL: list and show them, replay them through validation and
// pricing, or purge them. Each operation runs as a Temporal workflow on the
// apply task queue, so it shows in the Web UI; the command prints the
// equivalent temporal CLI call.
//
//	dlq list [-limit N] [-reason CODE] [ID...]
//	dlq show ID...
//	dlq explain SKU
//	dlq replay (-all [-reason CODE] | ID...)
//	dlq purge (-all [-reason CODE] | ID...) [-yes]
//
// Every operation records who runs it (-operator, else $INVSYNC_OPERATOR,
// else the OS user) in its workflow's memo, which the Web UI shows; a purge
// also passes it in its input, and is refused without one.
//
// Flags, the configuration's and the command's, may come anywhere: before the
// command, between IDs or after them.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/internal/deadletter"
	"github.com/invsync/invsync/workflows"
)

const usage = `usage: dlq [flags] command [flags] [ID...]
  list [-limit N] [-reason CODE] [ID...]  the most recent N dead letters (default 50, at most 1000)
  show ID...                             dead letters in full, payload included (at most 100)
  explain SKU                            the ERP's row and the storefront's, whether they agree and why not
  replay (-all [-reason CODE] | ID...)   run them through validation and pricing again
  purge (-all [-reason CODE] | ID...)    remove them for good (asks first unless -yes)
every command takes -wait D: how long to wait for the worker (default 1m)
  and -operator NAME: who runs it, recorded with it (default $INVSYNC_OPERATOR, else the OS user; purge needs one)
flags may come anywhere; "dlq -h" lists them all, the configuration's too`

func main() {
	inv, err := parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, usage)
		inv.flags.SetOutput(os.Stderr)
		inv.flags.PrintDefaults()
		return
	}
	var cfg config.Config
	if err == nil {
		cfg, _, err = config.Load("dlq", inv.config)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "dlq: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, inv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

// invocation is a command line, parsed.
type invocation struct {
	cmd    string
	ids    []string
	limit  int
	reason string
	all    bool
	yes    bool
	wait   time.Duration
	// operator is who runs the command, "" when nobody could be named.
	operator string
	// config holds the configuration flags, for config.Load.
	config []string
	flags  *flag.FlagSet
}

// commandFlags are the flags each command takes.
var commandFlags = map[string][]string{
	"list":   {"limit", "reason", "wait", "operator"},
	"show":   {"wait", "operator"},
	"replay": {"all", "reason", "wait", "operator"},
	"purge":  {"all", "reason", "yes", "wait", "operator"},
}

// configFlag passes a configuration flag on to config.Load, so that one flag
// set parses the whole command line in any order.
type configFlag struct {
	name string
	args *[]string
}

func (f configFlag) String() string { return "" }

func (f configFlag) Set(v string) error {
	*f.args = append(*f.args, "-"+f.name+"="+v)
	return nil
}

// parse reads a command line. It checks what it can without the worker, so
// that a mistyped command fails before anything runs.
func parse(args []string) (invocation, error) {
	inv := invocation{flags: flag.NewFlagSet("dlq", flag.ContinueOnError)}
	fs := inv.flags
	fs.SetOutput(io.Discard) // errors are returned, usage printed by main
	fs.IntVar(&inv.limit, "limit", activities.DefaultListLimit, fmt.Sprintf("list: most letters to list (1 to %d)", activities.MaxListLimit))
	fs.StringVar(&inv.reason, "reason", "", "list, replay, purge: only letters with this reason code")
	fs.BoolVar(&inv.all, "all", false, "replay, purge: every letter (narrowed by -reason)")
	fs.BoolVar(&inv.yes, "yes", false, "purge: without asking")
	fs.DurationVar(&inv.wait, "wait", time.Minute, "how long to wait for the worker to answer")
	fs.StringVar(&inv.operator, "operator", "", "who runs the operation, recorded with it "+
		"(default $"+operatorEnv+", else the OS user; a purge is refused without one)")
	for _, o := range config.Reference() {
		fs.Var(configFlag{name: o.Flag, args: &inv.config}, o.Flag, o.Usage)
	}
	pos, err := parseAnywhere(fs, args)
	if err != nil {
		return inv, err
	}
	if len(pos) == 0 {
		return inv, errors.New("name a command")
	}
	inv.cmd = pos[0]
	if len(pos) > 1 {
		inv.ids = pos[1:]
	}
	allowed, ok := commandFlags[inv.cmd]
	if !ok {
		return inv, fmt.Errorf("unknown command %s", quote(inv.cmd))
	}
	var misplaced []string
	fs.Visit(func(f *flag.Flag) {
		if _, isConfig := f.Value.(configFlag); !isConfig && !slices.Contains(allowed, f.Name) {
			misplaced = append(misplaced, "-"+f.Name)
		}
	})
	if len(misplaced) > 0 {
		return inv, fmt.Errorf("%s does not take %s", inv.cmd, strings.Join(misplaced, ", "))
	}
	if err := inv.resolveOperator(); err != nil {
		return inv, err
	}
	switch inv.cmd {
	case "explain":
		err = checkExplain(inv.ids)
	case "list":
		err = inv.listInput().Validate()
	case "show":
		err = inv.showInput().Validate()
	case "replay", "purge":
		err = inv.selection().Validate()
	}
	return inv, err
}

// operatorEnv names the operator when -operator does not.
const operatorEnv = "INVSYNC_OPERATOR"

// currentUser is the OS user running the command.
var currentUser = user.Current

// resolveOperator names who runs the command: -operator, else
// $INVSYNC_OPERATOR, else the OS user. A purge without one is refused, as
// is a name that is not plain (see workflows.ValidateOperator).
func (inv *invocation) resolveOperator() error {
	from := "-operator"
	if inv.operator == "" {
		inv.operator, from = os.Getenv(operatorEnv), "$"+operatorEnv
	}
	var whyNoUser error
	if inv.operator == "" {
		from = "the OS user name"
		u, err := currentUser()
		if err == nil {
			inv.operator = u.Username
		} else {
			whyNoUser = err
		}
	}
	if inv.operator == "" {
		if inv.cmd != "purge" {
			return nil
		}
		why := "the OS user has no name"
		if whyNoUser != nil {
			why = "the OS user name could not be found: " + whyNoUser.Error()
		}
		return fmt.Errorf("purge must say who runs it: give -operator NAME or set $%s (%s)", operatorEnv, why)
	}
	if err := workflows.ValidateOperator(inv.operator); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	return nil
}

// parseAnywhere parses flags before, between and after positional arguments:
// the flag package stops at the first positional, so parsing resumes after
// each one. After "--" every argument is positional.
func parseAnywhere(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

func (inv invocation) filter() deadletter.Filter {
	return deadletter.Filter{IDs: inv.ids, Reason: inv.reason}
}

func (inv invocation) listInput() activities.ListDeadLettersInput {
	return activities.ListDeadLettersInput{Filter: inv.filter(), Limit: inv.limit}
}

func (inv invocation) showInput() activities.ShowDeadLettersInput {
	return activities.ShowDeadLettersInput{IDs: inv.ids}
}

func (inv invocation) selection() activities.SelectDeadLetters {
	return activities.SelectDeadLetters{Filter: inv.filter(), All: inv.all}
}

func run(ctx context.Context, cfg config.Config, inv invocation, stdin io.Reader, out io.Writer) error {
	if inv.cmd == "purge" && !inv.yes {
		what := "every dead letter"
		if !inv.all {
			what = strings.Join(quoteAll(inv.ids), ", ")
		}
		if inv.reason != "" {
			what += " with reason " + quote(inv.reason)
		}
		fmt.Fprintf(out, "purge %s for good, as %s? type yes: ", what, quote(inv.operator))
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(answer) != "yes" {
			return errors.New("purge: not confirmed, nothing removed")
		}
	}

	tc, err := cfg.DialCommand(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	op := operation{tc: tc, cfg: cfg, out: out, wait: inv.wait, operator: inv.operator}

	switch inv.cmd {
	case "explain":
		var res activities.Explanation
		if err := op.execute(ctx, "ExplainSKU", workflows.ExplainSKU, explainInput(cfg, inv.ids[0]), &res); err != nil {
			return err
		}
		printExplanation(out, res)
	case "list":
		var res activities.ListDeadLettersResult
		if err := op.execute(ctx, "ListDeadLetters", workflows.ListDeadLetters, inv.listInput(), &res); err != nil {
			return err
		}
		printList(out, res)
	case "show":
		var res activities.ShowDeadLettersResult
		if err := op.execute(ctx, "ShowDeadLetters", workflows.ShowDeadLetters, inv.showInput(), &res); err != nil {
			return err
		}
		printLetters(out, res.Letters)
		if len(res.NotFound) > 0 {
			return fmt.Errorf("no dead letter with ID %s", strings.Join(quoteAll(res.NotFound), ", "))
		}
	case "replay":
		var res activities.ReplayResult
		if err := op.execute(ctx, "ReplayDeadLetters", workflows.ReplayDeadLetters, inv.selection(), &res); err != nil {
			return err
		}
		printReplay(out, res)
	case "purge":
		var res workflows.PurgeResult
		in := workflows.PurgeInput{SelectDeadLetters: inv.selection(), Confirm: true, Operator: inv.operator}
		if err := op.execute(ctx, "PurgeDeadLetters", workflows.PurgeDeadLetters, in, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "purged %d, asked by %s\n", res.Purged, quote(res.Operator))
		printIDs(out, "purged", res.Purged, res.PurgedIDs)
		printIDs(out, "not found", len(res.NotFound), res.NotFound)
	}
	return nil
}

type operation struct {
	tc       client.Client
	cfg      config.Config
	out      io.Writer
	wait     time.Duration
	operator string
}

// memoOperator is the memo field naming who ran an operation, shown in the
// Web UI.
const memoOperator = "operator"

// execute runs one operation's workflow to its end, after printing the
// temporal CLI call that does the same.
func (o operation) execute(ctx context.Context, name string, wf, in, result any) error {
	input, err := json.Marshal(in)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("invsync-dlq-%s-%d", strings.ToLower(strings.TrimSuffix(name, "DeadLetters")), time.Now().UnixNano())
	var memo map[string]any
	memoFlag := ""
	if o.operator != "" {
		memo = map[string]any{memoOperator: o.operator}
		value, err := json.Marshal(o.operator)
		if err != nil {
			return err
		}
		memoFlag = " --memo " + shellQuote(memoOperator+"="+asciiJSON(value))
	}
	fmt.Fprintf(o.out, "# temporal workflow execute --type %s --task-queue %s --workflow-id %s%s --input %s\n",
		name, o.cfg.ApplyTaskQueue, id, memoFlag, shellQuote(asciiJSON(input)))
	run, err := o.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: o.cfg.ApplyTaskQueue,
		// An operation nobody picks up (no worker running) ends by itself.
		WorkflowExecutionTimeout: time.Hour,
		Memo:                     memo,
	}, wf, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	if err := run.Get(wctx, result); err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%s (workflow %s): no answer within %s: is the worker running on task queue %s? "+
				"(a long replay or purge goes on without this command: see the workflow in the Web UI)",
				name, id, o.wait, o.cfg.ApplyTaskQueue)
		}
		return fmt.Errorf("%s (workflow %s): %w", name, id, err)
	}
	return nil
}

func printList(out io.Writer, res activities.ListDeadLettersResult) {
	if len(res.Letters) == 0 {
		if res.Counts.Total == 0 {
			fmt.Fprintln(out, "no dead letters")
		} else {
			fmt.Fprintf(out, "no dead letters match; %s\n", countsLine(res.Counts))
		}
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSKU\tREASON\tSTAGE\tATTEMPTS\tWHEN\tMESSAGE")
	for _, l := range res.Letters {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", quote(l.ID), orDash(quote(l.SKU)), quote(l.Reason.Code),
			quote(l.Stage), l.Attempts, l.LastAt.Format(time.RFC3339), quote(l.Reason.Message))
	}
	w.Flush()
	fmt.Fprintf(out, "%d shown; %s\n", len(res.Letters), countsLine(res.Counts))
}

// countsLine says how many letters there are, by reason.
func countsLine(c deadletter.Counts) string {
	var by []string
	for _, code := range slices.Sorted(maps.Keys(c.ByReason)) {
		by = append(by, fmt.Sprintf("%s %d", quote(code), c.ByReason[code]))
	}
	return fmt.Sprintf("%d dead letters in all (%s)", c.Total, strings.Join(by, ", "))
}

func printLetters(out io.Writer, letters []deadletter.Letter) {
	for i, l := range letters {
		if i > 0 {
			fmt.Fprintln(out)
		}
		w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(w, "id\t%s\n", quote(l.ID))
		fmt.Fprintf(w, "sku\t%s\n", orDash(quote(l.SKU)))
		fmt.Fprintf(w, "stage\t%s\n", quote(l.Stage))
		fmt.Fprintf(w, "reason\t%s\n", quote(l.Reason.Code))
		fmt.Fprintf(w, "message\t%s\n", quote(l.Reason.Message))
		fmt.Fprintf(w, "attempts\t%d\n", l.Attempts)
		fmt.Fprintf(w, "batch\t%s\n", orDash(quote(l.BatchID)))
		if l.Cursor != nil {
			cursor, _ := json.Marshal(l.Cursor)
			fmt.Fprintf(w, "erp cursor\t%s\n", quote(string(cursor)))
		}
		fmt.Fprintf(w, "first\t%s\n", l.At.Format(time.RFC3339Nano))
		fmt.Fprintf(w, "last\t%s\n", l.LastAt.Format(time.RFC3339Nano))
		size := fmt.Sprintf("%d bytes, sha256 %s", l.PayloadSize, quote(l.PayloadSHA256))
		if len(l.Payload) < l.PayloadSize {
			size += fmt.Sprintf(", the first %d kept", len(l.Payload))
		}
		fmt.Fprintf(w, "payload\t%s\n", size)
		w.Flush()
		fmt.Fprintln(out, quote(string(l.Payload)))
	}
}

func printReplay(out io.Writer, res activities.ReplayResult) {
	fmt.Fprintf(out, "replayed %d: %d applied, %d already superseded, %d rejected again, %d skipped (rules %s)\n",
		res.Read, res.Applied, res.Stale, res.Rejected, res.ERPRows+res.NotChanges, orDash(quote(res.RulesVersion)))
	if res.Rejected > 0 {
		var by []string
		for _, code := range slices.Sorted(maps.Keys(res.RejectedByReason)) {
			by = append(by, fmt.Sprintf("%s %d", quote(code), res.RejectedByReason[code]))
		}
		fmt.Fprintf(out, "rejected again, still dead letters with one more attempt: %s\n", strings.Join(by, ", "))
		printIDs(out, "rejected again", res.Rejected, res.RejectedIDs)
	}
	if res.ERPRows > 0 {
		fmt.Fprintf(out, "skipped %d ERP rows that never became changes: fix them in the ERP (the fix syncs by itself), then purge them\n", res.ERPRows)
	}
	if res.NotChanges > 0 {
		fmt.Fprintf(out, "skipped %d messages that are not changes: nothing to replay, purge them once seen\n", res.NotChanges)
	}
	printIDs(out, "skipped", res.ERPRows+res.NotChanges, res.SkippedIDs)
	printIDs(out, "not found", len(res.NotFound), res.NotFound)
}

// printIDs prints the example IDs of n letters.
func printIDs(out io.Writer, what string, n int, ids []string) {
	if len(ids) == 0 {
		return
	}
	label := what
	if n > len(ids) {
		label = fmt.Sprintf("%s (the first %d of %d)", what, len(ids), n)
	}
	fmt.Fprintf(out, "%s: %s\n", label, strings.Join(quoteAll(ids), " "))
}

// quote shows text from a letter safely on a terminal: as it is when it is
// printable, else quoted with control characters, invalid UTF-8 and other
// unprintable characters escaped.
func quote(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = quote(s)
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// asciiJSON writes JSON with every character outside printable ASCII
// escaped, so that what an operator typed (an ID, a reason) prints safely and
// the call stays valid JSON.
func asciiJSON(b []byte) string {
	var sb strings.Builder
	for _, r := range string(b) {
		switch {
		case r >= 0x20 && r < 0x7f:
			sb.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&sb, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&sb, `\u%04x`, r)
		}
	}
	return sb.String()
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
