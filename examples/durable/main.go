// Command durable shows durable actor state beside concurrency groups, in one process: an
// embedded NATS server, a client and two workers.
//
//	go run ./examples/durable
//
// Account is a durable plain actor (actors.Durable): after each call its state (the balance
// and the ledger) is stored in JetStream before the result is released, so when its worker
// stops (a rolling deploy) the other worker restores it instead of running the constructor
// again, and so does a Kill with AllowRestart. Durable is for plain actors only; the Auditor
// beside it is an async actor with concurrency groups (actors.ConcurrencyGroups): postings run
// one at a time in group "books", slow reports four at a time in group "io", never delaying a
// posting. It prints what main_test.go checks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/futures"
)

// account is Account's state: exported fields are what a snapshot keeps (JSON).
type account struct {
	Owner   string  `json:"owner"`
	Balance int     `json:"balance"`
	Ledger  []Entry `json:"ledger"`

	resumed bool // not state: set by Resumed on a restored object
}

// Entry is one posting of an account.
type Entry struct {
	Amount int    `json:"amount"`
	Memo   string `json:"memo"`
}

// Post is Account.post's input.
type Post struct {
	Amount int    `json:"amount"`
	Memo   string `json:"memo"`
}

// ErrOverdrawn: a withdrawal larger than the balance. The refused call is stored with the
// state like any other, and answered again with this error (its code "overdrawn" included) if
// it is delivered again.
var ErrOverdrawn = errors.New("overdrawn")

// built counts Account's constructor runs (one process here, so a counter shows it).
var built atomic.Int32

// Resumed runs on an object restored from a snapshot (actors.Resumer), where the constructor
// did not run: reopen connections here.
func (a *account) Resumed(context.Context) error {
	a.resumed = true
	return nil
}

var (
	Account = actors.Define("Account", func(ctx context.Context, owner string) (*account, error) {
		built.Add(1)
		return &account{Owner: owner}, nil
	}, actors.Durable(), actors.MaxRestarts(-1))
	// Deposit adds or (negative) withdraws; it returns the balance.
	Deposit = actors.Method(Account, "post", func(a *account, ctx context.Context, p Post) (int, error) {
		if a.Balance+p.Amount < 0 {
			return a.Balance, framework.WithCode("overdrawn", fmt.Errorf("%w: %d on a balance of %d", ErrOverdrawn, -p.Amount, a.Balance))
		}
		a.Balance += p.Amount
		a.Ledger = append(a.Ledger, Entry(p))
		return a.Balance, nil
	})
	// Statement returns the balance, the number of postings, and whether this object was
	// restored from a snapshot.
	Statement = actors.Method(Account, "statement", func(a *account, ctx context.Context, _ struct{}) (Summary, error) {
		return Summary{Owner: a.Owner, Balance: a.Balance, Postings: len(a.Ledger), Restored: a.resumed}, nil
	})
)

// Summary is Statement's answer.
type Summary struct {
	Owner    string
	Balance  int
	Postings int
	Restored bool
}

// auditor sums the postings it is told of; its groups run side by side, so it locks. It is not
// durable: handed over, it is rebuilt by its constructor and its total starts again at 0.
type auditor struct {
	mu      sync.Mutex
	total   int
	running atomic.Int32
	peak    atomic.Int32
}

var (
	Auditor = actors.Define("Auditor", func(ctx context.Context, _ struct{}) (*auditor, error) {
		return &auditor{}, nil
	}, actors.ConcurrencyGroups(map[string]int{"books": 1, "io": 4}), actors.MaxRestarts(-1))
	// Record adds a posting to the audit total, one at a time (group "books").
	Record = actors.Method(Auditor, "record", func(a *auditor, ctx context.Context, amount int) (int, error) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.total += amount
		return a.total, nil
	}, actors.ConcurrencyGroup("books"))
	// Report is a slow read (group "io", four at once); it returns the total and the most
	// reports seen running at once.
	Report = actors.Method(Auditor, "report", func(a *auditor, ctx context.Context, _ struct{}) ([2]int, error) {
		n := a.running.Add(1)
		defer a.running.Add(-1)
		for p := a.peak.Load(); n > p && !a.peak.CompareAndSwap(p, n); p = a.peak.Load() {
		}
		select {
		case <-time.After(300 * time.Millisecond):
		case <-ctx.Done():
			return [2]int{}, ctx.Err()
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		return [2]int{a.total, int(a.peak.Load())}, nil
	}, actors.ConcurrencyGroup("io"))
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "durable:", err)
		os.Exit(1)
	}
}

