package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go/jetstream"
)

// runList is "driver list tasks|actors|workers|schedules", like `ray list`: the latest state
// of the calls recorded in JETRAY_EVENTS, the actor records, the live workers, or the
// periodic schedules, filtered by -state and -name.
func runList(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("list", "list tasks|actors|workers|schedules [-state S] [-name N] [-limit N] [-nats URL]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	state := fs.String("state", "", "only rows in `STATE` (tasks: RUNNING, RETRYING, FINISHED, FAILED; actors: PENDING, ALIVE, FAILED, DEAD)")
	name := fs.String("name", "", "only rows whose task name, actor class or actor name, (for workers) worker name, or (for schedules) schedule or task name is `NAME`")
	limit := fs.Int("limit", 10000, "tasks: read at most the last `N` events (0: all)")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || !slices.Contains([]string{"tasks", "actors", "workers", "schedules"}, pos[0]) {
		return usageError{"list: want one of tasks, actors, workers, schedules"}
	}
	c, cancel, err := connectCmd(ctx, "list", *natsURL, auth)
	if err != nil {
		return err
	}
	defer cancel()
	st := strings.ToUpper(*state)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	switch pos[0] {
	case "tasks":
		evs, err := framework.TaskEvents(ctx, c, *limit)
		if err != nil {
			return fmt.Errorf("list tasks: %w", err)
		}
		fmt.Fprintf(tw, "TASK_ID\tNAME\tSTATE\tATTEMPTS\tWORKER\tERROR_TYPE\tDURATION\tERROR\n")
		for _, e := range evs {
			if (st != "" && e.State != st) || (*name != "" && e.Name != *name) {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.Name, e.State, e.Attempt, orDash(e.Worker),
				orDash(string(e.ErrorKind)), taskDuration(e), orDash(firstLine(e.Error, 60)))
		}
	case "actors":
		recs, err := actors.List(ctx, c)
		if err != nil {
			return fmt.Errorf("list actors: %w", err)
		}
		slices.SortFunc(recs, func(a, b actors.Record) int {
			return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
		})
		fmt.Fprintf(tw, "ACTOR_ID\tCLASS\tNAME\tSTATE\tWORKER\tRESTARTS\tDEATH_CAUSE\n")
		for _, r := range recs {
			if (st != "" && r.State != st) || (*name != "" && r.Class != *name && r.Name != *name) {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Class, orDash(r.Name), r.State, orDash(r.Worker),
				r.Restarts, orDash(firstLine(r.Error, 80)))
		}
	case "workers":
		if st != "" && st != "ALIVE" {
			break // only live workers are known
		}
		ws, err := liveWorkers(ctx, c)
		if err != nil {
			return fmt.Errorf("list workers: %w", err)
		}
		fmt.Fprintf(tw, "WORKER\tSTATE\tCLIENT\tSTARTED\tLABELS\tCAPACITY\tIN_USE\tNAMES\n")
		for _, k := range slices.Sorted(maps.Keys(ws)) {
			w := ws[k]
			if *name != "" && w.Name != *name {
				continue
			}
			names := slices.Clone(w.Names)
			slices.Sort(names)
			fmt.Fprintf(tw, "%s\tALIVE\t%s\t%s\t%s\t%s\t%s\t%s\n", w.Name, w.Client, w.Started.Format(time.RFC3339),
				orDash(pairs(w.Labels, func(v string) string { return v })), orDash(pairs(w.Capacity, amount)),
				orDash(pairs(w.InUse, amount)), strings.Join(names, ","))
		}
	case "schedules":
		return listSchedules(ctx, c, tw, *name)
	}
	return tw.Flush()
}

// listSchedules prints the periodic schedules, those of schedule or task name only if name
// is set: when each runs next, the input of its runs (JSON up to 40 bytes, spaces dropped;
// another codec's size) and, last as it has spaces, its spec.
func listSchedules(ctx context.Context, c *framework.Client, tw *tabwriter.Writer, name string) error {
	ss, err := framework.Schedules(ctx, c)
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	fmt.Fprintf(tw, "NAME\tTASK\tNEXT_RUN\tZONE\tDECLARED\tINPUT\tSPEC\n")
	for _, s := range ss {
		if name != "" && s.Name != name && s.Task != name {
			continue
		}
		next := "-"
		if !s.Next.IsZero() {
			next = s.Next.UTC().Format(time.RFC3339)
		}
		input := string(s.Input)
		if s.Codec != "json" {
			input = s.Codec + ":" + strconv.Itoa(len(s.Input)) + "B"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Task, next, orDash(s.Zone),
			s.Declared.UTC().Format(time.RFC3339), orDash(firstLine(strings.ReplaceAll(input, " ", ""), 40)), s.Spec)
	}
	return tw.Flush()
}

// pairs writes m as k=v pairs sorted by key, comma-separated ("" for none).
func pairs[V any](m map[string]V, format func(V) string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + format(m[k]))
	}
	return b.String()
}

// amount writes a resource amount without trailing zeros.
func amount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// taskDuration is how long e's attempt ran, or has run, or "-".
func taskDuration(e framework.TaskEvent) string {
	if e.Started.IsZero() {
		return "-"
	}
	return e.Time.Sub(e.Started).Round(time.Microsecond).String()
}

// liveWorkers is framework.LiveWorkers, except that while the liveness bucket warms up (a
// missing key does not yet mean a dead worker) it lists the keys present, which are live.
func liveWorkers(ctx context.Context, c *framework.Client) (map[string]framework.WorkerInfo, error) {
	ws, err := framework.LiveWorkers(ctx, c)
	if !errors.Is(err, framework.ErrLivenessWarmingUp) {
		return ws, err
	}
	kv, err := c.JetStream().KeyValue(ctx, c.Names().WorkersBucket)
	if err != nil {
		return nil, err
	}
	ws = map[string]framework.WorkerInfo{}
	lister, err := kv.ListKeys(ctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return ws, nil
		}
		return nil, err
	}
	for k := range lister.Keys() {
		e, err := kv.Get(ctx, k)
		var wi framework.WorkerInfo
		if err == nil && json.Unmarshal(e.Value(), &wi) == nil && time.Since(e.Created()) < framework.LivenessTTL {
			ws[k] = wi
		}
	}
	return ws, nil
}
