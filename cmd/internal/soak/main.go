// Command soak leaves two real centrals running for a while under churn, as
// a deployment lives, and fails when one of them grows without bound. One
// central speaks plain TCP and one mutual TLS; each gets, all along:
//
//   - the real health check binary every 100 ms (a container's HEALTHCHECK
//     does this every few seconds, for weeks);
//   - agencies that connect, send a little, sometimes hang up mid-batch and
//     resume from their status on the next visit, end, and once the round
//     is drawn keep coming back for their winners (checked);
//   - strangers that connect and say nothing, or send garbage, past the
//     connection bound;
//   - scrapes of /metrics, /status and the page at /.
//
// Every -every it prints each central's heap after GC, RSS, goroutines,
// open files and sessions. At the end it compares the last fifth of the
// run with a window after the draw and fails if any grew beyond a fixed
// allowance, or if anything went wrong on the way (a failed health check,
// an agency's error, wrong winners, a central that did not exit 0 on
// SIGTERM).
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// What may grow between the window after the draw and the end of the run:
// more is a leak.
var allowance = map[string]float64{
	"heap_live": 8 << 20, "rss": 32 << 20, "goroutines": 50, "open_files": 50,
}

// The metrics sampled, with their series in /metrics.
var sampled = []struct{ name, series string }{
	{"heap_live", "go_gc_heap_live_bytes"},
	{"rss", "process_resident_memory_bytes"},
	{"goroutines", "go_goroutines"},
	{"open_files", "process_open_fds"},
	{"sessions", "quiniela_sessions_open"},
	{"drawn", "quiniela_draw_done"},
}

func main() {
	bin := flag.String("bin", "bin", "folder holding the server, healthcheck and certs binaries")
	duration := flag.Duration("duration", 5*time.Minute, "how long the centrals run under churn")
	every := flag.Duration("every", 0, "how often to sample and print (0: a twentieth of -duration, at least 2 s)")
	agencies := flag.Int("agencies", 16, "agencies of each central's round")
	keep := flag.Bool("keep", false, "keep the run's folder (stores, logs, certificates) even when it passes")
	flag.Parse()
	if *every == 0 {
		*every = max(*duration/20, 2*time.Second)
	}
	dir, err := os.MkdirTemp("", "quiniela-soak-")
	if err != nil {
		fmt.Println("soak:", err)
		os.Exit(1)
	}
	problems, err := soak(*bin, dir, *duration, *every, *agencies)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 || *keep {
		fmt.Println("the run's folder, with the centrals' logs:", dir)
	} else {
		os.RemoveAll(dir)
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Println("  -", p)
		}
		fmt.Println("soak: fail")
		os.Exit(1)
	}
	fmt.Println("soak: success")
}

// central is one running central and what was done to it.
type central struct {
	name     string
	addr     string
	admin    string
	proc     *proctest.Process
	tls      func(agency int) *tls.Config // nil: plain TCP
	healthCA string                       // HEALTHCHECK_TLS_CA, when TLS
	samples  []map[string]float64
	at       []time.Duration

	visits, healthOK, strangers, scrapes atomic.Int64
	mu                                   sync.Mutex
	problems                             []string
}

func (c *central) fail(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.problems) < 20 {
		c.problems = append(c.problems, c.name+": "+fmt.Sprintf(format, args...))
	}
}

