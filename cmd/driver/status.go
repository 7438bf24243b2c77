package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/nats-io/nats.go/jetstream"
)

// runStatus is "driver status": it prints every stream with its message count and size,
// every consumer with its backlog, the names workers have registered, and every actor in the
// actors bucket (ray list actors), dead ones included.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("status", "status [-nats URL]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	connOpts, err := authOptions("status", auth)
	if err != nil {
		return err
	}
	connOpts = append(connOpts, logOption(fs, stderr))
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("status: unexpected argument %q", pos[0])}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cctx, ccancel := context.WithTimeout(ctx, connectTimeout)
	defer ccancel()
	c, err := framework.Connect(cctx, *natsURL, append([]framework.Option{framework.WithName("jetray-driver")}, connOpts...)...)
	if err != nil {
		return err
	}
	defer c.Close()
	js := c.JetStream()

	n := c.Names()
	ours := append(n.Streams(), "OBJ_"+n.ObjectsBucket)
	for _, b := range []string{n.RegistryBucket, n.ActorsBucket, n.CancelBucket, n.WorkersBucket, n.HandbacksBucket} {
		ours = append(ours, "KV_"+b)
	}
	streams, err := listStreams(ctx, js, ours)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STREAM\tRETENTION\tSTORAGE\tMESSAGES\tBYTES\tCONSUMERS\tSUBJECTS\n")
	for _, s := range streams {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\n", s.Config.Name, s.Config.Retention, s.Config.Storage,
			s.State.Msgs, s.State.Bytes, s.State.Consumers, strings.Join(s.Config.Subjects, ","))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(stdout)
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STREAM\tCONSUMER\tPENDING\tACK_PENDING\tREDELIVERED\tWAITING\tFILTER\n")
	own := n.ResultSubjectPrefix + c.ID() + ".>"
	for _, s := range streams {
		infos, err := listConsumers(ctx, js, s.Config.Name)
		if err != nil {
			return err
		}
		for _, ci := range infos {
			filters := ci.Config.FilterSubjects
			if ci.Config.FilterSubject != "" {
				filters = append(filters, ci.Config.FilterSubject)
			}
			if slices.Contains(filters, own) {
				continue // this command's own results subscription
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Config.Name, ci.Name, ci.NumPending,
				ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, strings.Join(filters, ","))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(stdout)
	entries, err := framework.Registrations(ctx, c)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tKIND\tWORKER\tREGISTERED\n")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Name, e.Kind, e.Worker, e.At.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(stdout)
	recs, err := actors.List(ctx, c)
	if err != nil {
		return fmt.Errorf("status: list actors: %w", err)
	}
	slices.SortFunc(recs, func(a, b actors.Record) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.ID, b.ID))
	})
	tw = tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ACTOR_ID\tCLASS\tNAME\tSTATE\tWORKER\tMAX_CONCURRENCY\tERROR\n")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.ID, r.Class, orDash(r.Name), r.State, orDash(r.Worker),
			r.MaxConcurrency, firstLine(r.Error, 80))
	}
	return tw.Flush()
}

// firstLine returns the first line of s, cut to at most n bytes.
func firstLine(s string, n int) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n-3], "") + "..."
	}
	return s
}

// orDash returns s, or "-" for an empty s, so table columns stay aligned.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listStreams returns the deployment's streams among those on the server (a namespace sees
// its own only).
func listStreams(ctx context.Context, js jetstream.JetStream, ours []string) ([]*jetstream.StreamInfo, error) {
	var out []*jetstream.StreamInfo
	l := js.ListStreams(ctx)
	for info := range l.Info() {
		if slices.Contains(ours, info.Config.Name) {
			out = append(out, info)
		}
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("status: list streams: %w", err)
	}
	slices.SortFunc(out, func(a, b *jetstream.StreamInfo) int { return strings.Compare(a.Config.Name, b.Config.Name) })
	return out, nil
}

func listConsumers(ctx context.Context, js jetstream.JetStream, stream string) ([]*jetstream.ConsumerInfo, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("status: stream %s: %w", stream, err)
	}
	var out []*jetstream.ConsumerInfo
	l := s.ListConsumers(ctx)
	for info := range l.Info() {
		out = append(out, info)
	}
	if err := l.Err(); err != nil {
		return nil, fmt.Errorf("status: list consumers of %s: %w", stream, err)
	}
	slices.SortFunc(out, func(a, b *jetstream.ConsumerInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
