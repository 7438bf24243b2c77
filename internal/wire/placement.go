package wire

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Placement is what a call needs of the worker that runs it: labels the worker must carry
// (a selector: every key with exactly that value) and amounts of resources the worker must have
// free while the call runs. The zero value needs nothing. Its label-set token (Token) is the
// <labels> token of the call's task subject, so every call with the same needs waits in the
// same queue, and only workers that can satisfy those needs pull from it.
type Placement struct {
	// Labels is the label selector: the worker's label k must equal Labels[k] for every k.
	Labels map[string]string `json:"labels,omitempty"`
	// Resources maps a resource name (cpu, gpu, memory, or any custom name) to the amount a
	// call holds while it runs; amounts are rounded to thousandths (MilliUnits).
	Resources map[string]float64 `json:"resources,omitempty"`
}

// Resource names with a meaning shared by options and flags. Any other valid name is a custom
// resource; jetray counts all of them the same way.
const (
	ResourceCPU    = "cpu"
	ResourceGPU    = "gpu"
	ResourceMemory = "memory" // bytes
)

// MaxLabelLen bounds label keys, label values and resource names.
const MaxLabelLen = 63

// MaxResourceAmount is the largest amount of one resource (a capacity or a need): about 9.2e15,
// so that an amount in thousandths fits an int64 (memory up to about 8 PiB in bytes).
const MaxResourceAmount = float64(math.MaxInt64 / 1000)

// ValidLabelKey reports whether k can be a label key or a resource name: 1 to MaxLabelLen of
// A-Z a-z 0-9 _ - . /. The error wraps ErrInvalidName.
func ValidLabelKey(k string) error {
	if len(k) == 0 || len(k) > MaxLabelLen || !labelChars(k, true) {
		return fmt.Errorf("%w: label or resource name %q (use 1-63 of A-Z a-z 0-9 _ - . /)", ErrInvalidName, k)
	}
	return nil
}

// ValidLabelValue reports whether v can be a label value: 0 to MaxLabelLen of A-Z a-z 0-9
// _ - . (no '=' or ','). The error wraps ErrInvalidName.
func ValidLabelValue(v string) error {
	if len(v) > MaxLabelLen || !labelChars(v, false) {
		return fmt.Errorf("%w: label value %q (use 0-63 of A-Z a-z 0-9 _ - .)", ErrInvalidName, v)
	}
	return nil
}

func labelChars(s string, slash bool) bool {
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9', ch == '_', ch == '-', ch == '.':
		case ch == '/' && slash:
		default:
			return false
		}
	}
	return true
}

// ValidResourceAmount reports whether amount can be a resource need or capacity: finite, at
// least 0 and at most MaxResourceAmount. The error wraps ErrInvalidName.
func ValidResourceAmount(name string, amount float64) error {
	if math.IsNaN(amount) || amount < 0 || amount > MaxResourceAmount {
		return fmt.Errorf("%w: resource %s amount %v (want 0 to %.0f)", ErrInvalidName, name, amount, MaxResourceAmount)
	}
	return nil
}

// MilliUnits is amount in thousandths, rounded: the unit in which workers count resources, so
// that sums of fractions (0.1 + 0.2) neither drift nor leave a residue.
func MilliUnits(amount float64) int64 { return int64(math.Round(amount * 1000)) }

// Validate reports whether every label and resource of p can be used. Errors wrap
// ErrInvalidName.
func (p Placement) Validate() error {
	for k, v := range p.Labels {
		if err := ValidLabelKey(k); err != nil {
			return err
		}
		if err := ValidLabelValue(v); err != nil {
			return err
		}
	}
	for k, v := range p.Resources {
		if err := ValidLabelKey(k); err != nil {
			return err
		}
		if err := ValidResourceAmount(k, v); err != nil {
			return err
		}
	}
	return nil
}

// IsZero reports whether p needs nothing: no label, and no resource amount above zero
// thousandths.
func (p Placement) IsZero() bool {
	if len(p.Labels) > 0 {
		return false
	}
	for _, v := range p.Resources {
		if MilliUnits(v) > 0 {
			return false
		}
	}
	return true
}

