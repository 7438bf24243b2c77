package actors_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jetray/jetray/actors"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

// BalanceError is a user error type an actor method returns.
type BalanceError struct{ Short int }

func (e *BalanceError) Error() string { return fmt.Sprintf("balance short by %d", e.Short) }

func init() { framework.RegisterError[*BalanceError]("balance") }

var (
	Account  = actors.Define("Account", func(_ context.Context, n int) (*counter, error) { return &counter{n: n}, nil })
	Withdraw = actors.Method(Account, "withdraw", func(c *counter, _ context.Context, n int) (int, error) {
		if n > c.n {
			return 0, &BalanceError{Short: n - c.n}
		}
		c.n -= n
		return c.n, nil
	})
	// Pay is a task that calls the actor: the error type crosses actor -> task -> caller.
	Pay = framework.NewTask("account_pay", func(ctx context.Context, in payIn) (int, error) {
		return Withdraw.Remote(ctx, in.Account, in.Amount).Await(ctx)
	})
)

type payIn struct {
	Account *actors.Handle[counter]
	Amount  int
}

func TestUserErrorFromActorMethod(t *testing.T) {
	c := frameworktest.New(t, Account, Pay)
	ctx := testCtx(t)
	h := Account.Remote(ctx, c, 10)
	_, err := Withdraw.Remote(ctx, h, 15).Await(ctx)
	var be *BalanceError
	if !errors.As(err, &be) || be.Short != 5 {
		t.Fatalf("method: errors.As(%v, *BalanceError) = %+v", err, be)
	}
	_, err = Pay.Remote(ctx, c, payIn{Account: h, Amount: 12}).Await(ctx)
	if !errors.As(err, &be) || be.Short != 2 || !framework.HasCode(err, "balance") {
		t.Fatalf("through a task: errors.As(%v, *BalanceError) = %+v", err, be)
	}
	if v, err := Withdraw.Remote(ctx, h, 4).Await(ctx); err != nil || v != 6 {
		t.Fatalf("withdraw 4 = %d, %v", v, err)
	}
}
