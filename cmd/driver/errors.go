package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// reportedError is a failure already written to stderr: exit status 1, nothing more printed.
type reportedError struct{ err error }

func (e reportedError) Error() string { return e.err.Error() }
func (e reportedError) Unwrap() error { return e.err }

// exitCode reports err on stderr (unless already reported) and returns the exit status.
func exitCode(err error, stderr io.Writer) int {
	var ue usageError
	var re reportedError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "driver:", err)
		return 2
	case errors.As(err, &re):
		return 1
	default:
		fmt.Fprintln(stderr, "driver:", err)
		return 1
	}
}