// canonical is p as one string that any two equal placements share: sorted labels, then the
// sorted resources above zero in thousandths.
func (p Placement) canonical() string {
	var b strings.Builder
	for _, k := range slices.Sorted(mapKeys(p.Labels)) {
		b.WriteString("l:" + k + "=" + p.Labels[k] + "\n")
	}
	for _, k := range slices.Sorted(mapKeys(p.Resources)) {
		if m := MilliUnits(p.Resources[k]); m > 0 {
			b.WriteString("r:" + k + "=" + strconv.FormatInt(m, 10) + "\n")
		}
	}
	return b.String()
}

// tokenEncoding writes a label-set token: lower-case base32, no padding.
var tokenEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Token returns p's label-set token (ValidLabelSet): "" for a placement that needs nothing,
// otherwise "p" and 24 base32 characters of the SHA-256 of its canonical form (120 bits), so
// equal placements share a token whatever the order of their maps, and a worker learns the
// placement behind a token from its RouteEntry.
func (p Placement) Token() string {
	if p.IsZero() {
		return ""
	}
	sum := sha256.Sum256([]byte(p.canonical()))
	return "p" + tokenEncoding.EncodeToString(sum[:15])
}

// SatisfiedBy reports whether a worker with labels and capacity (total amounts, not free
// ones) can ever run a call that needs p: it carries every label of the selector and has at
// least the amount of every resource.
func (p Placement) SatisfiedBy(labels map[string]string, capacity map[string]float64) bool {
	for k, v := range p.Labels {
		if have, ok := labels[k]; !ok || have != v {
			return false
		}
	}
	for k, v := range p.Resources {
		if MilliUnits(v) > MilliUnits(capacity[k]) {
			return false
		}
	}
	return true
}

// Unsatisfied explains why no worker shape can run a call that needs p, or returns "" if one
// can: the labels and resources that no shape has, or, if each exists somewhere, that no one
// shape has them all.
func (p Placement) Unsatisfied(shapes []WorkerShape) string {
	for _, s := range shapes {
		if p.SatisfiedBy(s.Labels, s.Capacity) {
			return ""
		}
	}
	var missing []string
	for _, k := range slices.Sorted(mapKeys(p.Labels)) {
		found := false
		for _, s := range shapes {
			if have, ok := s.Labels[k]; ok && have == p.Labels[k] {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, "label "+k+"="+p.Labels[k])
		}
	}
	for _, k := range slices.Sorted(mapKeys(p.Resources)) {
		need := MilliUnits(p.Resources[k])
		if need <= 0 {
			continue
		}
		var most int64
		for _, s := range shapes {
			most = max(most, MilliUnits(s.Capacity[k]))
		}
		if most < need {
			missing = append(missing, fmt.Sprintf("resource %s=%s (largest registered: %s)", k,
				FormatAmount(p.Resources[k]), FormatAmount(float64(most)/1000)))
		}
	}
	if len(missing) > 0 {
		return strings.Join(missing, ", ")
	}
	return "all of " + p.String() + " on one worker"
}

