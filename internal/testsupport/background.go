package testsupport

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// stopWait bounds how long a Background stop waits for its function to return.
const stopWait = time.Minute

// Background runs f in a goroutine of its own with a context that stop cancels: a worker's
// Run, or a command's run function, serving while the test goes on. stop cancels the context,
// waits up to a minute for f to return and returns f's error (an error of its own if f did
// not return in time); calling it again returns the same error at once. t.Cleanup calls stop,
// so f ends with the test even if the test never calls it.
func Background(t testing.TB, f func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			timer := time.NewTimer(stopWait)
			defer timer.Stop()
			select {
			case err = <-done:
			case <-timer.C:
				err = fmt.Errorf("testsupport: background function did not return within %s of its cancel", stopWait)
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}
