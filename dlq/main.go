// Command dlq inspects and works the dead-letter queue: list and show dead
// letters, replay them through validation and pricing, or purge them. Each
// operation runs as a Temporal workflow on the apply task queue, so it shows
// in the Web UI; the command prints the equivalent temporal CLI call.
//
//	dlq [config flags] list [-limit N]
//	dlq [config flags] show ID...
//	dlq [config flags] replay (-all | ID...)
//	dlq [config flags] purge (-all | ID...) [-yes]
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"text/tabwriter"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/invsync/invsync/activities"
	"github.com/invsync/invsync/internal/config"
	"github.com/invsync/invsync/internal/queue"
	"github.com/invsync/invsync/workflows"
)

const usage = `usage: dlq [config flags] command
  list [-limit N]           show the first N dead letters (default 50)
  show ID...                show dead letters in full, payload included
  replay (-all | ID...)     run them through validation and pricing again
  purge (-all | ID...) [-yes]  remove them for good (asks first unless -yes)
each command also takes -wait D: how long to wait for the worker (default 1m)`

func main() {
	cfg, rest, err := config.Load("dlq", os.Args[1:], os.Getenv)
	if err == nil && len(rest) == 0 {
		err = errors.New(usage)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, rest, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dlq:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config.Config, args []string, stdin io.Reader, out io.Writer) error {
	cmd := args[0]
	fs := flag.NewFlagSet("dlq "+cmd, flag.ContinueOnError)
	limit := fs.Int("limit", 50, "most letters to list")
	wait := fs.Duration("wait", time.Minute, "how long to wait for the worker to answer")
	all := fs.Bool("all", false, "every letter (up to 10,000 at a time)")
	yes := fs.Bool("yes", false, "purge without asking")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ids := fs.Args()

	tc, err := cfg.DialCommand(ctx)
	if err != nil {
		return err
	}
	defer tc.Close()
	op := operation{tc: tc, cfg: cfg, out: out, wait: *wait}
	sel := activities.SelectDeadLetters{IDs: ids, All: *all}

	switch cmd {
	case "list":
		var letters []queue.Letter
		if err := op.execute(ctx, "ListDeadLetters", workflows.ListDeadLetters, activities.ListDeadLettersInput{Limit: *limit}, &letters); err != nil {
			return err
		}
		printTable(out, letters)
	case "show":
		if len(ids) == 0 {
			return errors.New("show: name the letters by ID")
		}
		var letters []queue.Letter
		if err := op.execute(ctx, "ListDeadLetters", workflows.ListDeadLetters, activities.ListDeadLettersInput{IDs: ids}, &letters); err != nil {
			return err
		}
		if len(letters) == 0 {
			return fmt.Errorf("no dead letter with ID %s", strings.Join(ids, ", "))
		}
		return printJSON(out, letters)
	case "replay":
		if err := sel.Validate(); err != nil {
			return err
		}
		var res activities.ReplayResult
		if err := op.execute(ctx, "ReplayDeadLetters", workflows.ReplayDeadLetters, sel, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "replayed %d: %d applied, %d already superseded, %d rejected again (rules %s)\n",
			res.Taken, res.Applied, res.Stale, len(res.Rejected), res.RulesVersion)
		printTable(out, res.Rejected)
	case "purge":
		if err := sel.Validate(); err != nil {
			return err
		}
		if !*yes {
			what := strings.Join(ids, ", ")
			if *all {
				what = "every dead letter"
			}
			fmt.Fprintf(out, "purge %s for good? type yes: ", what)
			answer, _ := bufio.NewReader(stdin).ReadString('\n')
			if strings.TrimSpace(answer) != "yes" {
				return errors.New("purge: not confirmed, nothing removed")
			}
		}
		var res activities.PurgeDeadLettersResult
		in := workflows.PurgeInput{SelectDeadLetters: sel, Confirm: true}
		if err := op.execute(ctx, "PurgeDeadLetters", workflows.PurgeDeadLetters, in, &res); err != nil {
			return err
		}
		fmt.Fprintf(out, "purged %d\n", len(res.Purged))
		printTable(out, res.Purged)
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
	return nil
}

type operation struct {
	tc   client.Client
	cfg  config.Config
	out  io.Writer
	wait time.Duration
}

// execute runs one operation's workflow to its end, after printing the
// temporal CLI call that does the same.
func (o operation) execute(ctx context.Context, name string, wf, in, result any) error {
	input, err := json.Marshal(in)
	if err != nil {
		return err
	}
	id := fmt.Sprintf("invsync-dlq-%s-%d", strings.ToLower(strings.TrimSuffix(name, "DeadLetters")), time.Now().UnixNano())
	fmt.Fprintf(o.out, "# temporal workflow execute --type %s --task-queue %s --workflow-id %s --input '%s'\n",
		name, o.cfg.ApplyTaskQueue, id, input)
	run, err := o.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: o.cfg.ApplyTaskQueue,
		// An operation nobody picks up (no worker running) ends by itself.
		WorkflowExecutionTimeout: 10 * time.Minute,
	}, wf, in)
	if err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.wait)
	defer cancel()
	if err := run.Get(wctx, result); err != nil {
		if wctx.Err() != nil && ctx.Err() == nil {
			return fmt.Errorf("%s (workflow %s): no answer within %s: is the worker running on task queue %s?",
				name, id, o.wait, o.cfg.ApplyTaskQueue)
		}
		return fmt.Errorf("%s (workflow %s): %w", name, id, err)
	}
	return nil
}

func printTable(out io.Writer, letters []queue.Letter) {
	if len(letters) == 0 {
		fmt.Fprintln(out, "no dead letters")
		return
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSKU\tREASON\tWHEN\tATTEMPTS\tMESSAGE")
	for _, l := range letters {
		at := "-"
		if !l.At.IsZero() {
			at = l.At.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", l.ID, l.SKU, l.ReasonCode, at, l.Attempts, l.Reason)
	}
	w.Flush()
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
