//go:build race

package testsupport

// RaceEnabled reports whether the test binary runs with the race detector; the programs
// Build makes then have it too, so the processes the tests start are checked as well.
const RaceEnabled = true
