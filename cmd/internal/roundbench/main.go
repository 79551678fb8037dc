// Command roundbench measures whole lottery rounds on this machine with the
// real binaries on datagen data. It is run by `make bench`.
//
// First the floor table (floor.go): each round beside its physical limit,
// the same files sent raw by floor agencies to a server that only writes
// and fsyncs them (cmd/internal/floor), on loopback and at 50 and 200 ms
// round trips through a delaying proxy (proxy.go); floor and ours are
// timed alike, from launching the agencies, the server already listening,
// to the last agency's exit, alternating, the median of -floor-runs.
//
// Then the full table: agencies, bets, wall seconds (timed as above),
// bets per second, batch acknowledgement latency (median of the agencies'
// p50, worst of their p99), peak RSS of the central and of the largest
// agency, fsyncs per batch, and the CPU time of the central and of all
// agencies (on a 2-core machine the round is CPU-bound), and of
// PostgreSQL's processes where the bets go to a throwaway cluster instead
// of the CSV file (rows "PostgreSQL", when its server binaries are
// installed), followed by the rounds on PostgreSQL beside the same rounds
// on the file, alternating (stores.go). Every round is checked: each
// agency must exit 0 with the winners datagen promised.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/datagen"
	"quiniela/lottery/logattr"
	"quiniela/store/postgres/pgcluster"
)

type size struct {
	agencies, bets int // bets per agency; 0: official-like
	tls            bool
	scraped        bool          // the admin endpoint's /metrics and /status read every 100 ms
	postgres       bool          // the bets in PostgreSQL (a new database of a throwaway cluster) instead of the CSV file
	rtt            time.Duration // through the delaying proxy, half of it each way; 0: straight to the central
}

type result struct {
	size
	total          int
	wall           time.Duration
	p50, p99       float64 // ms
	serverRSS      int64   // KiB
	clientRSS      int64   // KiB, the largest
	fsyncsPerBatch float64
	serverCPU      time.Duration
	clientsCPU     time.Duration // all agencies together
	databaseCPU    time.Duration // PostgreSQL's processes, with postgres
}

func main() {
	runs := flag.Int("runs", 3, "rounds per size of the full table, where it shows the one with the median wall time, and per store of the stores table, alternating, where it shows the medians")
	floorRuns := flag.Int("floor-runs", 5, "runs of the floor and of ours per row of the floor table, alternating; it shows their medians")
	only := flag.String("only", "", `"floor": the floor table alone; "rounds": the full table alone; "stores": the rounds on PostgreSQL beside the file alone; "": all three`)
	quick := flag.Bool("quick", false, "the floor table (or with -only stores, the stores') on tiny rounds with short delays, once: a smoke test of the code path")
	profile := flag.String("profile", "", "instead of the tables, one official-like round and one of 100 agencies × 10,000 bets with binaries built -tags pprof, leaving the central's and every agency's CPU and allocation profiles in this folder")
	flag.Parse()
	o, err := optionsOf(*only, *quick)
	if err != nil {
		fmt.Fprintln(os.Stderr, "roundbench:", err)
		os.Exit(2)
	}
	o.runs, o.floorRuns, o.out, o.profile = *runs, *floorRuns, os.Stdout, *profile
	if o.quick {
		o.runs, o.floorRuns = 1, 1
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "roundbench:", err)
		os.Exit(1)
	}
}

// optionsOf says which tables -only and -quick ask for, or why not.
func optionsOf(only string, quick bool) (options, error) {
	o := options{root: ".", quick: quick}
	switch only {
	case "":
		o.floor, o.rounds, o.stores = true, true, true
	case "floor":
		o.floor = true
	case "rounds":
		o.rounds = true
	case "stores":
		o.stores = true
	default:
		return o, fmt.Errorf(`-only %q: want "floor", "rounds", "stores" or nothing`, only)
	}
	if quick {
		switch {
		case o.rounds && !o.floor:
			return o, errors.New("-quick plays the floor table or, with -only stores, the stores table: the full table has no quick rows")
		case !o.stores || o.floor: // -quick alone is the floor table's
			o.floor, o.rounds, o.stores = true, false, false
		}
	}
	return o, nil
}

