package chaostest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"syscall"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/internal/testsupport"
)

// procOpts start every process of the run: stdout and stderr in one buffer, and no output
// logged by the cleanups of a failed run (saveLogs writes it all to a directory instead).
var procOpts = []testsupport.ProcOption{testsupport.CombinedOutput(), testsupport.FailureLog(0)}

// stopAll kills every process still running and waits for it, so that goleak sees none of
// the goroutines that wait for them.
func (r *chaos) stopAll() {
	r.mu.Lock()
	ps := append(slices.Clone(r.servers), r.procs...)
	r.mu.Unlock()
	for _, p := range ps {
		p.Stop()
	}
}

// startWorker starts a worker in slot i behind the slot's proxy and waits until it runs.
func (r *chaos) startWorker(i int) {
	r.mu.Lock()
	r.gens[i]++
	name := fmt.Sprintf("w%d-%d", i, r.gens[i])
	r.mu.Unlock()
	p := testsupport.Start(r.t, name, r.workerBin, []string{"-nats", r.proxyURLs[i], "-name", name}, procOpts...)
	r.mu.Lock()
	r.workers[i] = p
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	if err := p.AwaitLine(90*time.Second, testsupport.RunningLine(name)...); err != nil {
		r.violate("workers start and keep running", "%s not running: %v", name, err)
	}
}

// ensureWorkers restarts the server or workers that are gone (not by the schedule's hand).
func (r *chaos) ensureWorkers() {
	if r.server.Exited() {
		r.violate("workers start and keep running", "nats-server exited by itself: %v %s", r.server.Err(), r.server.Stderr.Tail(1500))
		r.restartServer(0)
	}
	for i := range numWorkers {
		p := r.workers[i]
		if p.Exited() {
			r.violate("workers start and keep running", "%s exited by itself: %v\n%s", p.Name, p.Err(), p.Stderr.Tail(3000))
			r.startWorker(i)
		}
	}
}

func (r *chaos) restartServer(down time.Duration) {
	sleepCtx(context.Background(), down)
	r.serverGen++
	cfg := r.server.Config // the same port and store
	cfg.Name = fmt.Sprintf("nats-server-%d", r.serverGen)
	n := testsupport.StartNATS(r.t, cfg)
	r.mu.Lock()
	r.server = n
	r.servers = append(r.servers, n.Proc)
	r.mu.Unlock()
}

// inject runs the schedule, spreading the faults over the time left until end.
func (r *chaos) inject(plan []fault, end time.Time) {
	for i, f := range plan {
		left := time.Duration(0)
		for _, g := range plan[i:] {
			left += g.estimate()
		}
		idle := max(time.Until(end)-left, 0) / time.Duration(len(plan)-i+1)
		gap := max(time.Duration(float64(idle)*f.weight), time.Second)
		sleepCtx(context.Background(), gap)
		r.ensureWorkers()
		start := time.Now()
		detail := r.apply(f)
		r.mu.Lock()
		r.faults = append(r.faults, injected{kind: f.kind, detail: detail, start: start, end: time.Now()})
		r.mu.Unlock()
		r.logf("fault %d/%d: %s (%v)", i+1, len(plan), detail, time.Since(start).Round(10*time.Millisecond))
	}
}

func (r *chaos) apply(f fault) string {
	w := r.workers[f.slot]
	switch f.kind {
	case fKill:
		r.kill(w)
		r.startWorker(f.slot)
		return "SIGKILL " + w.Name
	case fStop:
		if err := w.Suspend(f.dur); err != nil {
			return "stop: " + err.Error()
		}
		return fmt.Sprintf("SIGSTOP %s for %v", w.Name, f.dur.Round(100*time.Millisecond))
	case fCut:
		p := r.proxies[f.slot]
		how := "cut (connections closed)"
		if f.black {
			p.Blackhole()
			how = "blackhole (silent)"
		} else {
			p.Cut()
		}
		sleepCtx(context.Background(), f.dur)
		p.Restore()
		return fmt.Sprintf("network of %s %s for %v", w.Name, how, f.dur.Round(100*time.Millisecond))
	case fTerm:
		start := time.Now()
		_ = w.Send(syscall.SIGTERM)
		r.startWorker(f.slot) // the rolling restart's new worker
		return fmt.Sprintf("SIGTERM %s: %s", w.Name, r.awaitExit(w, start))
	case fServer:
		_ = r.server.Send(syscall.SIGKILL)
		r.server.WaitExit(30 * time.Second)
		r.restartServer(f.dur)
		return fmt.Sprintf("SIGKILL nats-server, down %v", f.dur.Round(100*time.Millisecond))
	case fHandover:
		return r.handover(f)
	}
	panic("unknown fault " + f.kind)
}

