//go:build race

package proctest

// raceEnabled: the test binary runs with the race detector, so the
// binaries it drives are built with it too.
const raceEnabled = true
