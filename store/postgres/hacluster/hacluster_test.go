package hacluster

import (
	"context"
	"errors"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startCluster starts a cluster for the test, or skips it, visibly, where
// Patroni, etcd or PostgreSQL is not installed, and under go test -short
// (the inner loop starts none).
func startCluster(t *testing.T, nodes int) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: needs Patroni")
	}
	c, err := Start(nodes)
	if errors.Is(err, ErrNotInstalled) {
		t.Skip("SKIP: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Remove(); err != nil {
			t.Error(err)
		}
	})
	return c
}

func TestStartSaysWhichToolIsMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(2)
	if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "patroni") {
		t.Fatalf("Start without patroni on PATH: %v, want ErrNotInstalled naming patroni", err)
	}
}

func TestAProcessIsAMachinesWhenItsCommandLineNamesTheMachinesFolder(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want bool
	}{
		{[]string{"/usr/bin/python3", "/usr/bin/patroni", "/clusters/c1/node1/patroni.yml"}, true},
		{[]string{"postgres", "-D", "/clusters/c1/node1/data", "--config-file=/clusters/c1/node1/data/postgresql.conf"}, true},
		{[]string{"postgres", "-D", "/clusters/c1/node10/data"}, false},
		{[]string{"ls", "/clusters/c1/node1"}, true},
		{[]string{"postgres: lottery: checkpointer "}, false},
	} {
		if got := mentions(tt.args, "/clusters/c1/node1"); got != tt.want {
			t.Errorf("mentions(%q, node1's folder) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

// writer inserts rows from, from+1, … into table t of url, one
// transaction each, until an insert fails: the rows it returns are those
// acknowledged (the commit answered), and the error the one that stopped
// it. It closes going after enough rows, or when it stops before.
func writer(url string, from, enough int, going chan<- struct{}) ([]int, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		close(going)
		return nil, err
	}
	defer conn.Close(ctx)
	var acked []int
	for id := from; ; id++ {
		if len(acked) == enough {
			close(going)
		}
		// A frozen primary never answers: the insert gives up (and the
		// write is unacknowledged) after a while.
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := conn.Exec(ictx, "INSERT INTO t (id) VALUES ($1)", id)
		cancel()
		if err != nil {
			if len(acked) < enough {
				close(going)
			}
			return acked, err
		}
		acked = append(acked, id)
	}
}

// loseDuringWrites writes rows from id from until enough are
// acknowledged, loses the primary's machine (killed, or frozen), and
// returns the new primary once it takes writes, with the rows acknowledged
// before the loss.
func loseDuringWrites(t *testing.T, c *Cluster, url string, from int, kill bool) (lost, primary *Node, acked []int) {
	t.Helper()
	lost, err := c.Primary()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		acked []int
		err   error
	}
	going := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		acked, err := writer(url, from, 200, going)
		done <- result{acked, err}
	}()
	<-going
	how := "killed"
	if kill {
		err = c.KillMachine(lost)
	} else {
		how = "frozen"
		err = c.FreezeMachine(lost)
	}
	if err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the writer did not notice the primary's loss within 30 s")
	}
	if len(r.acked) < 200 {
		t.Fatalf("the writer stopped after %d rows, before the loss: %v", len(r.acked), r.err)
	}
	primary, took, err := c.WaitForNewPrimary(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if primary == lost {
		t.Fatalf("%s's machine was %s, and it is still the primary", lost.Name, how)
	}
	t.Logf("failover: %s's machine %s with %d rows acknowledged; %s took writes %s later", lost.Name, how, len(r.acked), primary.Name, took.Round(time.Millisecond))
	return lost, primary, r.acked
}

// rows is the ids in table t, read through the cluster's URL: from
// whichever node is the primary.
func rows(t *testing.T, url string) map[int]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	query, err := conn.Query(ctx, "SELECT id FROM t")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(query, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	set := map[int]bool{}
	for _, id := range ids {
		set[id] = true
	}
	return set
}

// checkKept fails unless every acknowledged row is in the table: at most
// the one insert in flight at the loss may be there unacknowledged.
func checkKept(t *testing.T, have map[int]bool, acked []int, upTo int) {
	t.Helper()
	for _, id := range acked {
		if !have[id] {
			t.Fatalf("row %d was acknowledged before the loss and is not on the new primary (%d rows there)", id, len(have))
		}
	}
	if extra := len(have) - upTo; extra < 0 || extra > 1 {
		t.Fatalf("%d rows on the new primary, %d acknowledged: only the insert in flight may be there unacknowledged", len(have), upTo)
	}
}

func TestAcknowledgedRowsSurviveTheLossOfThePrimarysMachineAndTheLostNodeRejoins(t *testing.T) {
	t.Parallel()
	began := time.Now()
	c := startCluster(t, 2)
	t.Logf("two nodes and etcd started in %s", time.Since(began).Round(time.Millisecond))
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(context.Background(), "CREATE TABLE t (id integer PRIMARY KEY)")
	conn.Close(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// The primary's machine killed: every row acknowledged is on the
	// synchronous standby that takes over.
	lost, primary, acked := loseDuringWrites(t, c, url, 1, true)
	have := rows(t, url)
	checkKept(t, have, acked, len(acked))

	// The lost node comes back as the new primary's synchronous standby.
	began = time.Now()
	if err := c.RestartNode(lost); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s rejoined as a standby in %s", lost.Name, time.Since(began).Round(time.Millisecond))
	members, err := c.Members()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if want := map[bool]string{true: "leader", false: "sync_standby"}[m.Name == primary.Name]; m.Role != want {
			t.Fatalf("after %s rejoined: %v; want %s %s", lost.Name, members, m.Name, want)
		}
	}

	// The new primary's machine freezes (its connections stay open and
	// silent): the rejoined node takes over with every row.
	from := len(have) + 1000
	_, back, acked2 := loseDuringWrites(t, c, url, from, false)
	if back != lost {
		t.Fatalf("%s took over; want %s, the only node left", back.Name, lost.Name)
	}
	have2 := rows(t, url)
	checkKept(t, have2, append(slices.Collect(maps.Keys(have)), acked2...), len(have)+len(acked2))

	dir := c.Dir
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	if left := machine(dir, nil); len(left) > 0 {
		t.Fatalf("processes left after Remove: %v", left)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s left after Remove: %v", dir, err)
	}
}

func TestAClusterThatFailsToStartIsRemovedWithoutAPanic(t *testing.T) {
	// An etcd that exits at once: start fails waiting for it to answer,
	// after making the cluster's folder, and removes it.
	before, err := clusterFolders()
	if err != nil {
		t.Fatal(err)
	}
	c, err := start(tools{etcd: "/bin/false", patroni: "/bin/false", pgBin: t.TempDir()}, 2)
	if err == nil {
		c.Remove()
		t.Fatal("a cluster whose etcd exits at once started")
	}
	after, err := clusterFolders()
	if err != nil {
		t.Fatal(err)
	}
	for dir := range after {
		if !before[dir] {
			t.Errorf("start failed (%v) and left %s", err, dir)
		}
	}
}

// clusterFolders lists the clusters' folders in the temporary folder.
func clusterFolders() (map[string]bool, error) {
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return nil, err
	}
	dirs := map[string]bool{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), dirPrefix) {
			dirs[e.Name()] = true
		}
	}
	return dirs, nil
}