func soak(bin, dir string, duration, every time.Duration, agencies int) ([]string, error) {
	certs := filepath.Join(dir, "certs")
	if out, err := exec.Command(filepath.Join(bin, "certs"), "-out", certs, "-agencies", strconv.Itoa(agencies)).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("making certificates: %v\n%s", err, out)
	}
	plain, err := startCentral(bin, dir, "plain", agencies, nil)
	if err != nil {
		return nil, err
	}
	withTLS, err := startCentral(bin, dir, "tls", agencies, []string{
		"SERVER_TLS_CERT=" + filepath.Join(certs, "server.crt"), "SERVER_TLS_KEY=" + filepath.Join(certs, "server.key"),
		"SERVER_TLS_CLIENT_CA=" + filepath.Join(certs, "ca.crt"),
	})
	if err != nil {
		stop(plain)
		return nil, err
	}
	withTLS.healthCA = filepath.Join(certs, "ca.crt")
	withTLS.tls = func(agency int) *tls.Config {
		name := filepath.Join(certs, "agency-"+strconv.Itoa(agency))
		cfg, err := tlsfiles.Client(name+".crt", name+".key", filepath.Join(certs, "ca.crt"))
		if err != nil {
			withTLS.fail("agency %d's certificate: %v", agency, err)
			return nil
		}
		cfg.ServerName = "127.0.0.1"
		return cfg
	}
	centrals := []*central{plain, withTLS}

	// Each agency sends enough bets for its round to be drawn in the first
	// fifth of the run, so that most of it runs after the draw: a visit
	// takes about four times a worker's pause (measured: 54 visits a
	// second for two workers).
	perVisit := 2 * protocol.MaxBatchCount
	visitsPerAgency := max(3, int(duration/5/visitEvery)*workers/agencies/4)
	betsPerAgency := perVisit * visitsPerAgency
	fmt.Printf("soak: %s, two centrals (plain %s, TLS %s), %d agencies of %d bets each, health checks every %s\n",
		duration, plain.addr, withTLS.addr, agencies, betsPerAgency, healthEvery)

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range centrals {
		wg.Go(func() { healthChecks(ctx, bin, c) })
		for w := range workers {
			wg.Go(func() { playAgencies(ctx, c, agencies, w, betsPerAgency, perVisit) })
		}
		wg.Go(func() { strangers(ctx, c) })
		wg.Go(func() { scrape(ctx, c) })
	}
	start := time.Now()
	fmt.Printf("%8s %-6s %10s %10s %10s %10s %9s %8s %8s\n", "t", "mode", "heap_live", "rss", "goroutines", "open_files", "sessions", "visits", "health")
	tick := time.NewTicker(every)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
		for _, c := range centrals {
			s, err := metricsOf(c.admin)
			if err != nil {
				c.fail("sampling /metrics: %v", err)
				continue
			}
			c.samples, c.at = append(c.samples, s), append(c.at, time.Since(start))
			fmt.Printf("%8s %-6s %10s %10s %10.0f %10.0f %9.0f %8d %8d\n", time.Since(start).Round(time.Second), c.name,
				mib(s["heap_live"]), mib(s["rss"]), s["goroutines"], s["open_files"], s["sessions"], c.visits.Load(), c.healthOK.Load())
		}
	}
	tick.Stop()
	wg.Wait()

	var problems []string
	for _, c := range centrals {
		if code := stop(c); code != 0 {
			c.fail("exited %d on SIGTERM", code)
		}
		problems = append(problems, c.problems...)
		problems = append(problems, judge(c)...)
		if c.healthOK.Load() == 0 || c.visits.Load() == 0 {
			problems = append(problems, c.name+": nothing was driven")
		}
		drawnAt := "not drawn"
		for i, s := range c.samples {
			if s["drawn"] == 1 {
				drawnAt = "drawn by " + c.at[i].Round(time.Second).String()
				break
			}
		}
		if drawnAt == "not drawn" && duration >= 2*time.Minute {
			problems = append(problems, c.name+": the round was never drawn, so winners were never checked")
		}
		fmt.Printf("%s: %s, %d agency visits, %d health checks, %d strangers, %d scrapes\n",
			c.name, drawnAt, c.visits.Load(), c.healthOK.Load(), c.strangers.Load(), c.scrapes.Load())
	}
	return problems, nil
}

func mib(b float64) string { return fmt.Sprintf("%.1fMiB", b/(1<<20)) }

