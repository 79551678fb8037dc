// Command roundbench measures whole lottery rounds on this machine with the
// real binaries on datagen data, and prints one table: agencies, bets, wall
// seconds from launching the central to the last agency's exit, bets per
// second, batch acknowledgement latency (median of the agencies' p50, worst
// of their p99), peak RSS of the central and of the largest agency, and
// fsyncs per batch, and the CPU time of the central and of all agencies
// (on a 2-core machine the round is CPU-bound), and of PostgreSQL's
// processes where the bets go to a throwaway cluster instead of the CSV
// file (rows "PostgreSQL", when its server binaries are installed). Every round is checked: each agency must exit 0 with
// the winners datagen promised. It is run by `make bench`.
package main

import (
	"flag"
	"fmt"
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
	scraped        bool // the admin endpoint's /metrics and /status read every 100 ms
	postgres       bool // the bets in PostgreSQL (a new database of a throwaway cluster) instead of the CSV file
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
	runs := flag.Int("runs", 3, "rounds per size; the table shows the one with the median wall time")
	flag.Parse()
	if err := run(*runs); err != nil {
		fmt.Fprintln(os.Stderr, "roundbench:", err)
		os.Exit(1)
	}
}

func run(runs int) error {
	dir, err := os.MkdirTemp("", "roundbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	build := exec.Command("go", "build", "-o", dir+"/", "./cmd/server", "./cmd/client", "./cmd/datagen", "./cmd/certs")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building: %v\n%s", err, out)
	}
	if out, err := exec.Command(filepath.Join(dir, "certs"), "-out", filepath.Join(dir, "tls"), "-agencies", "100").CombinedOutput(); err != nil {
		return fmt.Errorf("certs: %v\n%s", err, out)
	}
	db, err := pgcluster.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "roundbench: no PostgreSQL rows: %v\n", err)
	} else {
		defer db.Remove()
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
		data := filepath.Join(dir, fmt.Sprintf("data-%d", sz.agencies))
		if _, err := os.Stat(data); err != nil {
			args := []string{"-out", data, "-agencies", strconv.Itoa(sz.agencies), "-bets", strconv.Itoa(sz.bets)}
			if out, err := exec.Command(filepath.Join(dir, "datagen"), args...).CombinedOutput(); err != nil {
				return fmt.Errorf("datagen: %v\n%s", err, out)
			}
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
	fmt.Printf("| agencies | store | mode | bets | wall s | bets/s | ack p50 ms | ack p99 ms | server peak RSS MiB | largest client peak RSS MiB | fsyncs (commits)/batch | server CPU s | agencies' CPU s | database CPU s |\n")
	fmt.Printf("|---:|:---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
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
		fmt.Printf("| %d | %s | %s | %d | %.3f | %.0f | %.2f | %.2f | %.1f | %.1f | %.3f | %.2f | %.2f | %s |\n",
			r.agencies, store, tls, r.total, r.wall.Seconds(), float64(r.total)/r.wall.Seconds(), r.p50, r.p99,
			float64(r.serverRSS)/1024, float64(r.clientRSS)/1024, r.fsyncsPerBatch, r.serverCPU.Seconds(), r.clientsCPU.Seconds(), dbCPU)
	}
	fmt.Println()
	for _, useTLS := range []bool{false, true} {
		before, after, err := idle(dir, idleConnections, useTLS)
		if err != nil {
			return fmt.Errorf("idle connections: %w", err)
		}
		kind := "plain"
		if useTLS {
			kind = "TLS, handshake done"
		}
		fmt.Printf("%d idle connections (%s): central RSS %.1f MiB -> %.1f MiB, %.1f KiB each\n",
			idleConnections, kind, float64(before)/1024, float64(after)/1024, float64(after-before)/idleConnections)
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

	start := time.Now()
	env := []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + port, "STORAGE_FILEPATH=" + store, "AGENCIES=" + strconv.Itoa(sz.agencies), "STORAGE_URL=" + storageURL}
	cert := func(name string) string { return filepath.Join(dir, "tls", name) }
	if sz.tls {
		env = append(env, "SERVER_TLS_CERT="+cert("server.crt"), "SERVER_TLS_KEY="+cert("server.key"), "SERVER_TLS_CLIENT_CA="+cert("ca.crt"))
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

	clients := make([]*proctest.Process, sz.agencies)
	for i := range clients {
		id := strconv.Itoa(i + 1)
		env := []string{"CLI_ID=" + id, "CLI_SERVER_ADDRESS=127.0.0.1:" + port, "CLI_DATA_FILE=" + filepath.Join(data, "agency-"+id+".csv")}
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
