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
// standby may take over, it waits for the agencies). With -rounds N the
// central runs continuous rounds (SERVER_ROUNDS=continuous) and the same
// files are played N times against it, one run of every agency per round,
// the central never restarted: each round must draw once, with each
// agency's winners as expected, and keep exactly its own bets. Logs stay
// in the round folder.
package main

import (
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

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/datagen"
	"quiniela/lottery/logattr"
	"quiniela/store/csvfile"
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
	rounds := flag.Int("rounds", 1, "play the files this many times, one round after another, against one central with continuous rounds (not with -ha)")
	loss := flag.String("loss", "kill", "with -ha: how the primary's machine is lost: kill (every process SIGKILLed: its connections close) or freeze (every process stopped: its connections stay open and silent)")
	flag.Parse()
	if *usePostgres && *useHA {
		fmt.Println("-postgres and -ha are two ways to keep the bets: choose one")
		os.Exit(2)
	}
	if *rounds < 1 || *rounds > 1 && *useHA {
		fmt.Printf("-rounds %d: want 1 or more, and 1 with -ha\n", *rounds)
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
	if err := play(*bin, *data, *out, *port, *adminPort, *rounds, *useTLS, *usePostgres, *useHA, haLoss{at: *loseAt, freeze: *loss == "freeze"}); err != nil {
		fmt.Println(err)
		fmt.Println("round: fail")
		os.Exit(1)
	}
	fmt.Println("round: success")
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

func play(bin, data, out string, port, adminPort, rounds int, useTLS, usePostgres, useHA bool, loss haLoss) error {
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
	if rounds > 1 {
		serverEnv = append(serverEnv, "SERVER_ROUNDS=continuous")
	}
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
	if ha != nil {
		began := time.Now()
		agencies, err := startAgencies(bin, out, centrals, files, agencyTLS, 1)
		if err != nil {
			return err
		}
		for _, a := range agencies {
			defer a.Cmd.Process.Kill()
		}
		return playHA(ha, files, agencies, server, standby, began, loss)
	}

	ok := true
	for run := 1; run <= rounds; run++ {
		if rounds > 1 {
			fmt.Printf("round %d:\n", run)
		}
		agencies, err := startAgencies(bin, out, centrals, files, agencyTLS, run)
		if err != nil {
			return err
		}
		for _, a := range agencies {
			defer a.Cmd.Process.Kill()
		}
		for i, a := range agencies {
			select {
			case <-a.Done():
			case <-server.Done():
				return fmt.Errorf("the central exited with code %d before the round ended: %s", server.ExitCode(), lastFailure(server.log))
			}
			if !report(files[i], a) {
				ok = false
			}
			if run > 1 && len(find(a.log, logattr.RondaAnterior, logattr.Success))+len(find(a.log, logattr.RondaAnterior, logattr.Fail)) > 0 {
				fmt.Printf("agency %d found an earlier round's bets or end in round %d (log in %s)\n", files[i].id, run, a.log)
				ok = false
			}
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
	// With a standby, the draws are those of whichever central was active.
	draws := append(find(server.log, logattr.Sorteo, logattr.Success), find(filepath.Join(out, "standby.log"), logattr.Sorteo, logattr.Success)...)
	first := 0 // bets stored in round 1: every round plays the same files
	for run := 1; run <= rounds; run++ {
		var stored int
		if db != nil {
			stored, err = db.count(run)
		} else {
			stored, err = countLines(csvfile.RoundPath(store, run))
		}
		if err != nil {
			return err
		}
		drawn := 0
		for _, d := range draws {
			if d.Values[logattr.RondaKey] == strconv.Itoa(run) {
				drawn++
			}
		}
		if rounds == 1 {
			fmt.Printf("draws: %d, bets stored: %d (logs in %s)\n", drawn, stored, out)
		} else {
			fmt.Printf("round %d: draws: %d, bets stored: %d\n", run, drawn, stored)
		}
		if drawn != 1 || run > 1 && stored != first {
			ok = false
		}
		if run == 1 {
			first = stored
		}
	}
	if rounds > 1 {
		fmt.Printf("rounds: %d, each drawn once with its own bets (logs in %s)\n", rounds, out)
	}
	if !ok {
		return errors.New("the round did not end as it should")
	}
	return nil
}

// startAgencies starts one agency per file for run (1, 2, … with -rounds),
// each logging to a file of its own in out.
func startAgencies(bin, out, centrals string, files []agencyFile, agencyTLS func(int) []string, run int) ([]*process, error) {
	agencies := make([]*process, len(files))
	for i, f := range files {
		log := fmt.Sprintf("client-%d.log", f.id)
		if run > 1 {
			log = fmt.Sprintf("client-%d.round-%d.log", f.id, run)
		}
		var err error
		agencies[i], err = start(filepath.Join(bin, "client"), filepath.Join(out, log),
			append([]string{"CLI_ID=" + strconv.Itoa(f.id), "CLI_SERVER_ADDRESS=" + centrals, "CLI_DATA_FILE=" + f.path}, agencyTLS(f.id)...)...)
		if err != nil {
			for _, a := range agencies[:i] {
				a.Cmd.Process.Kill()
			}
			return nil, err
		}
	}
	return agencies, nil
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
