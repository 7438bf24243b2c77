package chaostest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
)

// The checks of TestChaos on made-up histories: each must flag what it exists for and
// nothing a correct runtime may do.

// at is a time t0 + n ms.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// answer is a resolved actor call: submitted at sub, received at recv (ms), answered by inst.
func answer(kind, inst string, sub, recv, value, peak int) *call {
	return &call{kind: kind, actor: "A1", id: fmt.Sprintf("c%d-%d", sub, recv), submitted: at(sub), received: at(recv),
		resolved: true, value: Answer{Instance: inst, Value: value, Peak: peak}}
}

func checked(calls ...*call) map[string][]string {
	r := &chaos{viol: map[string][]string{}}
	r.checkActors(calls)
	return r.viol
}

const oneAtATime = "each actor's answers come from one instance at a time"

func TestCheckInstancesInterleave(t *testing.T) {
	for _, tc := range []struct {
		name  string
		calls []*call
		want  int
	}{
		{"restart: A then B", []*call{
			answer("counter", "a", 0, 1, 1, 1), answer("counter", "a", 2, 3, 2, 1),
			answer("counter", "b", 4, 5, 1, 1), answer("counter", "b", 6, 7, 2, 1),
		}, 0},
		{"A answers again after B", []*call{
			answer("counter", "a", 0, 1, 1, 1), answer("counter", "b", 2, 3, 1, 1),
			answer("counter", "a", 4, 5, 2, 1),
		}, 1},
		// An old instance's late answer to a call submitted before the new one answered
		// anything is not proof of two instances at once.
		{"async: late answer of the old instance", []*call{
			answer("async", "a", 0, 50, 0, 2), answer("async", "b", 10, 20, 0, 1),
			answer("async", "b", 30, 40, 0, 1),
		}, 0},
		{"async: old instance takes a call after the new one answered", []*call{
			answer("async", "a", 0, 5, 0, 1), answer("async", "b", 10, 20, 0, 1),
			answer("async", "a", 25, 30, 0, 1),
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checked(tc.calls...)
			if got := len(v[oneAtATime]); got != tc.want {
				t.Errorf("%d violations, want %d: %v", got, tc.want, v)
			}
		})
	}
}

func TestCheckCounterAndConcurrency(t *testing.T) {
	const counter = "a plain actor's counter never goes backwards or forks"
	const conc = "actor concurrency within max_concurrency"
	for _, tc := range []struct {
		name        string
		calls       []*call
		wantCounter int
		wantConc    int
	}{
		// A redelivered call ran twice on one instance: a value is skipped, none repeated.
		{"gap", []*call{answer("counter", "a", 0, 1, 1, 1), answer("counter", "a", 2, 3, 3, 1)}, 0, 0},
		{"backwards", []*call{answer("counter", "a", 0, 1, 2, 1), answer("counter", "a", 2, 3, 1, 1)}, 1, 0},
		{"fork", []*call{answer("counter", "a", 0, 1, 2, 1), answer("counter", "a", 2, 3, 2, 1)}, 2, 0},
		{"plain actor ran two calls at once", []*call{answer("counter", "a", 0, 1, 1, 2)}, 0, 1},
		{"async within its limit", []*call{answer("async", "a", 0, 1, 0, AsyncMaxConcurrency)}, 0, 0},
		{"async over its limit", []*call{answer("async", "a", 0, 1, 0, AsyncMaxConcurrency+1),
			answer("async", "a", 2, 3, 0, AsyncMaxConcurrency+3)}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := checked(tc.calls...)
			if len(v[counter]) != tc.wantCounter || len(v[conc]) != tc.wantConc {
				t.Errorf("%d counter and %d concurrency violations, want %d and %d: %v",
					len(v[counter]), len(v[conc]), tc.wantCounter, tc.wantConc, v)
			}
		})
	}
}

func TestCheckAllowedErrors(t *testing.T) {
	r := &chaos{}
	for i := range TaskRetries + 1 {
		r.faults = append(r.faults, injected{kind: fKill, start: at(100 * i), end: at(100*i + 10)})
	}
	r.faults = append(r.faults, injected{kind: fServer, start: at(10_000), end: at(12_000)})
	lost := &framework.TaskError{Kind: framework.KindLost}
	died := &framework.TaskError{Kind: actors.KindDied}
	for _, tc := range []struct {
		name string
		c    *call
		want bool
	}{
		{"lost through every attempt's fault", &call{kind: "task", submitted: at(0), received: at(1000), err: lost}, true},
		{"lost with fewer faults than attempts", &call{kind: "task", submitted: at(150), received: at(1000), err: lost}, false},
		{"actor call died", &call{kind: "counter", submitted: at(0), received: at(1000), err: died}, false},
		{"task error", &call{kind: "task", submitted: at(0), received: at(1000), err: &framework.TaskError{Kind: framework.KindError}}, false},
		{"put while the broker was away", &call{kind: "put", submitted: at(11_000), received: at(11_500), err: errors.New("jetray: put 3 bytes: timeout")}, true},
		{"put long after the broker restart", &call{kind: "put", submitted: at(30_000), received: at(31_000), err: errors.New("jetray: put 3 bytes: timeout")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.allowed(tc.c); got != tc.want {
				t.Errorf("allowed = %v, want %v", got, tc.want)
			}
		})
	}
}
