package pgcluster

import (
	"errors"
	"testing"
)

// SkipShort skips t under go test -short: it needs a PostgreSQL cluster,
// which the inner loop leaves out.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: needs PostgreSQL")
	}
}

// Own starts a cluster for t alone (a test that restarts or crashes it),
// removed when t ends. It skips t where PostgreSQL is not installed, and
// under -short.
func Own(t testing.TB) *Cluster {
	t.Helper()
	SkipShort(t)
	c, err := Start()
	if errors.Is(err, ErrNotInstalled) {
		t.Skip("SKIP: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Remove() })
	return c
}