func (r *chaos) kill(p *testsupport.Proc) {
	_ = p.Send(syscall.SIGKILL)
	if !p.WaitExit(30 * time.Second) {
		r.t.Fatalf("%s still running 30s after SIGKILL", p.Name)
	}
}

// awaitExit waits for a worker stopping after the SIGTERM sent at start; one still running after a minute is a
// violation, and is killed.
func (r *chaos) awaitExit(p *testsupport.Proc, start time.Time) string {
	if !p.WaitExit(time.Minute) {
		r.violate("graceful stop ends", "%s still running 60s after SIGTERM", p.Name)
		r.kill(p)
		return "killed after 60s"
	}
	return fmt.Sprintf("exited %v after SIGTERM (%v)", p.ExitedAt().Sub(start).Round(10*time.Millisecond), cmp.Or(p.Err(), error(errExit0)))
}

var errExit0 = errors.New("status 0")

// handover SIGTERMs the worker in f.slot (or, if it hosts no actor, the one hosting most) and SIGKILLs the worker seen taking one of its actors
// over (an actor record that named it and now names another), or, if none is seen within 3
// s, the worker in f.other after f.dur. Both are then replaced.
func (r *chaos) handover(f fault) string {
	before := r.actorHosts()
	hosted := map[string]int{}
	for _, w := range before {
		hosted[w]++
	}
	if hosted[r.workers[f.slot].Name] == 0 { // stop a worker that hosts actors
		for i, w := range r.workers {
			if hosted[w.Name] > hosted[r.workers[f.slot].Name] {
				f.slot = i
			}
		}
		if f.other == f.slot {
			f.other = (f.slot + 1) % numWorkers
		}
	}
	a := r.workers[f.slot]
	termed := time.Now()
	_ = a.Send(syscall.SIGTERM)
	victim, how := -1, ""
	testsupport.Poll(3*time.Second, func() bool {
		for id, host := range r.actorHosts() {
			if before[id] != a.Name || host == a.Name || host == "" {
				continue
			}
			for i, w := range r.workers {
				if w.Name == host && i != f.slot {
					victim, how = i, fmt.Sprintf("receiving actor %s", id)
					return true
				}
			}
		}
		return false
	})
	if victim < 0 {
		sleepCtx(context.Background(), f.dur)
		victim, how = f.other, "no receiver seen in 3s: blind"
	}
	b := r.workers[victim]
	r.kill(b)
	r.mu.Lock()
	r.handovers = append(r.handovers, fmt.Sprintf("SIGTERM %s, SIGKILL %s (%s)", a.Name, b.Name, how))
	r.mu.Unlock()
	exit := r.awaitExit(a, termed)
	r.startWorker(f.slot)
	r.startWorker(victim)
	return fmt.Sprintf("hand-over: SIGTERM %s, SIGKILL %s %s; %s %s", a.Name, b.Name, how, a.Name, exit)
}

// actorHosts reads the worker named in each actor record (the jetray_actors bucket).
func (r *chaos) actorHosts() map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out := map[string]string{}
	kv, err := r.c.JetStream().KeyValue(ctx, "jetray_actors")
	if err != nil {
		return out
	}
	for _, id := range r.actorList() {
		e, err := kv.Get(ctx, "a."+id)
		if err != nil {
			continue
		}
		var rec struct {
			State  string `json:"state"`
			Worker string `json:"worker"`
		}
		if json.Unmarshal(e.Value(), &rec) == nil && rec.State == actors.StateAlive {
			out[id] = rec.Worker
		}
	}
	return out
}

func (r *chaos) actorList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.actorIDs)
}

// actorConsumers lists the consumers of JETRAY_ACTORS.
func (r *chaos) actorConsumers() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := r.c.JetStream().Stream(ctx, framework.ActorsStream)
	if err != nil {
		r.t.Logf("JETRAY_ACTORS: %v", err)
		return nil
	}
	var names []string
	l := s.ConsumerNames(ctx)
	for n := range l.Name() {
		names = append(names, n)
	}
	if err := l.Err(); err != nil {
		r.t.Logf("JETRAY_ACTORS consumers: %v", err)
	}
	slices.Sort(names)
	return names
}
