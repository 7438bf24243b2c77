package wire

// The cron grammar of the server's message scheduler (nats-server/v2 server/cron.go, which is
// based on github.com/robfig/cron, MIT licence, Copyright (C) 2012 Rob Figueiredo). jetray
// needs the same arithmetic on the client side to name a periodic call by the time it was due
// (cronSpec.prev) and to show a schedule's next run; it must agree with the server's to the
// second, which TestCronAgreesWithServer checks against a real server.

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// cronSpec is a parsed 6-field cron expression: one bit per allowed value of each field.
type cronSpec struct {
	second, minute, hour, dom, month, dow uint64
	loc                                   *time.Location
}

type cronBounds struct {
	min, max uint
	names    map[string]uint
}

var (
	cronSeconds = cronBounds{0, 59, nil}
	cronMinutes = cronBounds{0, 59, nil}
	cronHours   = cronBounds{0, 23, nil}
	cronDom     = cronBounds{1, 31, nil}
	cronMonths  = cronBounds{1, 12, map[string]uint{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}}
	cronDow = cronBounds{0, 6, map[string]uint{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}}
)

// cronStar marks a field written with '*' or '?' (day matching treats it specially).
const cronStar = 1 << 63

// cronPredefined maps the server's named schedules to their cron expressions.
var cronPredefined = map[string]string{
	"@yearly":   "0 0 0 1 1 *",
	"@annually": "0 0 0 1 1 *",
	"@monthly":  "0 0 0 1 * *",
	"@weekly":   "0 0 0 * * 0",
	"@daily":    "0 0 0 * * *",
	"@midnight": "0 0 0 * * *",
	"@hourly":   "0 0 * * * *",
}

// parseCron reads a 6-field cron expression (seconds minutes hours day-of-month month
// day-of-week) or a predefined name, in loc (nil: UTC).
func parseCron(expr string, loc *time.Location) (*cronSpec, error) {
	if p, ok := cronPredefined[expr]; ok {
		expr = p
	}
	fields := strings.Fields(expr)
	if len(fields) != 6 {
		return nil, fmt.Errorf("cron expression needs 6 fields (seconds first), got %d", len(fields))
	}
	if loc == nil {
		loc = time.UTC
	}
	c := &cronSpec{loc: loc}
	dst := []*uint64{&c.second, &c.minute, &c.hour, &c.dom, &c.month, &c.dow}
	for i, b := range []cronBounds{cronSeconds, cronMinutes, cronHours, cronDom, cronMonths, cronDow} {
		bits, err := cronField(fields[i], b)
		if err != nil {
			return nil, err
		}
		*dst[i] = bits
	}
	return c, nil
}

// cronField returns the bits of a comma-separated list of ranges.
func cronField(field string, b cronBounds) (uint64, error) {
	var bits uint64
	for _, expr := range strings.Split(field, ",") {
		bit, err := cronRange(expr, b)
		if err != nil {
			return 0, err
		}
		bits |= bit
	}
	return bits, nil
}

// cronRange returns the bits of number | number "-" number, with an optional "/" step.
func cronRange(expr string, b cronBounds) (uint64, error) {
	rangeAndStep := strings.Split(expr, "/")
	lowAndHigh := strings.Split(rangeAndStep[0], "-")
	var start, end, step uint
	var extra uint64
	var err error
	if lowAndHigh[0] == "*" || lowAndHigh[0] == "?" {
		start, end, extra = b.min, b.max, cronStar
	} else {
		if start, err = cronInt(lowAndHigh[0], b.names); err != nil {
			return 0, err
		}
		switch len(lowAndHigh) {
		case 1:
			end = start
		case 2:
			if end, err = cronInt(lowAndHigh[1], b.names); err != nil {
				return 0, err
			}
		default:
			return 0, fmt.Errorf("too many hyphens: %s", expr)
		}
	}
	switch len(rangeAndStep) {
	case 1:
		step = 1
	case 2:
		if step, err = cronInt(rangeAndStep[1], nil); err != nil {
			return 0, err
		}
		if len(lowAndHigh) == 1 { // "N/step" means "N-max/step"
			end = b.max
		}
		if step > 1 {
			extra = 0
		}
	default:
		return 0, fmt.Errorf("too many slashes: %s", expr)
	}
	switch {
	case start < b.min:
		return 0, fmt.Errorf("beginning of range (%d) below minimum (%d): %s", start, b.min, expr)
	case end > b.max:
		return 0, fmt.Errorf("end of range (%d) above maximum (%d): %s", end, b.max, expr)
	case start > end:
		return 0, fmt.Errorf("beginning of range (%d) beyond end of range (%d): %s", start, end, expr)
	case step == 0:
		return 0, fmt.Errorf("step of range should be a positive number: %s", expr)
	}
	var bits uint64
	if step == 1 {
		bits = ^(math.MaxUint64 << (end + 1)) & (math.MaxUint64 << start)
	} else {
		for i := start; i <= end; i += step {
			bits |= 1 << i
		}
	}
	return bits | extra, nil
}

