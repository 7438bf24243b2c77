package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
)

// runDemo is "driver demo": it starts an embedded NATS server (unless -nats is given) and an
// in-process worker serving the demo catalog, then walks through Ray's task and actor API as
// jetray spells it, printing each step's result and timing.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "demo [-nats URL]", stderr)
	natsURL := fs.String("nats", "", "use the NATS server at `URL` instead of an embedded one")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	connOpts, err := authOptions("demo", auth)
	if err != nil {
		return err
	}
	connOpts = append(connOpts, logOption(fs, stderr))
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("demo: unexpected argument %q", pos[0])}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	began := time.Now()
	t := &tour{w: stdout}
	fmt.Fprintln(stdout, "jetray demo: Ray's remote tasks, futures and actors, in Go, on NATS JetStream")

	url := *natsURL
	if url == "" {
		srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		url = srv.ClientURL()
		t.line("NATS:   embedded server at %s (JetStream on, temporary store)", url)
	} else {
		t.line("NATS:   %s", url)
	}
	cctx, ccancel := context.WithTimeout(ctx, connectTimeout)
	defer ccancel()
	c, err := framework.Connect(cctx, url, append([]framework.Option{framework.WithName("jetray-demo"),
		framework.WithUnknownNameGrace(time.Second)}, connOpts...)...)
	if err != nil {
		return err
	}
	defer c.Close()

	const slots = 8
	w := framework.NewWorker(c, framework.WithConcurrency(slots), framework.WithWorkerName("demo-worker"),
		framework.WithDrainTimeout(5*time.Second))
	defs := demo.Catalog()
	if err := w.Register(defs...); err != nil {
		return err
	}
	stop := runWorker(ctx, w)
	names := make([]string, 0, len(defs))
	for _, d := range defs {
		names = append(names, d.Name())
	}
	slices.Sort(names)
	t.line("worker: in-process %q, %d task slots, serving %s", w.Name(), slots, strings.Join(names, ", "))

	steps := []func(context.Context, *framework.Client, *tour) error{
		stepAwait, stepWait, stepWaitOrder, stepGather, stepTimeout, stepFailure, stepUnknown,
		stepCounterActor, stepAsyncActor,
	}
	for _, step := range steps {
		if err := step(ctx, c, t); err != nil {
			return errors.Join(fmt.Errorf("demo step %d: %w", t.n, err), stop())
		}
	}
	if err := stop(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndone in %s; the worker drained and stopped cleanly\n", round(time.Since(began)))
	return nil
}

// runWorker runs w in the background until the returned stop is called; stop drains the
// worker, waits for Run and returns its error. Calls submitted before the worker's consumers
// exist wait in the tasks stream, so there is nothing to wait for here.
func runWorker(ctx context.Context, w *framework.Worker) (stop func() error) {
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// tour prints the numbered steps of the demo.
type tour struct {
	w io.Writer
	n int
}

// step starts step n+1 with a title and the Ray and jetray spellings of what it does.
func (t *tour) step(title, ray, jetray string) {
	t.n++
	fmt.Fprintf(t.w, "\n%d. %s\n", t.n, title)
	if ray != "" {
		fmt.Fprintf(t.w, "   Ray:    %s\n", ray)
	}
	fmt.Fprintf(t.w, "   jetray: %s\n", jetray)
}

// result prints an outcome of the current step with the time since start.
func (t *tour) result(start time.Time, format string, args ...any) {
	fmt.Fprintf(t.w, "   -> %s  (%s)\n", fmt.Sprintf(format, args...), round(time.Since(start)))
}

// note prints an explanation under the current step.
func (t *tour) note(format string, args ...any) {
	fmt.Fprintf(t.w, "      %s\n", fmt.Sprintf(format, args...))
}

// line prints a header line.
func (t *tour) line(format string, args ...any) {
	fmt.Fprintf(t.w, "  %s\n", fmt.Sprintf(format, args...))
}

// round shortens d for display: 0.1 ms precision below 10 ms, 1 ms above.
func round(d time.Duration) time.Duration {
	if d < 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Millisecond)
}