// FormatAmount writes a resource amount without trailing zeros: 2, 0.5, 17179869184.
func FormatAmount(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// String writes p as a selector and needs, for messages: "gpu=a100 region=eu; gpu:2 cpu:1",
// keys sorted; "" for a placement that needs nothing.
func (p Placement) String() string {
	var ls, rs []string
	for _, k := range slices.Sorted(mapKeys(p.Labels)) {
		ls = append(ls, k+"="+p.Labels[k])
	}
	for _, k := range slices.Sorted(mapKeys(p.Resources)) {
		if MilliUnits(p.Resources[k]) > 0 {
			rs = append(rs, k+":"+FormatAmount(p.Resources[k]))
		}
	}
	return strings.TrimSpace(strings.Join(ls, " ") + "; " + strings.Join(rs, " "))
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// WorkerShape is one distinct combination of labels and resource capacities among the workers
// that registered a name, kept in the name's RegistryEntry so that a client can tell at once
// whether any worker could ever run a call with a given Placement.
type WorkerShape struct {
	Labels   map[string]string  `json:"labels,omitempty"`
	Capacity map[string]float64 `json:"capacity,omitempty"`
	Worker   string             `json:"worker"` // the last worker of this shape that registered the name
	At       time.Time          `json:"at"`     // when, UTC, whole seconds
}

// MaxShapes bounds the shapes kept per registry entry; past it the shape registered longest
// ago is dropped (its workers add it back when they register again).
const MaxShapes = 64

// sameShape reports whether two shapes have equal labels and capacities.
func sameShape(a, b WorkerShape) bool {
	return Placement{Labels: a.Labels, Resources: a.Capacity}.canonical() ==
		Placement{Labels: b.Labels, Resources: b.Capacity}.canonical()
}

// AddShape returns shapes with s added, or, if an equal shape is there, with that one's
// Worker and At replaced by s's; at most MaxShapes, dropping the one registered longest ago.
// shapes is not modified.
func AddShape(shapes []WorkerShape, s WorkerShape) []WorkerShape {
	out := make([]WorkerShape, 0, len(shapes)+1)
	for _, o := range shapes {
		if !sameShape(o, s) {
			out = append(out, o)
		}
	}
	out = append(out, s)
	if len(out) > MaxShapes {
		slices.SortStableFunc(out, func(a, b WorkerShape) int { return a.At.Compare(b.At) })
		out = out[len(out)-MaxShapes:]
	}
	return out
}

// RouteKey is the key in RegistryBucket announcing that calls of name travel on route r (not
// the default route): route.<name>.<labels token or NoLabels>.<priority>. Clients create it
// before the first call of a route; workers watch RouteKeys and pull from the route's
// consumer when they serve name and satisfy its placement.
func RouteKey(name string, r TaskRoute) string {
	return "route." + name + "." + r.labelsToken() + "." + r.Priority.String()
}

// RouteKeys is the key filter matching every RouteKey.
const RouteKeys = "route.>"

// RouteEntry is the value of a RouteKey: the route and the placement behind its label-set
// token. Its JSON is {"name","labels","priority","placement","at"}.
type RouteEntry struct {
	Name      string    `json:"name"`               // the task name
	Labels    string    `json:"labels"`             // the label-set token, NoLabels for none
	Priority  string    `json:"priority"`           // "low", "normal" or "high"
	Placement Placement `json:"placement,omitzero"` // what the token stands for
	At        time.Time `json:"at"`                 // when it was first announced, UTC
}

// Route returns the entry's TaskRoute, checking that the key's parts are valid and that the
// token is the placement's. Errors wrap ErrBadSubject or ErrInvalidName.
func (e RouteEntry) Route() (TaskRoute, error) {
	var r TaskRoute
	if err := ValidName(e.Name); err != nil {
		return r, err
	}
	p, err := ParsePriority(e.Priority)
	if err != nil {
		return r, err
	}
	r.Priority = p
	if e.Labels != NoLabels {
		r.Labels = e.Labels
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	if err := e.Placement.Validate(); err != nil {
		return r, err
	}
	if tok := e.Placement.Token(); tok != r.Labels {
		return r, fmt.Errorf("%w: route of %s: token %q is not its placement's (%q)", ErrBadSubject, e.Name, e.Labels, tok)
	}
	if r.IsDefault() {
		return r, fmt.Errorf("%w: route of %s is the default route", ErrBadSubject, e.Name)
	}
	return r, nil
}

// WithLabels returns a copy of labels with add set over it (a key given again takes the new
// value); labels is not modified, so options can share the maps they replace.
func WithLabels(labels, add map[string]string) map[string]string {
	m := make(map[string]string, len(labels)+len(add))
	maps.Copy(m, labels)
	maps.Copy(m, add)
	return m
}

// WithResources returns a copy of amounts with add set over it, an amount of 0 removing its
// resource; amounts is not modified.
func WithResources(amounts, add map[string]float64) map[string]float64 {
	m := make(map[string]float64, len(amounts)+len(add))
	maps.Copy(m, amounts)
	for k, v := range add {
		if v == 0 {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}
