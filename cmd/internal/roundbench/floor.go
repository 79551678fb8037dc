package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"quiniela/cmd/internal/proctest"
)

// The floor table: each round beside its physical limit, the same agency
// files sent by processes of the floor program (cmd/internal/floor) that
// do nothing but send them whole, to a server that does nothing but write
// them and fsync once per agency. Both are timed the same way: from the
// moment the agencies are launched, the server already listening, to the
// last agency's exit.

// floorRow is one row of the floor table.
type floorRow struct {
	name string
	size
	floor, ours time.Duration // medians
	runs        int
}

// floorSizes are the rows: the official-like round on loopback, 100
// agencies of 10,000 bets on loopback, and the official-like round at 50
// and 200 ms round trips through the delaying proxy. quick makes them tiny,
// with short delays, for a test of the code path.
func floorSizes(quick bool) []floorRow {
	if quick {
		return []floorRow{
			{name: "quick, loopback", size: size{agencies: 3, bets: 100}},
			{name: "quick, 4 agencies, loopback", size: size{agencies: 4, bets: 100}},
			{name: "quick, 10 ms round trip", size: size{agencies: 3, bets: 100, rtt: 10 * time.Millisecond}},
		}
	}
	return []floorRow{
		{name: "official-like, loopback", size: size{agencies: 5}},
		{name: "100 × 10,000, loopback", size: size{agencies: 100, bets: 10000}},
		{name: "official-like, 50 ms round trip", size: size{agencies: 5, rtt: 50 * time.Millisecond}},
		{name: "official-like, 200 ms round trip", size: size{agencies: 5, rtt: 200 * time.Millisecond}},
	}
}

// floorTable measures every row, runs times each, alternating a floor run
// and a round of ours, and prints the medians. It first measures the
// proxy's own cost: the floor of the first row through the proxy at no
// delay, beside the floor straight.
func floorTable(w io.Writer, dir string, runs int, quick bool) error {
	rows := floorSizes(quick)
	first := rows[0]
	proxyCheck := floorRow{name: first.name + ", floor through the proxy at 0 ms", size: first.size}
	var straight, proxied []time.Duration
	for range runs {
		data, err := dataFor(dir, first.size)
		if err != nil {
			return err
		}
		s, err := floorRound(dir, data, first.size, false)
		if err != nil {
			return err
		}
		p, err := floorRound(dir, data, first.size, true)
		if err != nil {
			return err
		}
		straight, proxied = append(straight, s), append(proxied, p)
	}
	proxyCheck.floor, proxyCheck.ours, proxyCheck.runs = median(straight), median(proxied), runs

	for i := range rows {
		r := &rows[i]
		data, err := dataFor(dir, r.size)
		if err != nil {
			return err
		}
		var floors, ours []time.Duration
		for run := range runs {
			f, err := floorRound(dir, data, r.size, r.rtt > 0)
			if err != nil {
				return fmt.Errorf("%s, floor run %d: %w", r.name, run+1, err)
			}
			o, err := round(dir, data, r.size, nil)
			if err != nil {
				return fmt.Errorf("%s, run %d: %w", r.name, run+1, err)
			}
			floors, ours = append(floors, f), append(ours, o.wall)
		}
		r.floor, r.ours, r.runs = median(floors), median(ours), runs
	}

	fmt.Fprintf(w, "| round | bets | floor s | ours s | ours/floor | runs |\n|:---|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %.1f× | %d |\n", r.name, betsOf(r.size), r.floor.Seconds(), r.ours.Seconds(), r.ours.Seconds()/r.floor.Seconds(), r.runs)
	}
	fmt.Fprintf(w, "\nthe proxy's own cost (%s): the floor %.3f s straight, %.3f s through the proxy at 0 ms (median of %d)\n",
		first.name, proxyCheck.floor.Seconds(), proxyCheck.ours.Seconds(), runs)
	// Through the proxy, the floor should take its time straight plus one
	// round trip (the bytes there, the acknowledgement back): what is
	// beyond is the proxy's, or the machine's at that moment.
	for _, r := range rows {
		if r.rtt > 0 && r.agencies == rows[0].agencies && r.bets == rows[0].bets {
			fmt.Fprintf(w, "the floor at %v beyond the floor straight plus one round trip: %+.3f s\n", r.rtt, (r.floor - rows[0].floor - r.rtt).Seconds())
		}
	}
	return nil
}

// betsOf is the round's bets, with thousands separated by commas.
func betsOf(sz size) string {
	n := sz.agencies * sz.bets
	if sz.bets == 0 {
		n = 79000 // datagen's official-like set
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// dataFor writes the agency files of a size once, with datagen.
func dataFor(dir string, sz size) (string, error) {
	data := filepath.Join(dir, fmt.Sprintf("data-%d-%d", sz.agencies, sz.bets))
	if _, err := os.Stat(data); err == nil {
		return data, nil
	}
	args := []string{"-out", data, "-agencies", strconv.Itoa(sz.agencies), "-bets", strconv.Itoa(sz.bets)}
	if out, err := exec.Command(filepath.Join(dir, "datagen"), args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("datagen: %v\n%s", err, out)
	}
	return data, nil
}

// floorRound runs the floor once: the floor server, ready, then one floor
// agency process per file at once, timed to the last one's exit, through
// the delaying proxy at sz.rtt when proxied. It checks that the server
// holds every byte of every file.
func floorRound(dir, data string, sz size, proxied bool) (time.Duration, error) {
	port, err := proctest.Port()
	if err != nil {
		return 0, err
	}
	stored := filepath.Join(dir, "floor-store")
	os.RemoveAll(stored)
	if err := os.Mkdir(stored, 0o755); err != nil {
		return 0, err
	}
	addr := "127.0.0.1:" + port
	server := exec.Command(filepath.Join(dir, "floor"), "serve", addr, stored)
	server.Stderr = os.Stderr
	out, err := server.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := server.Start(); err != nil {
		return 0, err
	}
	defer func() { server.Process.Kill(); server.Wait() }()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		return 0, fmt.Errorf("the floor server did not say ready: %q, %v", line, err)
	}
	if proxied {
		px, err := startProxy(addr, sz.rtt/2)
		if err != nil {
			return 0, err
		}
		defer px.Close()
		addr = px.Addr()
	}

	var want int64
	agencies := make([]*exec.Cmd, sz.agencies)
	start := time.Now()
	for i := range agencies {
		file := filepath.Join(data, "agency-"+strconv.Itoa(i+1)+".csv")
		agencies[i] = exec.Command(filepath.Join(dir, "floor"), "send", addr, file)
		agencies[i].Stderr = os.Stderr
		if err := agencies[i].Start(); err != nil {
			return 0, err
		}
	}
	for i, a := range agencies {
		if err := a.Wait(); err != nil {
			return 0, fmt.Errorf("floor agency %d: %w", i+1, err)
		}
	}
	wall := time.Since(start)

	for i := range agencies {
		fi, err := os.Stat(filepath.Join(data, "agency-"+strconv.Itoa(i+1)+".csv"))
		if err != nil {
			return 0, err
		}
		want += fi.Size()
	}
	var got int64
	entries, err := os.ReadDir(stored)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil {
			return 0, err
		}
		got += fi.Size()
	}
	if got != want || len(entries) != sz.agencies {
		return 0, fmt.Errorf("the floor server holds %d bytes in %d files, want %d in %d", got, len(entries), want, sz.agencies)
	}
	return wall, nil
}
