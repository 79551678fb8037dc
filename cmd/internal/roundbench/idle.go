package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/store/postgres/pgcluster"

	"github.com/jackc/pgx/v5"
)

// The idle-connection measure, the machine's numbers read from /proc, and
// the round's database.

// idleConnections is how many connections idle measures, plain.
const idleConnections = 10000

// Over TLS the central keeps only a few connections of one certificate's
// agency that do not speak for it (a bound against one certificate
// opening thousands): idle spreads them over the bench's 100 agency
// certificates, three each.
const (
	idleAgencies      = 100
	idlePerAgency     = 3
	idleTLSConnection = idleAgencies * idlePerAgency
)

// idle opens n connections to a central that send nothing (over TLS: that
// complete the handshake with an agency's certificate, one of
// idleAgencies' in turn, and send nothing), and returns the central's RSS
// in KiB before and once it holds them all.
func idle(dir string, n int, useTLS bool) (before, after int, err error) {
	port, err := proctest.Port()
	if err != nil {
		return 0, 0, err
	}
	store := filepath.Join(dir, "idle.csv")
	os.Remove(store)
	os.Remove(store + ".ends")
	env := []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + port, "STORAGE_FILEPATH=" + store, "SERVER_LISTEN_BACKLOG=4096"}
	cert := func(name string) string { return filepath.Join(dir, "tls", name) }
	var tlsConfigs []*tls.Config
	if useTLS {
		env = append(env, "SERVER_TLS_CERT="+cert("server.crt"), "SERVER_TLS_KEY="+cert("server.key"), "SERVER_TLS_CLIENT_CA="+cert("ca.crt"),
			"AGENCIES="+strconv.Itoa(idleAgencies))
		for a := 1; a <= idleAgencies; a++ {
			c, err := tlsfiles.Client(cert(fmt.Sprintf("agency-%d.crt", a)), cert(fmt.Sprintf("agency-%d.key", a)), cert("ca.crt"))
			if err != nil {
				return 0, 0, err
			}
			c.ServerName = "127.0.0.1"
			tlsConfigs = append(tlsConfigs, c)
		}
	}
	server, err := proctest.Launch(filepath.Join(dir, "server"), proctest.Options{Env: env})
	if err != nil {
		return 0, 0, err
	}
	defer server.Stop(30 * time.Second)
	if _, err := server.Await(`action: listen \| result: success`, 30*time.Second); err != nil {
		return 0, 0, err
	}
	pid := server.Cmd.Process.Pid
	before = rss(pid)
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range n {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
		if err != nil {
			return 0, 0, err
		}
		if tlsConfigs != nil {
			tc := tls.Client(c, tlsConfigs[i%len(tlsConfigs)])
			if err := tc.Handshake(); err != nil {
				c.Close()
				return 0, 0, err
			}
			c = tc
		}
		conns = append(conns, c)
	}
	// The central has them all once it holds a descriptor for each.
	for deadline := time.Now().Add(time.Minute); openFiles(pid) < n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			return 0, 0, fmt.Errorf("the central holds %d of %d connections", openFiles(pid), n)
		}
	}
	return before, rss(pid), nil
}

func rss(pid int) int {
	raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.Atoi(strings.Fields(v)[0])
			return kib
		}
	}
	return 0
}

// selfPeakRSS is this process's peak RSS in KiB.
func selfPeakRSS() int {
	raw, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, _ := strconv.Atoi(strings.Fields(v)[0])
			return kib
		}
	}
	return 0
}

func openFiles(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// scrape reads the admin endpoint's /metrics and /status every 100 ms, as
// a Prometheus and a status page would, until stop.
func scrape(admin string, stop <-chan struct{}) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for _, path := range []string{"/metrics", "/status"} {
			if resp, err := http.Get("http://" + admin + path); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}

// roundDatabase is the database of the PostgreSQL rounds: created, and its
// schema made by the first round's central; emptied before each later one
// as an operator starts a new round (TRUNCATE), so that every round but
// the first runs on a database in its steady state.
var roundDatabase string

func emptyDatabase(db *pgcluster.Cluster) (string, error) {
	ctx := context.Background()
	if roundDatabase == "" {
		var err error
		roundDatabase, err = db.NewDatabase(ctx)
		return roundDatabase, err
	}
	conn, err := pgx.Connect(ctx, roundDatabase)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "TRUNCATE batches, ends, draw; CHECKPOINT")
	return roundDatabase, err
}

// awaitSessionsEnded waits until the central's database sessions have
// ended, so that their processor time is counted whole.
func awaitSessionsEnded(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for {
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'quiniela central%'`).Scan(&n); err != nil {
			return fmt.Errorf("waiting for the central's sessions to end: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the central's database sessions did not end: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}
