package main

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

//go:embed dashboard/index.html
var dashboardFiles embed.FS

// throughputWindow is how many one-second samples of answered calls the dashboard keeps.
const throughputWindow = 300

// runDashboard is "driver dashboard": a web page (embedded, no external assets) showing the
// live workers, actors, queues, recent failures and a live throughput graph, with its JSON API
// under /api/.
func runDashboard(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("dashboard", "dashboard [-addr 127.0.0.1:8265] [-nats URL]", stderr)
	natsURL := fs.String("nats", defaultNATS, "NATS server `URL`")
	addr := fs.String("addr", "127.0.0.1:8265", "serve the dashboard on `ADDR`")
	auth := framework.AuthFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("dashboard: unexpected argument %q", pos[0])}
	}
	c, closeClient, err := connectCmd(ctx, "dashboard", *natsURL, auth)
	if err != nil {
		return err
	}
	defer closeClient()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	fmt.Fprintf(stdout, "dashboard on http://%s/\n", ln.Addr())
	return serveDashboard(ctx, ln, c)
}

// serveDashboard serves the dashboard on ln until ctx ends, then shuts the server down
// (5 s deadline) and stops the throughput sampler.
func serveDashboard(ctx context.Context, ln net.Listener, c *framework.Client) error {
	d := &dashboard{c: c}
	srv := &http.Server{Handler: d.handler(), ReadHeaderTimeout: 5 * time.Second}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { d.sample(sctx) })
	wg.Go(func() {
		<-sctx.Done()
		shctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shctx)
	})
	err := srv.Serve(ln)
	stop()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// dashboard serves the page and the API.
type dashboard struct {
	c       *framework.Client
	mu      sync.Mutex
	samples []point // answered calls per second, oldest first
}

type point struct {
	T int64  `json:"t"` // Unix seconds
	N uint64 `json:"n"` // calls answered in that second
}

func (d *dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(dashboardFiles, "dashboard")
	mux.Handle("GET /", http.FileServerFS(static))
	api := func(path string, f func(ctx context.Context) (any, error)) {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			v, err := f(ctx)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(v)
		})
	}
	api("/api/workers", d.workers)
	api("/api/actors", d.actors)
	api("/api/queues", d.queues)
	api("/api/failures", d.failures)
	api("/api/throughput", func(context.Context) (any, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		return map[string]any{"interval_s": 1, "points": slices.Clone(d.samples)}, nil
	})
	return mux
}

// sample records the growth of JETRAY_RESULTS (one message per answered call) every second.
func (d *dashboard) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var last uint64
	for {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := d.c.JetStream().Stream(qctx, d.c.Names().ResultsStream)
		cancel()
		if err == nil {
			seq := s.CachedInfo().State.LastSeq
			if last != 0 || seq == 0 {
				d.mu.Lock()
				d.samples = append(d.samples, point{T: time.Now().Unix(), N: seq - min(last, seq)})
				if len(d.samples) > throughputWindow {
					d.samples = slices.Delete(d.samples, 0, len(d.samples)-throughputWindow)
				}
				d.mu.Unlock()
			}
			last = seq
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (d *dashboard) workers(ctx context.Context) (any, error) {
	ws, err := liveWorkers(ctx, d.c)
	if err != nil {
		return nil, err
	}
	out := make([]framework.WorkerInfo, 0, len(ws))
	for _, k := range slices.Sorted(maps.Keys(ws)) {
		out = append(out, ws[k])
	}
	return out, nil
}

func (d *dashboard) actors(ctx context.Context) (any, error) {
	recs, err := actors.List(ctx, d.c)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(recs, func(a, b actors.Record) int {
		return cmp.Or(b.Created.Compare(a.Created), strings.Compare(a.ID, b.ID))
	})
	for i := range recs {
		recs[i].Input = nil
	}
	if recs == nil {
		recs = []actors.Record{}
	}
	return recs, nil
}

type queueRow struct {
	Stream      string `json:"stream"`
	Consumer    string `json:"consumer"`
	Pending     uint64 `json:"pending"`
	AckPending  int    `json:"ack_pending"`
	Redelivered int    `json:"redelivered"`
	Waiting     int    `json:"waiting"`
}

// queues lists the consumers of the task and actor streams with their backlogs.
func (d *dashboard) queues(ctx context.Context) (any, error) {
	out := []queueRow{}
	for _, name := range []string{d.c.Names().TasksStream, d.c.Names().ActorsStream} {
		infos, err := listConsumers(ctx, d.c.JetStream(), name)
		if err != nil {
			return nil, err
		}
		for _, ci := range infos {
			out = append(out, queueRow{Stream: name, Consumer: ci.Name, Pending: ci.NumPending,
				AckPending: ci.NumAckPending, Redelivered: ci.NumRedelivered, Waiting: ci.NumWaiting})
		}
	}
	return out, nil
}

type deadRow struct {
	Seq      uint64    `json:"seq"`
	Name     string    `json:"name"`
	ID       string    `json:"id"`
	Reason   string    `json:"reason"`
	Attempts int       `json:"attempts"`
	Time     time.Time `json:"time"`
}

// failures returns the latest 50 failed calls and dead letters, newest first.
func (d *dashboard) failures(ctx context.Context) (any, error) {
	evs, err := framework.TaskEvents(ctx, d.c, 10000)
	if err != nil {
		return nil, err
	}
	tasks := []framework.TaskEvent{}
	for _, e := range slices.Backward(evs) {
		if e.State == framework.TaskFailed && len(tasks) < 50 {
			tasks = append(tasks, e)
		}
	}
	dls, err := framework.DeadLetters(ctx, d.c, 0)
	if err != nil {
		return nil, err
	}
	dead := []deadRow{}
	for _, dl := range slices.Backward(dls) {
		if len(dead) == 50 {
			break
		}
		dead = append(dead, deadRow{Seq: dl.Seq, Name: dl.Name, ID: dl.ID, Reason: firstLine(dl.Reason, 200), Attempts: dl.Attempts, Time: dl.Time})
	}
	return map[string]any{"tasks": tasks, "dead": dead}, nil
}
