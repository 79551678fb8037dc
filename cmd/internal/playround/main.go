// Command playround plays one whole lottery round on this machine with the
// real binaries, as `make run` does: the central on a fresh store, one
// agency per file agency-1.csv, agency-2.csv, … found in the data folder
// (whoever made them: datagen, or the course's official set unzipped
// there), each agency's winners checked where datagen's winners.json
// describes that very file (same SHA-256), or where it is that agency's
// file of the course's official set (its SHA-256 is known), and only
// reported elsewhere, then SIGTERM to the central. With -postgres the bets
// go to a throwaway PostgreSQL cluster, with a standby central beside the
// active one. With -ha they go to a throwaway pair of PostgreSQL nodes
// under Patroni in synchronous replication (package hacluster), the same
// two centrals on its multi-host URL, and the primary's machine is lost
// mid-round: the summary says how long the failover took, whether the
// database holds every bet of the files exactly once, the draws, which
// centrals lived to the end, and fails the round otherwise. The round is
// played over mutual TLS, with a set of certificates made for it by the
// certs tool (-tls=false: plain TCP). It never writes into the agency
// files. If the central exits before the round ends (a busy port, say), it
// stops at once and prints the central's error line (with -ha, where the
// standby may take over, it waits for the agencies). Logs stay in the
// round folder.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/datagen"
	"quiniela/store/postgres/pgcluster"
)

func main() {
	bin := flag.String("bin", "bin", "folder holding the server and client binaries")
	data := flag.String("data", ".data", "folder holding agency-1.csv, agency-2.csv, … (and winners.json, if datagen made them)")
	out := flag.String("out", "", "folder for the store and the logs, emptied first (default: DATA/round)")
	port := flag.Int("port", 12345, "port of the central, on 127.0.0.1")
	adminPort := flag.Int("admin-port", 0, "port of the central's admin endpoint, on 127.0.0.1 (0: the next after -port)")
	useTLS := flag.Bool("tls", true, "play over mutual TLS, with certificates made in the round folder")
	usePostgres := flag.Bool("postgres", false, "keep the bets in a throwaway PostgreSQL cluster (removed afterwards), with a standby central on -port+2")
	useHA := flag.Bool("ha", false, "keep the bets in a throwaway Patroni pair in synchronous replication (removed afterwards), with a standby central on -port+2, and lose the primary's machine mid-round")
	loseAt := flag.Float64("lose-at", 0.2, "with -ha: lose the primary's machine once the database holds this share of the files' bets")
	loss := flag.String("loss", "kill", "with -ha: how the primary's machine is lost: kill (every process SIGKILLed: its connections close) or freeze (every process stopped: its connections stay open and silent)")
	flag.Parse()
	if *usePostgres && *useHA {
		fmt.Println("-postgres and -ha are two ways to keep the bets: choose one")
		os.Exit(2)
	}
	if *loss != "kill" && *loss != "freeze" {
		fmt.Printf("-loss %s: want kill or freeze\n", *loss)
		os.Exit(2)
	}
	if *out == "" {
		*out = filepath.Join(*data, "round")
	}
	// Ctrl-C reaches the whole process group: the central and the agencies
	// stop gracefully on it, and this command reports what they did.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGINT)
	if *adminPort == 0 {
		*adminPort = *port + 1
	}
	if err := play(*bin, *data, *out, *port, *adminPort, *useTLS, *usePostgres, *useHA, haLoss{at: *loseAt, freeze: *loss == "freeze"}); err != nil {
		fmt.Println(err)
		fmt.Println("round: fail")
		os.Exit(1)
	}
	fmt.Println("round: success")
}

// agencyFile is one agency of the round and what is expected of it.
type agencyFile struct {
	id       int
	path     string
	expect   datagen.AgencyFacts
	expected bool
	official bool // the expectation is that of the course's official file
}

