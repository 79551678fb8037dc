package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/store/csvfile"
	"quiniela/store/postgres/pgcluster"
)

// postgresCluster is the throwaway PostgreSQL cluster of this package's
// tests, started by the first that needs it (TestMain removes it).
var postgresCluster pgcluster.Shared

// newPostgresRound is a fault round whose centrals keep the bets in a new
// database of c (the shared cluster when nil); it skips the test where
// PostgreSQL is not installed, and under -short.
func newPostgresRound(t *testing.T, c *pgcluster.Cluster, bets, wins int) *faultRound {
	t.Helper()
	pgcluster.SkipShort(t)
	if c == nil {
		var err error
		if c, err = postgresCluster.Get(); errors.Is(err, pgcluster.ErrNotInstalled) {
			t.Skip("SKIP: ", err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	r := newFaultRound(t, bets, wins)
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.url = url
	return r
}

// startCentral starts a central of a PostgreSQL round on port, without
// waiting for it: it may stand by.
func (r *faultRound) startCentral(port string) *proctest.Process {
	s := proctest.Start(r.t, bins["server"], r.dir, append([]string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + port, "STORAGE_URL=" + r.url}, r.env...)...)
	r.servers = append(r.servers, s)
	return s
}

// storedRows reads the round's store as "agency,first_name,..." rows, the
// CSV file's row format, sorted.
func (r *faultRound) storedRows() []string { return r.storedRowsOf(1) }

// storedRowsOf reads round n of the store (continuous rounds) as
// storedRows does.
func (r *faultRound) storedRowsOf(round int) []string {
	t := r.t
	t.Helper()
	if r.url == "" {
		return readRows(t, csvfile.RoundPath(r.store, round), 0)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT agency, first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number FROM bets WHERE round = $1`, round)
	if err != nil {
		t.Fatal(err)
	}
	var bets []lottery.Bet
	for rows.Next() {
		var b lottery.Bet
		var agency, number int32
		var document int64
		if err := rows.Scan(&agency, &b.FirstName, &b.LastName, &document, &b.Birthdate, &number); err != nil {
			t.Fatal(err)
		}
		b.Agency, b.Document, b.Number = uint16(agency), uint32(document), uint16(number)
		bets = append(bets, b)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	csv, err := csvfile.AppendRows(nil, bets)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(csv), "\n"), "\n")
	if len(csv) == 0 {
		lines = nil
	}
	sort.Strings(lines)
	return lines
}

// startActiveAndStandby starts a central that becomes active, then one
// that stands by, and returns them with the agencies' list of both.
func (r *faultRound) startActiveAndStandby() (active, standby *proctest.Process, centrals string) {
	portA, portB := proctest.FreePort(r.t), proctest.FreePort(r.t)
	active = r.startCentral(portA)
	active.WaitFor(r.t, listenSuccess)
	standby = r.startCentral(portB)
	standby.WaitFor(r.t, standbyLine)
	return active, standby, "127.0.0.1:" + portA + ",127.0.0.1:" + portB
}

var (
	leadershipLine = logline.Pattern(logattr.Leadership, logattr.Success)
	standbyLine    = logline.Pattern(logattr.Standby, logattr.InProgress)
	listenSuccess  = logline.Pattern(logattr.Listen, logattr.Success)
	batchStored    = logline.Pattern(logattr.ApuestaRecibida, logattr.Success)
)

func TestAStandbyCentralTakesOverWithinTwoSecondsWhenTheActiveOneIsKilled(t *testing.T) {
	t.Parallel()
	r := newPostgresRound(t, nil, 3000, 3)
	active, standby, centrals := r.startActiveAndStandby()
	for i := 1; i <= 5; i++ {
		r.startClient(i, centrals)
	}
	active.WaitForN(t, batchStored, 40)
	active.Cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	standby.WaitFor(t, leadershipLine)
	took := time.Since(killed)
	t.Logf("the standby took over %s after the kill", took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("the standby took over %s after the active central was killed, want within 2 s", took.Round(time.Millisecond))
	}
	standby.WaitFor(t, listenSuccess)

	// A central started now stands by, and leaves at once on SIGTERM.
	another := proctest.Start(t, bins["server"], r.dir, "SERVER_IP=127.0.0.1", "SERVER_PORT="+proctest.FreePort(t), "STORAGE_URL="+r.url)
	another.WaitFor(t, standbyLine)
	another.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := another.Wait(t, 10*time.Second); code != 0 || strings.Contains(another.Log(), listenSuccess) {
		t.Errorf("a standby stopped with SIGTERM exited %d:\n%s", code, another.Log())
	}
	r.check()
}

// pauseActiveWhileTheStandbyTakesOver starts an active central and a
// standby, five agencies that know both, and pauses the active one
// (SIGSTOP) with a third of the round stored and a group of batches in
// its COPY, held there (pgcluster.WriterHold): a central that stored the
// whole round before a watcher of its log could pause it left the standby
// nothing to store. It returns once the standby has taken over and stored
// batches of the agencies that moved to it, while the paused central
// still holds frames of theirs.
func (r *faultRound) pauseActiveWhileTheStandbyTakesOver() (paused, standby *proctest.Process, centrals string) {
	t := r.t
	paused, standby, centrals = r.startActiveAndStandby()
	r.faultWithWriterHeld(func() {
		for i := 1; i <= 5; i++ {
			// A reply timeout short enough (its floor) that agencies leave
			// the paused central before the round's end.
			r.clients[i] = proctest.Start(t, bins["client"], r.dir, clientEnv(i, centrals,
				fmt.Sprintf("CLI_DATA_FILE=%s/agency-%d.csv", r.data, i), "CLI_CONNECT_TIMEOUT=60s",
				"CLI_WINNERS_TIMEOUT=120s", "CLI_IO_TIMEOUT=2s")...)
		}
	}, func() { paused.Cmd.Process.Signal(syscall.SIGSTOP) })
	standby.WaitFor(t, leadershipLine)
	standby.WaitFor(t, batchStored)
	return paused, standby, centrals
}

// faultWithWriterHeld arms a hold on the central's writer at a third of
// the round (pgcluster.WriterHold), starts the agencies, and once a
// statement waits on the hold, uncommitted, brings the fault and lets the
// writer go: a fast central would otherwise store the whole round before
// a watcher of its log could bring the fault, however loaded the machine.
func (r *faultRound) faultWithWriterHeld(startAgencies, fault func()) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hold, err := pgcluster.HoldWriter(ctx, r.url, 5*r.bets/3)
	if err != nil {
		r.t.Fatal(err)
	}
	defer hold.Release(context.Background())
	startAgencies()
	if err := hold.Held(ctx, nil); err != nil {
		r.t.Fatal(err)
	}
	fault()
}

func TestACentralPausedWhileAStandbyTookOverIsFencedAndStandsByAgain(t *testing.T) {
	t.Parallel()
	r := newPostgresRound(t, nil, 3000, 2)
	paused, _, centrals := r.pauseActiveWhileTheStandbyTakesOver()
	pausedAddr := strings.Split(centrals, ",")[0]
	paused.Cmd.Process.Signal(syscall.SIGCONT)
	// Resumed, it learns it lost the lease, refuses what it holds, stops
	// serving and stands by for the new active central: the pair stays a
	// pair.
	waitWithin(t, paused, logline.Pattern(logattr.Leadership, logattr.Fail), time.Minute)
	waitWithin(t, paused, logline.Pattern(logattr.StepDown, logattr.Success), time.Minute)
	waitWithin(t, paused, standbyLine, time.Minute)
	if conn, err := net.DialTimeout("tcp", pausedAddr, 5*time.Second); err == nil {
		conn.Close()
		t.Errorf("the central standing by again still listens on %s", pausedAddr)
	}
	if n := strings.Count(paused.Log(), "(fenced)"); n > 0 {
		t.Logf("the fenced central refused %d batches it held when it resumed", n)
	}
	// Had it committed any frame it held, after the standby took over, the
	// agencies (resuming from the standby's count) would have stored those
	// bets twice: check finds none. It stops the active central, with
	// SIGTERM: the old one takes over again, and leaves on SIGTERM too.
	r.check()
	waitWithin(t, paused, leadershipLine, time.Minute)
	waitWithin(t, paused, listenSuccess, time.Minute)
	paused.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := paused.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("the central that took over again exited %d:\n%s", code, paused.Log())
	}
}

func TestACentralSignalledWhileItLearnsItLostTheLeaseLeavesWithZero(t *testing.T) {
	t.Parallel()
	r := newPostgresRound(t, nil, 3000, 2)
	paused, _, _ := r.pauseActiveWhileTheStandbyTakesOver()
	// The SIGTERM waits for the process to resume: it then stops and
	// learns that it lost the lease at once, as a central whose database
	// froze learns it while the operator stops it.
	paused.Cmd.Process.Signal(syscall.SIGTERM)
	paused.Cmd.Process.Signal(syscall.SIGCONT)
	code, _ := paused.Wait(t, 10*time.Second)
	log := paused.Log()
	if !strings.Contains(log, "action: leadership | result: fail") {
		t.Logf("the central left before it learned it had lost the lease")
	}
	if code != 0 || !strings.Contains(log, "action: shutdown | result: success") {
		t.Errorf("a central stopped as it lost its lease exited %d, want 0 and its shutdown's success:\n%s", code, log)
	}
	r.check()
}

func TestARoundSurvivesItsDatabaseRestartedMidIngest(t *testing.T) {
	t.Parallel()
	own := pgcluster.Own(t)
	r := newPostgresRound(t, own, 3000, 3)
	port := proctest.FreePort(t)
	central := r.startCentral(port)
	central.WaitFor(t, listenSuccess)
	for i := 1; i <= 5; i++ {
		r.startClient(i, "127.0.0.1:"+port)
	}
	central.WaitForN(t, batchStored, 40)
	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	r.check()
	t.Logf("%d batches refused while the database restarted", len(central.Find(t, logattr.ApuestaRecibida, logattr.Fail)))
}

// waitWithin waits for a line of p as WaitFor does, for at most bound:
// past it, p is killed, which ends the wait with p's log.
func waitWithin(t *testing.T, p *proctest.Process, pattern string, bound time.Duration) string {
	t.Helper()
	timer := time.AfterFunc(bound, func() { p.Cmd.Process.Kill() })
	defer timer.Stop()
	return p.WaitFor(t, pattern)
}

func TestAPairOfCentralsStaysAPairThroughTheirDatabasesRestart(t *testing.T) {
	t.Parallel()
	own := pgcluster.Own(t)
	r := newPostgresRound(t, own, 3000, 3)
	// As an operator writes it: no sslmode (the centrals try no TLS on this
	// machine).
	r.url = strings.TrimSuffix(strings.ReplaceAll(r.url, "sslmode=disable&", ""), "?sslmode=disable")
	first, second, centrals := r.startActiveAndStandby()
	for i := 1; i <= 5; i++ {
		r.startClient(i, centrals)
	}
	first.WaitForN(t, batchStored, 40)
	// Every session ends (57P01), the liveness lock with them: the standby
	// may take the lease, and then the active central steps down.
	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	// Each says once that the database is gone, and once that it is back.
	for _, c := range []*proctest.Process{first, second} {
		waitWithin(t, c, `action: database \| result: success \| outage_ms: `, time.Minute)
	}
	// check stops the second with SIGTERM once the agencies are done, and
	// wants it to exit 0: whether it was active then or standing by.
	r.check()
	t.Logf("took the lease: first %d times, second %d times; %d batches refused while the database restarted",
		len(first.Find(t, logattr.Leadership, logattr.Success)), len(second.Find(t, logattr.Leadership, logattr.Success)),
		strings.Count(first.Log()+second.Log(), "action: apuesta_recibida | result: fail"))
	// The first is still there (active, or standing by and then taking
	// over from the second), and leaves on SIGTERM.
	first.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := first.Wait(t, 10*time.Second); code != 0 {
		t.Errorf("the first central exited %d:\n%s", code, first.Log())
	}
	for _, c := range []*proctest.Process{first, second} {
		log := c.Log()
		if n := strings.Count(log, "action: database | result: fail"); n != 1 || strings.Count(log, "action: database | result: success") != 1 {
			t.Errorf("a central logged %d warnings of the database lost for one restart, want one, and one of its return:\n%s", n, log)
		}
		if tls := regexp.MustCompile(`(?i)tls error|TLS connection`).FindString(log); tls != "" {
			t.Errorf("a central's log speaks of TLS, which nothing asked for:\n%s", log)
		}
	}
}
