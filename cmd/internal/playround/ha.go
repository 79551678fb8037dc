package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/store/postgres/hacluster"
	"quiniela/store/postgres/pgcluster"
)

// haDatabase is the round's throwaway Patroni pair: two PostgreSQL nodes
// in synchronous replication, one of whose machines is lost mid-round.
type haDatabase struct {
	cluster *hacluster.Cluster
	url     string
	out     string                // the round folder, where the nodes' logs are kept
	hold    *pgcluster.WriterHold // holds the central's writer mid-round (arm)
}

func startHA(out string) (*haDatabase, error) {
	c, err := hacluster.Start(2)
	if err != nil {
		return nil, err
	}
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		c.Remove()
		return nil, err
	}
	fmt.Printf("postgres: a throwaway Patroni pair in %s (node1 primary, node2 its synchronous standby, etcd beside), database %s (removed after the round)\n", c.Dir, url)
	return &haDatabase{cluster: c, url: url, out: out}, nil
}

// remove keeps the nodes' and etcd's logs in the round folder, then
// removes the cluster.
func (d *haDatabase) remove() {
	logs := map[string]string{d.cluster.EtcdLogFile(): "etcd.log"}
	for _, n := range d.cluster.Nodes {
		logs[n.LogFile()] = n.Name + ".log"
	}
	for from, to := range logs {
		if b, err := os.ReadFile(from); err == nil {
			os.WriteFile(filepath.Join(d.out, to), b, 0o644)
		}
	}
	if err := d.cluster.Remove(); err != nil {
		fmt.Println(err)
	}
}

// haLoss is when and how the primary's machine is lost.
type haLoss struct {
	at     float64 // the share of the files' bets stored by then
	freeze bool    // stopped rather than killed
}

// loss is what became of the primary's machine.
type loss struct {
	node    string        // the node whose machine was lost
	at      time.Duration // into the round
	stored  int           // bets in the database when it was lost
	took    time.Duration // until the new primary took a write
	primary string        // the new primary
	err     error
}

// arm arms the loss at the share at of the files' valid bets: the
// statement that brings the database to that share or more waits in its
// transaction, uncommitted, until d.hold is released (pgcluster.HoldWriter).
func (d *haDatabase) arm(files []agencyFile, at float64) error {
	total := 0
	today := lottery.DayOf(time.Now())
	for _, f := range files {
		bets, err := readBets(f, uint16(len(files)), today)
		if err != nil {
			return err
		}
		total += len(bets)
	}
	hold, err := pgcluster.HoldWriter(context.Background(), d.url, int(float64(total)*at))
	if err != nil {
		return fmt.Errorf("arming the loss: %w", err)
	}
	d.hold = hold
	return nil
}

// loseMidRound kills (or freezes) the primary's machine once the
// central's writer is held by arm's hold, then waits for the failover. It
// gives up if the round ends first (ended closes).
func (d *haDatabase) loseMidRound(freeze bool, began time.Time, ended <-chan struct{}) loss {
	ctx := context.Background()
	defer d.hold.Release(ctx)
	if err := d.hold.Held(ctx, ended); err != nil {
		return loss{err: err}
	}
	stored, err := d.hold.Stored(ctx)
	if err != nil {
		return loss{err: err}
	}
	primary, err := d.cluster.Primary()
	if err != nil {
		return loss{err: err}
	}
	l := loss{node: primary.Name, at: time.Since(began), stored: stored}
	how := "killed"
	if freeze {
		how = "frozen"
		l.err = d.cluster.FreezeMachine(primary)
	} else {
		l.err = d.cluster.KillMachine(primary)
	}
	if l.err != nil {
		return l
	}
	fmt.Printf("lost: %s's machine (Patroni and every PostgreSQL process %s) %.2f s into the round, with %d bets stored\n", l.node, how, l.at.Seconds(), l.stored)
	next, took, err := d.cluster.WaitForNewPrimary(time.Minute)
	l.took, l.err = took, err
	if next != nil {
		l.primary = next.Name
	}
	return l
}

// tally is what the database holds against what the files hold.
type tally struct {
	inFiles, rows    int
	missing, doubled int // bets of the files missing, and stored more than once
	strangers        int // rows no file holds
	drawRows         int
}