// findAgencies lists agency-1.csv, agency-2.csv, … up to the first missing,
// each expected to win as the data folder's winners.json says when it
// describes that very file, or else as official says (datagen.Official,
// the course's set) when it is that file.
func findAgencies(data string, official datagen.Summary) ([]agencyFile, error) {
	summary, err := datagen.ReadSummary(filepath.Join(data, datagen.SummaryFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var files []agencyFile
	for id := 1; ; id++ {
		path := filepath.Join(data, fmt.Sprintf("agency-%d.csv", id))
		if _, err := os.Stat(path); err != nil {
			break
		}
		f := agencyFile{id: id, path: path}
		if f.expect, f.expected = summary.Expect(id, path); !f.expected {
			f.expect, f.expected = official.Expect(id, path)
			f.official = f.expected
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no agency files in %s: unzip the course's dataset.zip there, or run make data to generate some", data)
	}
	return files, nil
}

// describeData is the line that says which files of the round have an
// expectation, and from where.
func describeData(data string, files []agencyFile) string {
	described, official := 0, 0
	for _, f := range files {
		switch {
		case f.official:
			official++
		case f.expected:
			described++
		}
	}
	line := fmt.Sprintf("data: %d agency files in %s, %d of them described by %s", len(files), data, described, datagen.SummaryFile)
	if official > 0 {
		line += fmt.Sprintf(", %d of them the course's official files", official)
	}
	return line + " (their winners are checked)"
}

// process is a started binary whose output goes to its log file.
type process struct {
	*proctest.Process
	log string
}

func start(bin, log string, env ...string) (*process, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	p, err := proctest.Launch(bin, proctest.Options{Env: env, Log: f, Stderr: f})
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() { <-p.Done(); f.Close() }()
	return &process{Process: p, log: log}, nil
}

func play(bin, data, out string, port, adminPort int, useTLS, usePostgres, useHA bool, loss haLoss) error {
	files, err := findAgencies(data, datagen.Official)
	if err != nil {
		return err
	}
	fmt.Println(describeData(data, files))
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	address := "127.0.0.1:" + strconv.Itoa(port)
	store := filepath.Join(out, "bets.csv")
	admin := "127.0.0.1:" + strconv.Itoa(adminPort)
	serverEnv := []string{"SERVER_IP=127.0.0.1", "STORAGE_FILEPATH=" + store, "AGENCIES=" + strconv.Itoa(len(files))}
	centrals := address
	var db *database
	if usePostgres {
		if db, err = startDatabase(); err != nil {
			return err
		}
		defer db.remove()
		serverEnv = append(serverEnv, "STORAGE_URL="+db.url)
		centrals += ",127.0.0.1:" + strconv.Itoa(port+2)
	}
	var ha *haDatabase
	if useHA {
		if ha, err = startHA(out); err != nil {
			return err
		}
		defer ha.remove()
		serverEnv = append(serverEnv, "STORAGE_URL="+ha.url)
		centrals += ",127.0.0.1:" + strconv.Itoa(port+2)
	}
	fmt.Printf("admin: http://%s/ (the round's page; /status, /metrics) while the round lasts\n", admin)
	agencyTLS := func(int) []string { return nil }
	if useTLS {
		certs := filepath.Join(out, "certs")
		if msg, err := exec.Command(filepath.Join(bin, "certs"), "-out", certs, "-agencies", strconv.Itoa(len(files))).CombinedOutput(); err != nil {
			return fmt.Errorf("making certificates: %v: %s", err, msg)
		}
		cert := func(name string) string { return filepath.Join(certs, name) }
		serverEnv = append(serverEnv, "SERVER_TLS_CERT="+cert("server.crt"), "SERVER_TLS_KEY="+cert("server.key"), "SERVER_TLS_CLIENT_CA="+cert("ca.crt"))
		agencyTLS = func(id int) []string {
			return []string{fmt.Sprintf("CLI_TLS_CERT=%s", cert(fmt.Sprintf("agency-%d.crt", id))),
				fmt.Sprintf("CLI_TLS_KEY=%s", cert(fmt.Sprintf("agency-%d.key", id))), "CLI_TLS_CA=" + cert("ca.crt")}
		}
		fmt.Printf("tls: mutual, certificates in %s\n", certs)
	}
	server, err := start(filepath.Join(bin, "server"), filepath.Join(out, "server.log"),
		append(serverEnv, "SERVER_PORT="+strconv.Itoa(port), "SERVER_ADMIN_ADDRESS="+admin)...)
	if err != nil {
		return err
	}
	defer server.Cmd.Process.Kill()
	var standby *process
	if db != nil || ha != nil {
		// The standby stands by on the next port but one, taking over if
		// the central stops; the agencies know both. It starts once the
		// central is active, or it could be the one to take the lease.
		if err := awaitListen(server); err != nil {
			return err
		}
		standby, err = start(filepath.Join(bin, "server"), filepath.Join(out, "standby.log"), append(serverEnv, "SERVER_PORT="+strconv.Itoa(port+2))...)
		if err != nil {
			return err
		}
		defer func() {
			standby.Cmd.Process.Signal(syscall.SIGTERM)
			<-standby.Done()
		}()
		fmt.Printf("standby: a second central on 127.0.0.1:%d (log in %s)\n", port+2, standby.log)
	}
	if ha != nil {
		// Once the central made its tables: the loss waits in the database.
		if err := ha.arm(files, loss.at); err != nil {
			return err
		}
	}
	agencies := make([]*process, len(files))
	began := time.Now()
	for i, f := range files {
		agencies[i], err = start(filepath.Join(bin, "client"), filepath.Join(out, fmt.Sprintf("client-%d.log", f.id)),
			append([]string{"CLI_ID=" + strconv.Itoa(f.id), "CLI_SERVER_ADDRESS=" + centrals, "CLI_DATA_FILE=" + f.path}, agencyTLS(f.id)...)...)
		if err != nil {
			return err
		}
		defer agencies[i].Cmd.Process.Kill()
	}
	if ha != nil {
		return playHA(ha, files, agencies, server, standby, began, loss)
	}

	ok := true
	for i, a := range agencies {
		select {
		case <-a.Done():
		case <-server.Done():
			return fmt.Errorf("the central exited with code %d before the round ended: %s", server.ExitCode(), lastFailure(server.log))
		}
		if !report(files[i], a) {
			ok = false
		}
	}

	server.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-server.Done():
	case <-time.After(10 * time.Second):
		return fmt.Errorf("the central did not exit within 10 s of SIGTERM (log in %s)", server.log)
	}
	if code := server.ExitCode(); code != 0 {
		fmt.Printf("the central exited with code %d: %s\n", code, lastFailure(server.log))
		ok = false
	}
	// With a standby, the draw is the one of whichever central was active.
	draws := len(find(server.log, "sorteo", "success")) + len(find(filepath.Join(out, "standby.log"), "sorteo", "success"))
	var stored int
	if db != nil {
		stored, err = db.count()
	} else {
		stored, err = countLines(store)
	}
	if err != nil {
		return err
	}
	fmt.Printf("draws: %d, bets stored: %d (logs in %s)\n", draws, stored, out)
	if draws != 1 || !ok {
		return errors.New("the round did not end as it should")
	}
	return nil
}

// report prints how agency f's run ended and whether it is as expected.
func report(f agencyFile, a *process) bool {
	if code := a.ExitCode(); code != 0 {
		fmt.Printf("agency %d failed (exit %d): %s\n", f.id, code, lastFailure(a.log))
		return false
	}
	winners := find(a.log, "consulta_ganadores", "success")
	summary := find(a.log, "resumen", "success")
	if len(winners) == 0 || len(summary) == 0 {
		fmt.Printf("agency %d exited 0 without its winners or summary (log in %s)\n", f.id, a.log)
		return false
	}
	got := winners[len(winners)-1].Values["cant_ganadores"]
	sent := summary[len(summary)-1].Values["enviadas"]
	switch {
	case !f.expected:
		fmt.Printf("agency %d: %s bets sent, %s winners (no expectation for this file: not checked)\n", f.id, sent, got)
	case got == strconv.Itoa(f.expect.Winners):
		fmt.Printf("agency %d: %s bets sent, %s winners, as expected%s\n", f.id, sent, got, f.from())
	default:
		fmt.Printf("agency %d: %s winners, want %d%s\n", f.id, got, f.expect.Winners, f.from())
		return false
	}
	return true
}

// from says where an expectation comes from when it is not winners.json.
func (f agencyFile) from() string {
	if f.official {
		return fmt.Sprintf(" (the course's official agency-%d.csv)", f.expect.Agency)
	}
	return ""
}

// find returns the lines of a log with the given action and result.
func find(log, action, result string) []logline.Line {
	f, err := os.Open(log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var found []logline.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l, err := logline.Parse(sc.Text()); err == nil && l.Action == action && l.Result == result {
			found = append(found, l)
		}
	}
	return found
}

// lastFailure is the last line of a log that says result: fail, or the
// last line when none does.
func lastFailure(log string) string {
	f, err := os.Open(log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var last, failed string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		last = sc.Text()
		if l, err := logline.Parse(last); err == nil && l.Result == "fail" {
			failed = last
		}
	}
	if failed != "" {
		return failed
	}
	if last == "" {
		return "(it printed nothing; log in " + log + ")"
	}
	return last
}

func countLines(path string) (int, error) {
	rows, err := os.ReadFile(path)
	return bytes.Count(rows, []byte{'\n'}), err
}

// database is the round's throwaway PostgreSQL cluster.
type database struct {
	cluster *pgcluster.Cluster
	url     string
}

func startDatabase() (*database, error) {
	c, err := pgcluster.Start()
	if err != nil {
		return nil, err
	}
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		c.Remove()
		return nil, err
	}
	fmt.Printf("postgres: a throwaway cluster in %s, database %s (removed after the round)\n", c.Dir, url)
	return &database{cluster: c, url: url}, nil
}

func (d *database) count() (int, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM bets").Scan(&n)
	return n, err
}

func (d *database) remove() {
	if err := d.cluster.Remove(); err != nil {
		fmt.Println(err)
	}
}

// awaitListen waits until the central's log says it listens.
func awaitListen(server *process) error {
	_, err := server.Await(`action: listen \| result: success`, 30*time.Second)
	if errors.Is(err, proctest.ErrTimeout) {
		return fmt.Errorf("the central did not listen within 30 s (log in %s)", server.log)
	}
	if err != nil {
		<-server.Done()
		return fmt.Errorf("the central exited with code %d before it listened: %s", server.ExitCode(), lastFailure(server.log))
	}
	return nil
}
