//go:build race

package chaostest

// raceEnabled: chaosworker is built with -race too, so data races in the workers are found.
const raceEnabled = true
