package framework

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/jetray/jetray/internal/wire"
)

// User error types: an application error that keeps its identity across the wire. A handler
// returns an error of a registered Go type (RegisterError) or one made by WithCode; the worker
// stores its code (and, for a registered type, the value as JSON) in the TaskError; the caller
// gets a TaskError whose Code says which, and errors.As finds the registered type's value again
// when this process registered it too. A task that returns such an error after awaiting it
// passes it on unchanged, so it crosses any number of task boundaries. RetryErrors(codes...)
// retries only the errors with those codes.

// userErrorType is one registered error type.
type userErrorType struct {
	code string
	typ  reflect.Type
	// match reports whether err wraps a value of the type and returns it as JSON.
	match func(err error) (json.RawMessage, bool)
	// decode rebuilds the value from its JSON.
	decode func(json.RawMessage) (error, bool)
}

// userErrors holds the registered types, by code and in registration order (the order in
// which a returned error is matched against them). Written by RegisterError, read on the
// failure path of calls only.
var userErrors struct {
	mu     sync.RWMutex
	byCode map[string]*userErrorType
	order  []*userErrorType
}

// RegisterError makes errors of type E keep their type across the wire under code: when a task
// or actor method fails with an error that errors.As finds an E in, the caller's TaskError has
// Code code and, in every process that registered E under the same code, errors.As(err, &e)
// finds an E equal to the one returned (it travels as JSON, so E's exported fields are what
// arrive). E is typically a pointer to a struct (*QuotaError) or a struct with value
// receivers. Register the same types under the same codes in drivers and workers, usually in
// an init function or beside the task definitions.
//
// A type is matched before a plain WithCode code. RegisterError panics if code is not a valid
// error code (wire.ValidErrorCode: letters, digits, '_', '-', '.', starting with a letter, at
// most 64), or if code or E is already registered with the other one; registering the same
// pair again does nothing.
func RegisterError[E error](code string) {
	if err := wire.ValidErrorCode(code); err != nil {
		panic(err)
	}
	typ := reflect.TypeFor[E]()
	t := &userErrorType{
		code: code,
		typ:  typ,
		match: func(err error) (json.RawMessage, bool) {
			var e E
			if !errors.As(err, &e) {
				return nil, false
			}
			data, jerr := json.Marshal(e)
			if jerr != nil {
				return nil, true // the code still travels
			}
			return data, true
		},
		decode: func(data json.RawMessage) (error, bool) {
			if len(data) == 0 {
				return nil, false
			}
			var e E
			if typ.Kind() == reflect.Pointer {
				e = reflect.New(typ.Elem()).Interface().(E)
				if err := json.Unmarshal(data, any(e)); err != nil {
					return nil, false
				}
				return e, true
			}
			if err := json.Unmarshal(data, &e); err != nil {
				return nil, false
			}
			return e, true
		},
	}
	userErrors.mu.Lock()
	defer userErrors.mu.Unlock()
	if userErrors.byCode == nil {
		userErrors.byCode = map[string]*userErrorType{}
	}
	if old, ok := userErrors.byCode[code]; ok {
		if old.typ != typ {
			panic(fmt.Sprintf("jetray: error code %q is registered for %v, not %v", code, old.typ, typ))
		}
		return
	}
	for _, old := range userErrors.order {
		if old.typ == typ {
			panic(fmt.Sprintf("jetray: error type %v is registered under code %q, not %q", typ, old.code, code))
		}
	}
	userErrors.byCode[code] = t
	userErrors.order = append(userErrors.order, t)
}

// WithCode returns err marked with an error code (Temporal's ApplicationError type): the
// caller's TaskError has that Code, HasCode(err, code) holds on both sides, and
// RetryErrors(code) selects it. err's type does not travel (use RegisterError for that);
// errors.Is and errors.As see through the mark on the worker's side. A nil err gives nil; an
// invalid code (see RegisterError) is replaced by "invalid_code".
func WithCode(code string, err error) error {
	if err == nil {
		return nil
	}
	if wire.ValidErrorCode(code) != nil {
		code = "invalid_code"
	}
	return &codedError{code: code, err: err}
}

type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// HasCode reports whether err carries error code code: a TaskError with that Code (anywhere in
// err's chain), an error made by WithCode, or a value of the type registered under code.
func HasCode(err error, code string) bool {
	c, _ := userErrorCode(err)
	return c == code && code != ""
}

// userErrorCode returns the code err carries and, for a registered type, its value as JSON.
// A TaskError from an awaited call passes its code and detail on unchanged.
func userErrorCode(err error) (string, json.RawMessage) {
	if err == nil {
		return "", nil
	}
	var te *TaskError
	if errors.As(err, &te) && te.Code != "" {
		return te.Code, te.Detail
	}
	userErrors.mu.RLock()
	order := userErrors.order
	userErrors.mu.RUnlock()
	for _, t := range order {
		if detail, ok := t.match(err); ok {
			return t.code, detail
		}
	}
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code, nil
	}
	return "", nil
}

// decodeUserError rebuilds the registered value of a TaskError's code, if this process
// registered one and the detail decodes.
func decodeUserError(code string, detail json.RawMessage) error {
	if code == "" {
		return nil
	}
	userErrors.mu.RLock()
	t := userErrors.byCode[code]
	userErrors.mu.RUnlock()
	if t == nil {
		return nil
	}
	e, ok := t.decode(detail)
	if !ok {
		return nil
	}
	return e
}

// retrySelected reports whether an application error with code is retried under codes (the
// call's RetryCodes): every error when codes is empty, else only those with a listed code.
func retrySelected(codes, code string) bool {
	return codes == "" || code != "" && slices.Contains(strings.Split(codes, ","), code)
}