// check compares the rows of bets with the valid bets of the files, bet
// by bet: a bet missing, or stored more often than its file holds it, is
// counted.
func (d *haDatabase) check(files []agencyFile) (tally, error) {
	var t tally
	want := map[lottery.Bet]int{}
	today := lottery.DayOf(time.Now())
	for _, f := range files {
		bets, err := readBets(f, uint16(len(files)), today)
		if err != nil {
			return t, err
		}
		for _, b := range bets {
			want[b]++
		}
		t.inFiles += len(bets)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.url)
	if err != nil {
		return t, fmt.Errorf("reading the bets back: %w", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, "SELECT agency, first_name, last_name, document, birthdate::text, number FROM bets")
	if err != nil {
		return t, fmt.Errorf("reading the bets back: %w", err)
	}
	have := map[lottery.Bet]int{}
	var agency, number int32
	var document int64
	var b lottery.Bet
	_, err = pgx.ForEachRow(rows, []any{&agency, &b.FirstName, &b.LastName, &document, &b.Birthdate, &number}, func() error {
		b.Agency, b.Document, b.Number = uint16(agency), uint32(document), uint16(number)
		have[b]++
		t.rows++
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("reading the bets back: %w", err)
	}
	for bet, n := range want {
		t.missing += max(0, n-have[bet])
		t.doubled += max(0, have[bet]-n)
	}
	for bet, n := range have {
		if want[bet] == 0 {
			t.strangers += n
		}
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM draw").Scan(&t.drawRows); err != nil {
		return t, fmt.Errorf("reading the draw back: %w", err)
	}
	return t, nil
}

// readBets reads the valid bets of an agency file, as the agency reads
// them (a UTF-8 BOM dropped, CSV fields, blank lines skipped).
func readBets(f agencyFile, agencies uint16, today lottery.Day) ([]lottery.Bet, error) {
	raw, err := os.ReadFile(f.path)
	if err != nil {
		return nil, err
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xEF\xBB\xBF"))))
	r.FieldsPerRecord = -1
	var bets []lottery.Bet
	for {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			return bets, nil
		}
		if err != nil {
			continue // a line the agency refuses too
		}
		b, err := lottery.ParseAgencyRecord(uint16(f.id), fields)
		if err == nil && b.Validate(agencies, today) == nil {
			bets = append(bets, b)
		}
	}
}

// playHA plays the rest of a round whose bets are in ha once the agencies
// have started: it loses the primary's machine mid-round, waits for the
// agencies, stops the centrals, and says what the database holds. It
// fails the round when a bet is missing or stored twice, the draw was not
// made once, the failover failed, or an agency did not end as expected.
func playHA(ha *haDatabase, files []agencyFile, agencies []*process, server, standby *process, began time.Time, how haLoss) error {
	ended := make(chan struct{})
	lost := make(chan loss, 1)
	go func() { lost <- ha.loseMidRound(how.freeze, began, ended) }()

	// Each agency gives up by itself after CLI_CONNECT_TIMEOUT without
	// progress; this bound only keeps a hung one from hanging the round.
	const agencyBound = 5 * time.Minute
	deadline := time.After(agencyBound)
	for i, a := range agencies {
		select {
		case <-a.Done():
		case <-deadline:
			close(ended)
			return fmt.Errorf("agency %d had not exited %s into the round (log in %s)", files[i].id, agencyBound, a.log)
		}
	}
	close(ended)
	var l loss
	select {
	case l = <-lost:
	case <-time.After(2 * time.Minute):
		return errors.New("the failover was not over 2 minutes after the round")
	}

	var wrong []string
	agenciesOK := true
	for i, a := range agencies {
		if !report(files[i], a) {
			agenciesOK = false
		}
	}
	if !agenciesOK {
		wrong = append(wrong, "an agency did not end as expected")
	}
	if l.err != nil {
		fmt.Printf("failover: failed: %v\n", l.err)
		wrong = append(wrong, "the failover failed")
	} else {
		fmt.Printf("failover: %s took writes %.2f s after %s's machine was lost\n", l.primary, l.took.Seconds(), l.node)
	}

	alive, centralsOK := 0, true
	for _, c := range []struct {
		name string
		p    *process
	}{{"central", server}, {"standby", standby}} {
		select {
		case <-c.p.Done():
			fmt.Printf("%s: exited with code %d during the round: %s\n", c.name, c.p.ExitCode(), lastFailure(c.p.log))
			continue
		default:
		}
		alive++
		c.p.Cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.p.Done():
		case <-time.After(10 * time.Second):
			fmt.Printf("%s: alive at the end of the round, and did not exit within 10 s of SIGTERM (log in %s)\n", c.name, c.p.log)
			centralsOK = false
			continue
		}
		if code := c.p.ExitCode(); code != 0 {
			fmt.Printf("%s: alive at the end of the round, exited with code %d on SIGTERM: %s\n", c.name, code, lastFailure(c.p.log))
			centralsOK = false
		} else {
			fmt.Printf("%s: alive at the end of the round, exited 0 on SIGTERM\n", c.name)
		}
	}
	fmt.Printf("centrals alive at the end: %d of 2\n", alive)
	if alive < 2 {
		wrong = append(wrong, "a central exited during the round: the pair is no longer a pair")
	}
	if !centralsOK {
		wrong = append(wrong, "a central did not stop as it should on SIGTERM")
	}

	t, err := ha.check(files)
	if err != nil {
		return err
	}
	fmt.Printf("bets: %d in the files, %d rows in bets: %d missing, %d stored more than once (extra rows), %d from no file\n",
		t.inFiles, t.rows, t.missing, t.doubled, t.strangers)
	central, stood := len(find(server.log, logattr.Sorteo, logattr.Success)), len(find(standby.log, logattr.Sorteo, logattr.Success))
	fmt.Printf("draws: rows in draw %d, sorteo lines %d (central %d, standby %d) (logs in %s)\n", t.drawRows, central+stood, central, stood, ha.out)
	if t.missing > 0 || t.doubled > 0 || t.strangers > 0 {
		wrong = append(wrong, "the database does not hold every bet exactly once")
	}
	if t.drawRows != 1 || central+stood != 1 {
		wrong = append(wrong, "the draw was not made exactly once")
	}
	if len(wrong) > 0 {
		return fmt.Errorf("the round did not end as it should: %s", strings.Join(wrong, "; "))
	}
	return nil
}
