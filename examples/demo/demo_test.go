package demo_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jetray/jetray/examples/demo"
	"github.com/jetray/jetray/framework"
	"github.com/jetray/jetray/framework/frameworktest"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// raw calls name the way the driver does: JSON in, JSON out, no Go types.
func raw(ctx context.Context, c *framework.Client, name, in string) (string, error) {
	task := framework.NewTask[json.RawMessage, json.RawMessage](name, nil)
	out, err := task.Remote(ctx, c, json.RawMessage(in)).Await(ctx)
	return string(out), err
}

func TestCatalogByName(t *testing.T) {
	c := frameworktest.New(t, demo.Catalog()...)
	ctx := testCtx(t)
	tests := []struct {
		name, task, in, want string
	}{
		{"some_task", "some_task", `null`, `1`},
		{"noop", "noop", `[1,2]`, `{}`},
		{"echo object", "echo", `{"x":[1,"y"]}`, `{"x":[1,"y"]}`},
		{"echo null", "echo", `null`, `null`},
		{"add", "add", `{"a":2,"b":3}`, `5`},
		{"add negative", "add", `{"a":-2,"b":-3}`, `-5`},
		{"sleep", "sleep", `{"ms":20}`, `20`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := raw(ctx, c, tt.task, tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("%s(%s) = %s, %v; want %s", tt.task, tt.in, got, err, tt.want)
			}
		})
	}
}

func TestTypedCalls(t *testing.T) {
	c := frameworktest.New(t, demo.Catalog()...)
	ctx := testCtx(t)

	if v, err := demo.SomeTask.Remote(ctx, c, nil).Await(ctx); err != nil || v != 1 {
		t.Errorf("SomeTask = %v, %v; want 1", v, err)
	}
	if _, err := demo.Noop.Remote(ctx, c, nil).Await(ctx); err != nil {
		t.Errorf("Noop: %v", err)
	}
	if v, err := demo.Echo.Remote(ctx, c, json.RawMessage(`"hi"`)).Await(ctx); err != nil || string(v) != `"hi"` {
		t.Errorf("Echo = %s, %v", v, err)
	}
	if v, err := demo.Add.Remote(ctx, c, demo.AddInput{A: 40, B: 2}).Await(ctx); err != nil || v != 42 {
		t.Errorf("Add = %v, %v; want 42", v, err)
	}
	if v, err := demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: 10}).Await(ctx); err != nil || v != 10 {
		t.Errorf("Sleep = %v, %v; want 10", v, err)
	}
}

func TestFailures(t *testing.T) {
	c := frameworktest.New(t, demo.Catalog()...)
	ctx := testCtx(t)
	tests := []struct {
		name  string
		call  func() error
		check func(*framework.TaskError) bool
	}{
		{"fail", func() error {
			_, err := demo.Fail.Remote(ctx, c, demo.FailInput{Message: "boom"}).Await(ctx)
			return err
		}, func(te *framework.TaskError) bool {
			return te.Message == "boom" && te.Kind == framework.KindError && !te.Panic
		}},
		{"panic", func() error {
			_, err := demo.Panic.Remote(ctx, c, nil).Await(ctx)
			return err
		}, func(te *framework.TaskError) bool {
			return te.Panic && te.Kind == framework.KindPanic && strings.Contains(te.Stack, "goroutine")
		}},
		{"sleep timeout", func() error {
			_, err := demo.Sleep.Options(framework.Timeout(50*time.Millisecond)).
				Remote(ctx, c, demo.SleepInput{MS: 10_000}).Await(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				return errors.New("not a deadline error: " + err.Error())
			}
			return err
		}, func(te *framework.TaskError) bool { return te.Kind == framework.KindTimeout }},
		{"sleep negative", func() error {
			_, err := demo.Sleep.Remote(ctx, c, demo.SleepInput{MS: -1}).Await(ctx)
			return err
		}, func(te *framework.TaskError) bool { return strings.Contains(te.Message, "negative") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var te *framework.TaskError
			if !errors.As(err, &te) || !tt.check(te) {
				t.Fatalf("err = %#v", err)
			}
		})
	}
}

func TestCatalogNamesAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range demo.Catalog() {
		if err := framework.ValidName(d.Name()); err != nil {
			t.Errorf("%s: %v", d.Name(), err)
		}
		if seen[d.Name()] {
			t.Errorf("%s listed twice", d.Name())
		}
		seen[d.Name()] = true
	}
	for _, want := range []string{"some_task", "noop", "echo", "add", "sleep", "fail", "panic",
		"counter_add", "Counter", "AsyncActor"} {
		if !seen[want] {
			t.Errorf("catalog lacks %q", want)
		}
	}
}
