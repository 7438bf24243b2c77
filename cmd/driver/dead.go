package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jetray/jetray/framework"
)

// runDead is "driver dead": it lists the calls kept in the dead-letter stream JETRAY_DEAD
// (calls that used up their attempts) with their reasons, or with -replay SEQ submits one
// again as a new call, prints its JSON result, and removes it from the stream.
func runDead(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dead", "dead [-replay SEQ] [-limit N] [-timeout 30s] [-nats URL]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	replay := fs.Uint64("replay", 0, "submit the dead letter with stream sequence `SEQ` again and print its result")
	limit := fs.Int("limit", 100, "list at most `N` dead letters, oldest first (0: all)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long -replay waits for the result")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"dead: takes no arguments"}
	}
	c, cancel, err := connectCmd(ctx, "dead", *natsURL, auth)
	if err != nil {
		return err
	}
	defer cancel()
	if *replay > 0 {
		f, err := framework.ReplayDeadLetter(ctx, c, *replay)
		if err != nil {
			return fmt.Errorf("dead: replay %d: %w", *replay, err)
		}
		wctx, wcancel := context.WithTimeout(ctx, *timeout)
		defer wcancel()
		raw, err := f.Await(wctx)
		if err != nil {
			return callFailed(ctx, c, stderr, "replay", f.ID(), *timeout, err)
		}
		fmt.Fprintln(stdout, string(raw))
		return nil
	}
	dead, err := framework.DeadLetters(ctx, c, *limit)
	if err != nil {
		return fmt.Errorf("dead: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SEQ\tNAME\tCALL_ID\tATTEMPTS\tWHEN\tREASON\n")
	for _, d := range dead {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", d.Seq, d.Name, d.ID, d.Attempts, d.Time.UTC().Format(time.RFC3339),
			firstLine(d.Reason, 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d dead letter(s); replay one with: driver dead -replay SEQ\n", len(dead))
	return nil
}