// options say what run measures.
type options struct {
	root          string // the module's root
	runs          int    // of each size of the full table
	floorRuns     int    // of the floor and of ours, per row of the floor table
	floor, rounds bool   // the floor table, the full table (with the idle connections)
	stores        bool   // the rounds on PostgreSQL beside the file (stores.go)
	quick         bool   // the floor table's and the stores table's tiny rows
	profile       string // a folder for profiles, instead of the tables
	out           io.Writer
}

// profileDir, when set, is where round's processes write their profiles.
var profileDir string

func run(o options) error {
	dir, err := os.MkdirTemp("", "roundbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	args := []string{"build", "-o", dir + "/"}
	if o.profile != "" {
		args = append(args, "-tags", "pprof")
	}
	build := exec.Command("go", append(args, "./cmd/server", "./cmd/client", "./cmd/datagen", "./cmd/certs", "./cmd/internal/floor")...)
	build.Dir = o.root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building: %v\n%s", err, out)
	}
	if o.profile != "" {
		if profileDir, err = filepath.Abs(o.profile); err != nil {
			return err
		}
		for _, sz := range []size{{agencies: 5}, {agencies: 100, bets: 10000}} {
			data, err := dataFor(dir, sz)
			if err != nil {
				return err
			}
			if _, err := round(dir, data, sz, nil); err != nil {
				return err
			}
		}
		return nil
	}
	if o.floor {
		if err := floorTable(o.out, dir, o.floorRuns, o.quick); err != nil {
			return err
		}
		fmt.Fprintln(o.out)
	}
	if !o.rounds && !o.stores {
		return nil
	}
	db, err := pgcluster.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "roundbench: no PostgreSQL rows: %v\n", err)
	} else {
		defer db.Remove()
	}
	if o.rounds {
		if err := rounds(o, dir, db); err != nil {
			return err
		}
	}
	switch {
	case o.stores && db != nil:
		return storesTable(o.out, dir, db, storeRows(o.quick), o.runs)
	case o.stores && !o.rounds && !o.floor:
		return fmt.Errorf("the stores table needs PostgreSQL's server binaries: %w", err)
	}
	return nil
}

// rounds prints the full table, then the idle connections' memory.
func rounds(o options, dir string, db *pgcluster.Cluster) error {
	runs := o.runs
	if out, err := exec.Command(filepath.Join(dir, "certs"), "-out", filepath.Join(dir, "tls"), "-agencies", "100").CombinedOutput(); err != nil {
		return fmt.Errorf("certs: %v\n%s", err, out)
	}
	sizes := []size{
		{agencies: 5}, {agencies: 5, tls: true}, {agencies: 5, postgres: true},
		{agencies: 100, bets: 10000}, {agencies: 100, bets: 10000, tls: true}, {agencies: 100, bets: 10000, scraped: true},
		{agencies: 100, bets: 10000, postgres: true},
	}
	var results []result
	for _, sz := range sizes {
		if sz.postgres && db == nil {
			continue
		}
		data, err := dataFor(dir, sz)
		if err != nil {
			return err
		}
		var rs []result
		for i := range runs {
			r, err := round(dir, data, sz, db)
			if err != nil {
				return fmt.Errorf("round %d of %d agencies: %w", i+1, sz.agencies, err)
			}
			rs = append(rs, r)
		}
		slices.SortFunc(rs, func(a, b result) int { return int(a.wall - b.wall) })
		results = append(results, rs[len(rs)/2])
	}
	fmt.Fprintf(o.out, "| agencies | store | mode | bets | wall s | bets/s | ack p50 ms | ack p99 ms | server peak RSS MiB | largest client peak RSS MiB | fsyncs (commits)/batch | server CPU s | agencies' CPU s | database CPU s |\n")
	fmt.Fprintf(o.out, "|---:|:---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		tls := "plain"
		if r.tls {
			tls = "mutual TLS"
		}
		if r.scraped {
			tls += ", admin scraped every 100 ms"
		}
		store, dbCPU := "CSV file", "-"
		if r.postgres {
			store, dbCPU = "PostgreSQL", fmt.Sprintf("%.2f", r.databaseCPU.Seconds())
		}
		fmt.Fprintf(o.out, "| %d | %s | %s | %d | %.3f | %.0f | %.2f | %.2f | %.1f | %.1f | %.3f | %.2f | %.2f | %s |\n",
			r.agencies, store, tls, r.total, r.wall.Seconds(), float64(r.total)/r.wall.Seconds(), r.p50, r.p99,
			float64(r.serverRSS)/1024, float64(r.clientRSS)/1024, r.fsyncsPerBatch, r.serverCPU.Seconds(), r.clientsCPU.Seconds(), dbCPU)
	}
	// A child started with vfork, as Go starts every process, inherits
	// the starter's peak RSS as the least its own peak can read.
	fmt.Fprintf(o.out, "\n(a peak RSS reads no less than roundbench's own peak when it started the process: %.1f MiB now)\n\n", float64(selfPeakRSS())/1024)
	for _, useTLS := range []bool{false, true} {
		n, kind := idleConnections, "plain"
		if useTLS {
			n, kind = idleTLSConnection, fmt.Sprintf("TLS, handshake done, %d of each of %d agencies' certificates", idlePerAgency, idleAgencies)
		}
		before, after, err := idle(dir, n, useTLS)
		if err != nil {
			return fmt.Errorf("idle connections: %w", err)
		}
		fmt.Fprintf(o.out, "%d idle connections (%s): central RSS %.1f MiB -> %.1f MiB, %.1f KiB each\n",
			n, kind, float64(before)/1024, float64(after)/1024, float64(after-before)/float64(n))
	}
	return nil
}

