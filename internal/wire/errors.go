package wire

import (
	"errors"
	"strconv"
)

var (
	// ErrInvalidName: a task, class, method, group or label-set token that cannot be used on
	// the wire (see ValidName, ValidGroup, ValidLabelSet). framework.ErrInvalidName is meant to
	// be this value, so errors.Is works with either.
	ErrInvalidName = errors.New("jetray: invalid name")
	// ErrInvalidNamespace: a namespace For cannot use (see ValidNamespace).
	ErrInvalidNamespace = errors.New("jetray: invalid namespace")
	// ErrWireVersion: a stream, bucket or object store was created by a deployment of another
	// wire version than this build's Version. A *VersionError carries both versions.
	ErrWireVersion = errors.New("jetray: wire version mismatch")
	// ErrBadSubject: a subject that the Parse functions cannot read as a jetray subject of the
	// namespace and family asked for.
	ErrBadSubject = errors.New("jetray: malformed subject")
	// ErrBadHeader: a call header that DecodeCallOptions cannot read. A *HeaderError carries
	// the header and its value.
	ErrBadHeader = errors.New("jetray: malformed header")
	// ErrBadSchedule: a schedule spec or time zone the server's scheduler does not accept, or
	// a generated call whose schedule headers cannot be read. framework.ErrInvalidSchedule is
	// this value.
	ErrBadSchedule = errors.New("jetray: invalid schedule")
)

// VersionError says that a resource of the deployment was made by another wire version.
// errors.Is(err, ErrWireVersion) is true for it.
type VersionError struct {
	// Resource names what was checked, such as "stream JETRAY_TASKS".
	Resource string
	// Have is the version recorded on the resource, as recorded (it may not be a number).
	Have string
	// Want is the version of this build (Version).
	Want int
}

// Error names the resource and both versions.
func (e *VersionError) Error() string {
	return "jetray: wire version mismatch: " + e.Resource + " was created by wire version " + e.Have +
		", this build speaks wire version " + strconv.Itoa(e.Want) +
		" (run builds of one wire version against a deployment, or give the new build its own namespace)"
}

// Is reports target == ErrWireVersion.
func (e *VersionError) Is(target error) bool { return target == ErrWireVersion }

// HeaderError says that header Header of a call has a value its reader cannot use.
// errors.Is(err, ErrBadHeader) is true for it. Its text is "header <Header>: <Reason>", as
// workers have always reported it in KindBadCall results.
type HeaderError struct {
	Header string // the header name, such as HeaderMaxRetries
	Value  string // the value found
	Reason string // what is wrong with it, such as `"x" is not an integer`
}

// Error returns "header <Header>: <Reason>".
func (e *HeaderError) Error() string { return "header " + e.Header + ": " + e.Reason }

// Is reports target == ErrBadHeader.
func (e *HeaderError) Is(target error) bool { return target == ErrBadHeader }