// judge compares the median of the last fifth of the samples with the
// median of a window from 30 % to 50 % of the run (after the draw).
func judge(c *central) []string {
	n := len(c.samples)
	if n < 5 {
		return []string{fmt.Sprintf("%s: only %d samples, too few to judge", c.name, n)}
	}
	median := func(from, to int, key string) float64 {
		var v []float64
		for _, s := range c.samples[from:to] {
			v = append(v, s[key])
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var problems []string
	for key, allowed := range allowance {
		base := median(n*3/10, max(n/2, n*3/10+1), key)
		end := median(n*4/5, n, key)
		verdict := "flat"
		if end-base > allowed {
			verdict = "GROWING"
			problems = append(problems, fmt.Sprintf("%s: %s grew from %.0f to %.0f (allowed %.0f)", c.name, key, base, end, allowed))
		}
		fmt.Printf("%s %-10s mid-run %.0f, end %.0f: %s\n", c.name, key, base, end, verdict)
	}
	return problems
}

func startCentral(bin, dir, name string, agencies int, extra []string) (*central, error) {
	folder := filepath.Join(dir, name)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		return nil, err
	}
	c := &central{name: name}
	log, err := os.Create(filepath.Join(folder, "central.log"))
	if err != nil {
		return nil, err
	}
	c.proc, err = proctest.Launch(filepath.Join(bin, "server"), proctest.Options{
		Env: append([]string{
			// Any free ports, read back from its listen lines: none can be
			// taken between choosing it and the central binding it.
			"SERVER_IP=127.0.0.1", "SERVER_PORT=0", "SERVER_ADMIN_ADDRESS=127.0.0.1:0",
			"STORAGE_FILEPATH=" + filepath.Join(folder, "bets.csv"), "AGENCIES=" + strconv.Itoa(agencies),
			"SERVER_LISTEN_BACKLOG=1024", "SERVER_MAX_CONNECTIONS=64", "SERVER_IDLE_TIMEOUT=5s", "SERVER_FRAME_TIMEOUT=2s",
		}, extra...),
		Log: log, Stderr: log,
		// Minutes of lines go to the file; only the listen lines are kept.
		Keep: func(line string) bool { return strings.Contains(line, "listen | result: success") },
		// A soak stopped from outside (a timeout, a kill) takes its centrals
		// with it: they shut down as on SIGTERM.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	})
	if err != nil {
		log.Close()
		return nil, err
	}
	go func() { <-c.proc.Done(); log.Close() }()
	// The central says its address, then its admin endpoint's.
	for _, action := range []logattr.Action{logattr.Listen, logattr.AdminListen} {
		raw, err := c.proc.Await(logline.Pattern(action, logattr.Success), time.Minute)
		l, perr := logline.Parse(raw)
		if err != nil || perr != nil {
			c.proc.Cmd.Process.Kill()
			<-c.proc.Done()
			return nil, fmt.Errorf("the %s central did not start; see %s", name, log.Name())
		}
		addr := net.JoinHostPort(l.Values["ip"], l.Values["port"])
		if action == logattr.Listen {
			c.addr = addr
		} else {
			c.admin = addr
		}
	}
	return c, nil
}

// stop sends SIGTERM and returns the exit code (-1: killed after 30 s).
func stop(c *central) int { return c.proc.Stop(30 * time.Second) }

const (
	healthEvery = 100 * time.Millisecond
	visitEvery  = 20 * time.Millisecond // a worker's pace between two agency visits
	workers     = 2                     // agency workers per central
)

// metricsOf reads the sampled series from the admin endpoint.
func metricsOf(admin string) (map[string]float64, error) {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + admin + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	values := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			continue
		}
		for _, m := range sampled {
			if fields[0] == m.series {
				values[m.name], _ = strconv.ParseFloat(fields[1], 64)
			}
		}
	}
	for _, m := range sampled {
		if _, ok := values[m.name]; !ok {
			return nil, fmt.Errorf("no %s in /metrics", m.series)
		}
	}
	return values, sc.Err()
}
