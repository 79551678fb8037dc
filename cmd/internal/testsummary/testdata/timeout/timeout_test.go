package timeout

import "testing"

func TestPasses(t *testing.T) {}

// TestNeverEnds outlives the -timeout its caller gives: the binary panics
// while it runs, and go test -json sends no end for it.
func TestNeverEnds(t *testing.T) {
	t.Log("what it did before it hung")
	select {}
}
