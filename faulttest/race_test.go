//go:build race

package faulttest

// raceEnabled: the worker binary is built with -race too, so the processes the tests kill
// and stop are checked as well.
const raceEnabled = true