// worker runs a worker serving both classes on its own client until stop, which hands its
// actors over (graceful stop) and returns when Run has.
func worker(ctx context.Context, url, name string) (stop func(), err error) {
	c, err := framework.Connect(ctx, url, framework.WithName(name))
	if err != nil {
		return nil, err
	}
	w := framework.NewWorker(c, framework.WithWorkerName(name), framework.WithDrainTimeout(5*time.Second))
	if err := w.Register(Account, Auditor); err != nil {
		_ = c.Close()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { _ = w.Run(wctx); close(ran) }()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			<-ran
			_ = c.Close()
		})
	}, nil
}

func run(ctx context.Context, out io.Writer) error {
	srv, err := framework.StartEmbedded(framework.EmbeddedConfig{})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	c, err := framework.Connect(ctx, srv.ClientURL(), framework.WithName("durable-example"))
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	stopA, err := worker(ctx, srv.ClientURL(), "worker-a")
	if err != nil {
		return err
	}
	defer stopA()

	acct := Account.Remote(ctx, c, "ada")
	audit := Auditor.Remote(ctx, c, struct{}{})
	post := func(amount int, memo string) error {
		bal, err := Deposit.Remote(ctx, acct, Post{amount, memo}).Await(ctx)
		if err != nil {
			if !framework.HasCode(err, "overdrawn") {
				return err
			}
			fmt.Fprintf(out, "post %d (%s): refused, overdrawn\n", amount, memo)
			return nil
		}
		if _, err := Record.Remote(ctx, audit, amount).Await(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "post %d (%s): balance %d\n", amount, memo, bal)
		return nil
	}
	for _, p := range []Post{{100, "salary"}, {-30, "rent"}, {-500, "yacht"}, {15, "refund"}} {
		if err := post(p.Amount, p.Memo); err != nil {
			return err
		}
	}

	// A rolling deploy: worker-b comes up, worker-a stops and hands its actors over.
	stopB, err := worker(ctx, srv.ClientURL(), "worker-b")
	if err != nil {
		return err
	}
	defer stopB()
	stopA()
	s, err := Statement.Remote(ctx, acct, struct{}{}).Await(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after the hand-over: %s has %d in %d postings (restored %v, constructor ran %d time)\n",
		s.Owner, s.Balance, s.Postings, s.Restored, built.Load())
	total, err := Record.Remote(ctx, audit, 0).Await(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "after the hand-over: the auditor (not durable) has %d\n", total)

	// Kill with AllowRestart keeps the state too; a plain Kill would delete it.
	if err := actors.Kill(ctx, acct, actors.AllowRestart()); err != nil {
		return err
	}
	if err := post(-5, "coffee"); err != nil {
		return err
	}

	// Four slow reports run at once in group "io" while a posting goes through "books".
	reports := make([]*futures.Future[[2]int], 4)
	for i := range reports {
		reports[i] = Report.Remote(ctx, audit, struct{}{})
	}
	if err := post(20, "gift"); err != nil {
		return err
	}
	rs, err := futures.Gather(ctx, reports...)
	if err != nil {
		return err
	}
	peak := 0
	for _, r := range rs {
		peak = max(peak, r[1])
	}
	s, err = Statement.Remote(ctx, acct, struct{}{}).Await(ctx)
	if err != nil {
		return err
	}
	if total, err = Record.Remote(ctx, audit, 0).Await(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "final: balance %d, audited %d, reports at once %d, constructor ran %d time\n",
		s.Balance, total, peak, built.Load())
	return actors.Kill(ctx, acct) // deletes the snapshot
}
