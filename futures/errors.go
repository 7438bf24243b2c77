package futures

import "errors"

var (
	// ErrInvalidNumReturns is wrapped by the error [Wait] returns when
	// numReturns is less than 1 or greater than the number of futures.
	ErrInvalidNumReturns = errors.New("futures: invalid numReturns")

	// ErrDuplicateFuture is wrapped by the error [Wait] returns when two
	// entries have the same ID.
	ErrDuplicateFuture = errors.New("futures: duplicate future")

	// ErrNilFuture is wrapped by the error [Wait] and [Gather] return when an
	// entry is nil or a zero value that was not created by this package.
	ErrNilFuture = errors.New("futures: nil or zero-value future")
)

// errNilError replaces a nil error passed to [Promise.Reject] or [Failed].
var errNilError = errors.New("futures: nil error")