var (
	flushLine   = regexp.MustCompile(`action: flush_store \| result: success \| (?:path: \S+ \| )?bets: (\d+) \| batches: (\d+) \| (?:fsyncs|commits): (\d+)`)
	summaryLine = regexp.MustCompile(`action: resumen \| result: success \| enviadas: (\d+) .*latencia_p50_ms: ([\d.]+) \| latencia_p99_ms: ([\d.]+)`)
	winnersLine = regexp.MustCompile(`cant_ganadores: (\d+)`)
)

// round runs one whole round: the central, then every agency at once.
func round(dir, data string, sz size, db *pgcluster.Cluster) (result, error) {
	res := result{size: sz}
	port, err := proctest.Port()
	if err != nil {
		return res, err
	}
	store := filepath.Join(dir, "bets.csv")
	os.Remove(store)
	os.Remove(store + ".ends")
	var storageURL string
	var dbCPU time.Duration
	if sz.postgres {
		if storageURL, err = emptyDatabase(db); err != nil {
			return res, err
		}
		dbCPU = db.CPU()
	}

	// Every agency connects at once, as an operator expecting them sizes
	// the accept queue for: at the default of 5, the kernel dropped the
	// handshakes beyond it (14 to 49 times in a round of 100), and each
	// such agency waited a second for its retransmit.
	backlog := "SERVER_LISTEN_BACKLOG=" + strconv.Itoa(max(5, sz.agencies))
	env := []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + port, "STORAGE_FILEPATH=" + store, "AGENCIES=" + strconv.Itoa(sz.agencies), "STORAGE_URL=" + storageURL, backlog}
	cert := func(name string) string { return filepath.Join(dir, "tls", name) }
	if sz.tls {
		env = append(env, "SERVER_TLS_CERT="+cert("server.crt"), "SERVER_TLS_KEY="+cert("server.key"), "SERVER_TLS_CLIENT_CA="+cert("ca.crt"))
	}
	if profileDir != "" {
		env = append(env, "PPROF_PREFIX="+filepath.Join(profileDir, fmt.Sprintf("central-%d", sz.agencies)))
	}
	if sz.scraped {
		adminPort, err := proctest.Port()
		if err != nil {
			return res, err
		}
		admin := "127.0.0.1:" + adminPort
		env = append(env, "SERVER_ADMIN_ADDRESS="+admin)
		stop := make(chan struct{})
		defer close(stop)
		go scrape(admin, stop)
	}
	// A line per batch stored is not kept: the round's summary lines are.
	server, err := proctest.Launch(filepath.Join(dir, "server"), proctest.Options{Env: env,
		Keep: func(line string) bool { return !strings.Contains(line, logattr.ApuestaRecibida) }})
	if err != nil {
		return res, err
	}
	defer server.Cmd.Process.Kill()
	if _, err := server.Await(`action: listen \| result: success`, 30*time.Second); err != nil {
		return res, err
	}
	addr := "127.0.0.1:" + port
	if sz.rtt > 0 {
		px, err := startProxy(addr, sz.rtt/2)
		if err != nil {
			return res, err
		}
		defer px.Close()
		addr = px.Addr()
	}

	start := time.Now() // the central listens: from here the agencies' time
	clients := make([]*proctest.Process, sz.agencies)
	for i := range clients {
		id := strconv.Itoa(i + 1)
		env := []string{"CLI_ID=" + id, "CLI_SERVER_ADDRESS=" + addr, "CLI_DATA_FILE=" + filepath.Join(data, "agency-"+id+".csv")}
		if profileDir != "" {
			env = append(env, "PPROF_PREFIX="+filepath.Join(profileDir, fmt.Sprintf("agency-%d", sz.agencies)))
		}
		if sz.tls {
			env = append(env, "CLI_TLS_CERT="+cert("agency-"+id+".crt"), "CLI_TLS_KEY="+cert("agency-"+id+".key"), "CLI_TLS_CA="+cert("ca.crt"))
		}
		c, err := proctest.Launch(filepath.Join(dir, "client"), proctest.Options{Env: env})
		if err != nil {
			return res, err
		}
		defer c.Cmd.Process.Kill()
		clients[i] = c
	}
	for i, c := range clients {
		if <-c.Done(); c.ExitCode() != 0 {
			return res, fmt.Errorf("agency %d: exit %d\n%s", i+1, c.ExitCode(), c.Log())
		}
	}
	res.wall = time.Since(start)

	summary, err := datagen.ReadSummary(filepath.Join(data, datagen.SummaryFile))
	if err != nil {
		return res, err
	}
	want := map[string]string{}
	for _, f := range summary.Agencies {
		want[strconv.Itoa(f.Agency)] = strconv.Itoa(f.Winners)
	}
	var p50s []float64
	for i, c := range clients {
		out := c.Log()
		m := summaryLine.FindStringSubmatch(out)
		w := winnersLine.FindStringSubmatch(out)
		if m == nil || w == nil || w[1] != want[strconv.Itoa(i+1)] {
			return res, fmt.Errorf("agency %d did not get its %s winners:\n%s", i+1, want[strconv.Itoa(i+1)], out)
		}
		sent, _ := strconv.Atoi(m[1])
		p50, _ := strconv.ParseFloat(m[2], 64)
		p99, _ := strconv.ParseFloat(m[3], 64)
		res.total += sent
		p50s = append(p50s, p50)
		res.p99 = max(res.p99, p99)
		res.clientRSS = max(res.clientRSS, c.Cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}
	slices.Sort(p50s)
	res.p50 = p50s[len(p50s)/2]

	if code := server.Stop(time.Minute); code != 0 {
		return res, fmt.Errorf("central: exit %d\n%s", code, server.Log())
	}
	lines := strings.Split(server.Log(), "\n")
	res.serverRSS = server.Cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
	if sz.postgres {
		if err := awaitSessionsEnded(storageURL); err != nil {
			return res, err
		}
		res.databaseCPU = db.CPU() - dbCPU
	}
	res.serverCPU = server.Cmd.ProcessState.UserTime() + server.Cmd.ProcessState.SystemTime()
	for _, c := range clients {
		res.clientsCPU += c.Cmd.ProcessState.UserTime() + c.Cmd.ProcessState.SystemTime()
	}
	for _, l := range lines {
		if m := flushLine.FindStringSubmatch(l); m != nil {
			batches, _ := strconv.ParseFloat(m[2], 64)
			fsyncs, _ := strconv.ParseFloat(m[3], 64)
			res.fsyncsPerBatch = fsyncs / batches
		}
	}
	return res, nil
}
