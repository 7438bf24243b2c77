package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// runSummary is "driver summary": task calls by name and state, actors by class and state.
func runSummary(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("summary", "summary [-limit N] [-nats URL]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	limit := fs.Int("limit", 0, "read at most the last `N` task events (0: all)")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("summary: unexpected argument %q", pos[0])}
	}
	c, cancel, err := connectCmd(ctx, "summary", *natsURL, auth)
	if err != nil {
		return err
	}
	defer cancel()
	evs, err := framework.TaskEvents(ctx, c, *limit)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	tasks := map[string]map[string]int{}
	for _, e := range evs {
		count(tasks, e.Name, e.State)
	}
	taskStates := []string{framework.TaskRunning, framework.TaskRetrying, framework.TaskFinished, framework.TaskFailed}
	if err := printCounts(stdout, "TASK", taskStates, tasks); err != nil {
		return err
	}
	recs, err := actors.List(ctx, c)
	if err != nil {
		return fmt.Errorf("summary: list actors: %w", err)
	}
	classes := map[string]map[string]int{}
	for _, r := range recs {
		count(classes, r.Class, r.State)
	}
	fmt.Fprintln(stdout)
	return printCounts(stdout, "ACTOR_CLASS", []string{actors.StatePending, actors.StateAlive, actors.StateFailed, actors.StateDead}, classes)
}

func count(m map[string]map[string]int, name, state string) {
	if m[name] == nil {
		m[name] = map[string]int{}
	}
	m[name][state]++
}

// printCounts prints one row per name with its total and its count in each state.
func printCounts(w io.Writer, first string, states []string, counts map[string]map[string]int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tTOTAL\t%s\n", first, strings.Join(states, "\t"))
	for _, name := range slices.Sorted(maps.Keys(counts)) {
		total := 0
		for _, n := range counts[name] {
			total += n
		}
		fmt.Fprintf(tw, "%s\t%d", name, total)
		for _, s := range states {
			fmt.Fprintf(tw, "\t%d", counts[name][s])
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