func cronInt(expr string, names map[string]uint) (uint, error) {
	if v, ok := names[strings.ToLower(expr)]; ok {
		return v, nil
	}
	n, err := strconv.Atoi(expr)
	if err != nil {
		return 0, fmt.Errorf("failed to parse int from %s: %w", expr, err)
	}
	if n < 0 {
		return 0, fmt.Errorf("negative number (%d) not allowed: %s", n, expr)
	}
	return uint(n), nil
}

// errCronRange: no time matches within five years.
var errCronRange = errors.New("cron expression matches no time within five years")

// next returns the first time the expression matches strictly after t (to the second), as the
// server computes it.
func (c *cronSpec) next(t time.Time) (time.Time, error) {
	next := t.In(c.loc).Truncate(time.Second).Add(time.Second)
	truncated := false
	yearLimit := next.Year() + 5
wrap:
	if next.Year() > yearLimit {
		return time.Time{}, errCronRange
	}
	for 1<<uint(next.Month())&c.month == 0 {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), 1, 0, 0, 0, 0, c.loc)
		}
		if next = next.AddDate(0, 1, 0); next.Month() == time.January {
			goto wrap
		}
	}
	for !c.dayMatches(next) {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), next.Day(), 0, 0, 0, 0, c.loc)
		}
		if next = next.AddDate(0, 0, 1); next.Day() == 1 {
			goto wrap
		}
	}
	for 1<<uint(next.Hour())&c.hour == 0 {
		if !truncated {
			truncated = true
			next = time.Date(next.Year(), next.Month(), next.Day(), next.Hour(), 0, 0, 0, c.loc)
		}
		if next = next.Add(time.Hour); next.Hour() == 0 {
			goto wrap
		}
	}
	for 1<<uint(next.Minute())&c.minute == 0 {
		if !truncated {
			truncated = true
			next = next.Truncate(time.Minute)
		}
		if next = next.Add(time.Minute); next.Minute() == 0 {
			goto wrap
		}
	}
	for 1<<uint(next.Second())&c.second == 0 {
		if !truncated {
			truncated = true
			next = next.Truncate(time.Second)
		}
		if next = next.Add(time.Second); next.Second() == 0 {
			goto wrap
		}
	}
	return next, nil
}

func (c *cronSpec) dayMatches(t time.Time) bool {
	domMatch := 1<<uint(t.Day())&c.dom > 0
	dowMatch := 1<<uint(t.Weekday())&c.dow > 0
	if c.dom&cronStar > 0 || c.dow&cronStar > 0 {
		return domMatch && dowMatch
	}
	return domMatch || dowMatch
}

// prev returns the last time the expression matches strictly before t (to the second): the
// run whose next run is t, when t is a run. It searches with next, which is monotonic: a
// time u lies before that run exactly when next(u) < t.
func (c *cronSpec) prev(t time.Time) (time.Time, error) {
	t = t.Truncate(time.Second)
	before := func(u time.Time) (bool, error) {
		n, err := c.next(u)
		if errors.Is(err, errCronRange) {
			return false, nil // nothing from u on for five years: u is not before a run
		}
		return err == nil && n.Before(t), err
	}
	// Widen the window below t until it holds a run: lo is before the run, hi is not.
	hi := t.Add(-time.Second)
	step := time.Second
	lo := hi
	for {
		lo = t.Add(-step)
		ok, err := before(lo)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			break
		}
		hi = lo
		if step > 6*366*24*time.Hour {
			return time.Time{}, errCronRange
		}
		step *= 2
	}
	// The run is the first second u in (lo, hi] that is not before a run.
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2).Truncate(time.Second)
		if !mid.After(lo) {
			mid = lo.Add(time.Second)
		}
		ok, err := before(mid)
		if err != nil {
			return time.Time{}, err
		}
		if ok {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}
