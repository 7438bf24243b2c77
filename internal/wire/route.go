package wire

import (
	"fmt"
	"strconv"
)

// Priority is a task call's priority, carried as a subject token. The zero value is
// PriorityNormal. Higher values are more urgent; the scheduling policy (strict or weighted)
// belongs to the workers, not to the wire.
type Priority int8

// Priorities. Their tokens are "low", "normal" and "high".
const (
	PriorityLow    Priority = -1
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Valid reports whether p is one of the priorities above.
func (p Priority) Valid() bool { return p >= PriorityLow && p <= PriorityHigh }

// String returns p's subject token: "low", "normal" or "high"; "priority(<n>)" for a value
// that is not Valid (never a token).
func (p Priority) String() string {
	switch p {
	case PriorityLow:
		return "low"
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	}
	return "priority(" + strconv.Itoa(int(p)) + ")"
}

// ParsePriority reads a priority token. Errors: one wrapping ErrBadSubject for anything but
// "low", "normal" and "high".
func ParsePriority(token string) (Priority, error) {
	switch token {
	case "low":
		return PriorityLow, nil
	case "normal":
		return PriorityNormal, nil
	case "high":
		return PriorityHigh, nil
	}
	return 0, fmt.Errorf("%w: priority %q (want low, normal or high)", ErrBadSubject, token)
}

// TaskRoute holds the tokens of a task subject besides the name: which workers may take the
// call and in which queue it waits. The zero value is the default route (no labels, normal
// priority), whose subject is today's jetray.task.<name>.
type TaskRoute struct {
	// Labels is the label-set token (ValidLabelSet) of the workers that may run the call;
	// "" (or NoLabels): any worker serving the name.
	Labels string
	// Priority of the call; default PriorityNormal.
	Priority Priority
}

// IsDefault reports whether r is the default route, which uses the short subject form.
func (r TaskRoute) IsDefault() bool { return r.labels() == "" && r.Priority == PriorityNormal }

// Validate reports whether r's tokens can be used: its Labels by ValidLabelSet (NoLabels is
// accepted as ""), its Priority one of the three. Errors wrap ErrInvalidName.
func (r TaskRoute) Validate() error {
	if err := ValidLabelSet(r.labels()); err != nil {
		return err
	}
	if !r.Priority.Valid() {
		return fmt.Errorf("%w: %s", ErrInvalidName, r.Priority)
	}
	return nil
}

// labels is r.Labels with NoLabels read as "".
func (r TaskRoute) labels() string {
	if r.Labels == NoLabels {
		return ""
	}
	return r.Labels
}

// labelsToken is r's label-set token in the long form.
func (r TaskRoute) labelsToken() string {
	if l := r.labels(); l != "" {
		return l
	}
	return NoLabels
}
