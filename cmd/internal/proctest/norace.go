//go:build !race

package proctest

// raceEnabled: the test binary runs without the race detector, and so do
// the binaries it drives (they build several times faster).
const raceEnabled = false
