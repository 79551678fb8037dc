package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/datagen"
	"quiniela/store/postgres/pgcluster"
)

// root is the repository root, where the Makefile is.
var root, _ = filepath.Abs("../../..")

// makeRun runs `make run` on data with the binaries built into bin.
func makeRun(t *testing.T, bin, data, port string) (string, error) {
	t.Helper()
	return makeTarget(t, "run", bin, data, port)
}

func makeTarget(t *testing.T, target, bin, data, port string, vars ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("make", append([]string{"--no-print-directory", target, "BIN=" + bin, "DATA=" + data, "PORT=" + port, "ADMIN_PORT=" + proctest.FreePort(t)}, vars...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func checksums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	paths, _ := filepath.Glob(filepath.Join(dir, "agency-*.csv"))
	for _, p := range paths {
		sum, err := datagen.FileSHA256(p)
		if err != nil {
			t.Fatal(err)
		}
		sums[p] = sum
	}
	return sums
}

func TestMakeRun(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("SKIP: make is not installed")
	}
	bin := t.TempDir()

	t.Run("plays the user's own files, leaves them untouched and checks no winners it cannot know", func(t *testing.T) {
		data := t.TempDir()
		proctest.CourseFile(t, filepath.Join(data, "agency-1.csv"), 30, 0, 7)
		proctest.CourseFile(t, filepath.Join(data, "agency-2.csv"), 45)
		before := checksums(t, data)
		out, err := makeRun(t, bin, data, proctest.FreePort(t))
		if err != nil {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		saysEach(t, out,
			"using the agency files in "+data,
			"agency 1: 30 bets sent, 2 winners (no expectation for this file: not checked)",
			"agency 2: 45 bets sent, 0 winners (no expectation for this file: not checked)",
			"draws: 1, bets stored: 75",
			"round: success",
		)
		if after := checksums(t, data); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("the agency files changed: %v, then %v", before, after)
		}
		if _, err := os.Stat(filepath.Join(data, datagen.SummaryFile)); err == nil {
			t.Fatal("make run wrote a winners.json beside the user's files")
		}
	})

	t.Run("generates data into an empty folder and checks every winner", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "fresh")
		out, err := makeRun(t, bin, data, proctest.FreePort(t))
		if err != nil {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		if n := strings.Count(out, "winners, as expected"); n != 5 || !strings.Contains(out, "round: success") {
			t.Fatalf("%d agencies checked, want 5:\n%s", n, out)
		}
	})

	t.Run("make run ROUNDS=3 plays the files three times against one central, each round drawn once with its own bets", func(t *testing.T) {
		data := t.TempDir()
		proctest.CourseFile(t, filepath.Join(data, "agency-1.csv"), 30, 0, 7)
		proctest.CourseFile(t, filepath.Join(data, "agency-2.csv"), 45)
		out, err := makeTarget(t, "run", bin, data, proctest.FreePort(t), "ROUNDS=3")
		if err != nil {
			t.Fatalf("make run ROUNDS=3: %v\n%s", err, out)
		}
		saysEach(t, out,
			"round 1: draws: 1, bets stored: 75",
			"round 2: draws: 1, bets stored: 75",
			"round 3: draws: 1, bets stored: 75",
			"rounds: 3, each drawn once with its own bets",
			"round: success",
		)
		if n := strings.Count(out, "agency 2: 45 bets sent, 0 winners"); n != 3 {
			t.Fatalf("agency 2 played %d rounds, want 3:\n%s", n, out)
		}
		for _, name := range []string{"bets.csv", "bets.round-2.csv", "bets.round-3.csv"} {
			if n, err := countLines(filepath.Join(data, "round", name)); err != nil || n != 75 {
				t.Errorf("%s holds %d bets (%v), want the round's 75", name, n, err)
			}
		}
	})

	t.Run("make run-pg ROUNDS=2 plays two rounds on a throwaway PostgreSQL with a standby, and removes it", func(t *testing.T) {
		if testing.Short() {
			t.Skip("SKIP: -short: needs PostgreSQL")
		}
		if _, err := pgcluster.BinDir(); err != nil {
			t.Skip("SKIP: ", err)
		}
		data := filepath.Join(t.TempDir(), "pg")
		out, err := makeTarget(t, "run-pg", bin, data, proctest.FreePort(t), "ROUNDS=2")
		if err != nil {
			t.Fatalf("make run-pg ROUNDS=2: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`postgres: a throwaway cluster in (\S+),`).FindStringSubmatch(out)
		if n := strings.Count(out, "winners, as expected"); n != 10 || m == nil {
			t.Fatalf("%d runs of an agency checked, want 10 (5 in each of 2 rounds):\n%s", n, out)
		}
		saysEach(t, out, "round 1: draws: 1, bets stored: 79000", "round 2: draws: 1, bets stored: 79000", "round: success")
		if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the cluster's folder %s is left behind: %v", m[1], err)
		}
		if standby, err := os.ReadFile(filepath.Join(data, "round", "standby.log")); err != nil || !strings.Contains(string(standby), "action: standby | result: in_progress") {
			t.Errorf("the standby did not stand by: %v\n%s", err, standby)
		}
	})

	// The primary's machine lost at two moments of the round, in both
	// ways: every bet stored once, one draw, both centrals still there.
	for _, loss := range []struct{ kind, at string }{{"kill", "0.2"}, {"freeze", "0.6"}} {
		name := fmt.Sprintf("make run-ha LOSS=%s LOSE_AT=%s stores every bet once and keeps both centrals", loss.kind, loss.at)
		t.Run(name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("SKIP: -short: needs Patroni")
			}
			if _, err := exec.LookPath("patroni"); err != nil {
				t.Skip("SKIP: patroni is not installed (Debian's patroni package)")
			}
			if _, err := exec.LookPath("etcd"); err != nil {
				t.Skip("SKIP: etcd is not installed (Debian's etcd-server package)")
			}
			data := filepath.Join(t.TempDir(), "ha-"+loss.kind)
			out, err := makeTarget(t, "run-ha", bin, data, proctest.FreePort(t), "LOSS="+loss.kind, "LOSE_AT="+loss.at)
			m := regexp.MustCompile(`postgres: a throwaway Patroni pair in (\S+) `).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("make run-ha: %v\n%s", err, out)
			}
			summary := regexp.MustCompile(`(?m)^(lost|failover|centrals alive at the end|bets|draws): .*$`).FindAllString(out, -1)
			t.Logf("make run-ha: %v\n%s", err, strings.Join(summary, "\n"))
			saysEach(t, out,
				"lost: node1's machine",
				"failover: node2 took writes",
				"bets: 79000 in the files, 79000 rows in bets: 0 missing, 0 stored more than once (extra rows), 0 from no file",
				"draws: rows in draw 1, sorteo lines 1",
				"centrals alive at the end: 2 of 2",
				"round: success",
			)
			if err != nil {
				t.Errorf("make run-ha: %v", err)
			}
			if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the cluster's folder %s is left behind: %v", m[1], err)
			}
			for _, log := range []string{"node1.log", "node2.log", "etcd.log"} {
				if _, err := os.Stat(filepath.Join(data, "round", log)); err != nil {
					t.Errorf("the round folder keeps no %s: %v", log, err)
				}
			}
		})
	}

	t.Run("a file put in place of a generated one is played but not checked", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "mixed")
		if out, err := exec.Command(filepath.Join(bin, "datagen"), "-out", data, "-agencies", "2", "-bets", "100", "-winners", "3").CombinedOutput(); err != nil {
			t.Fatalf("datagen: %v\n%s", err, out)
		}
		proctest.CourseFile(t, filepath.Join(data, "agency-2.csv"), 10, 4)
		out, err := makeRun(t, bin, data, proctest.FreePort(t))
		if err != nil {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		saysEach(t, out,
			"agency 1: 100 bets sent, 3 winners, as expected",
			"agency 2: 10 bets sent, 1 winners (no expectation for this file: not checked)",
		)
	})

	// The course's official files are not in the repository: this plays
	// them from the folder QUINIELA_OFFICIAL_DATA names (agency-1.csv …
	// agency-5.csv, as unzipped from the course's dataset.zip).
	t.Run("make run checks the course's official set by its checksums, and no file a byte away from it", func(t *testing.T) {
		official := os.Getenv("QUINIELA_OFFICIAL_DATA")
		if official == "" {
			t.Skip("SKIP: QUINIELA_OFFICIAL_DATA names no folder holding the course's official agency files")
		}
		data := t.TempDir()
		for i := 1; i <= 5; i++ {
			name := fmt.Sprintf("agency-%d.csv", i)
			raw, err := os.ReadFile(filepath.Join(official, name))
			if err != nil {
				t.Fatalf("QUINIELA_OFFICIAL_DATA=%s: %v", official, err)
			}
			if err := os.WriteFile(filepath.Join(data, name), raw, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, err := makeTarget(t, "run", bin, data, proctest.FreePort(t), "ROUNDS=2")
		if err != nil {
			t.Fatalf("make run ROUNDS=2: %v\n%s", err, out)
		}
		saysEach(t, out, "round 1: draws: 1, bets stored: 78697", "round 2: draws: 1, bets stored: 78697", "round: success")
		if n := strings.Count(out, "as expected (the course's official agency-"); n != 10 {
			t.Errorf("%d runs of an official file as expected, want 10 (5 in each of 2 rounds):\n%s", n, out)
		}
		out, err = makeRun(t, bin, data, proctest.FreePort(t))
		if err != nil {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		saysEach(t, out,
			"5 of them the course's official files",
			"agency 1: 26936 bets sent, 2 winners, as expected (the course's official agency-1.csv)",
			"agency 2: 25518 bets sent, 3 winners, as expected (the course's official agency-2.csv)",
			"agency 3: 16014 bets sent, 3 winners, as expected (the course's official agency-3.csv)",
			"agency 4: 9238 bets sent, 2 winners, as expected (the course's official agency-4.csv)",
			"agency 5: 991 bets sent, 0 winners, as expected (the course's official agency-5.csv)",
			"draws: 1, bets stored: 78697",
			"round: success",
		)
		// One byte changed (a name's first letter): not the official file.
		f, err := os.OpenFile(filepath.Join(data, "agency-3.csv"), os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("X")); err != nil {
			t.Fatal(err)
		}
		f.Close()
		out, err = makeRun(t, bin, data, proctest.FreePort(t))
		if err != nil {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		saysEach(t, out,
			"4 of them the course's official files",
			"agency 3: 16014 bets sent, 3 winners (no expectation for this file: not checked)",
			"round: success",
		)
	})

	t.Run("a busy port ends the run at once with the central's error", func(t *testing.T) {
		data := t.TempDir()
		proctest.CourseFile(t, filepath.Join(data, "agency-1.csv"), 5)
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
		start := time.Now()
		out, err := makeRun(t, bin, data, port)
		if err == nil || !strings.Contains(out, "action: listen | result: fail") || !strings.Contains(out, "address already in use") ||
			!strings.Contains(out, "round: fail") {
			t.Fatalf("make run: %v\n%s", err, out)
		}
		// The agencies would wait 30 s for a central; the run must not. The
		// bound is generous: it only tells "did not wait for them" apart.
		if took := time.Since(start); took > 20*time.Second {
			t.Fatalf("make run took %v to give up", took)
		}
	})
}

// saysEach fails the test for each of want that out does not hold.
func saysEach(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("no %q in:\n%s", w, out)
		}
	}
}
