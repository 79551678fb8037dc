package docker

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/datagen"
	"quiniela/store/csvfile"
)

// images prefixes this run's images (quiniela-test-PID-server and
// -client); each deployment gets a Compose project and container names of
// its own, so that runs and subtests can share one engine.
var images = fmt.Sprintf("quiniela-test-%d", os.Getpid())

var deployments atomic.Int32

// root is the repository root, where the scripts and the Dockerfile are.
var root, _ = filepath.Abs("..")

// sh runs a command with a bound and returns its combined output; it fails
// the test when the command fails.
func sh(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	out, err := try(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func try(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// compose returns the Compose command: the docker plugin when present, else
// docker-compose.
func compose() []string {
	if _, err := try(nil, "docker", "compose", "version"); err == nil {
		return []string{"docker", "compose"}
	}
	return []string{"docker-compose"}
}

// deployment is one generated Compose deployment in a temporary folder,
// with its own Compose project and container names (prefix + server,
// prefix + client1, …).
type deployment struct {
	dir, file       string
	project, prefix string
	env             []string
}

func (d *deployment) compose(t *testing.T, args ...string) string {
	t.Helper()
	c := compose()
	return sh(t, nil, c[0], append(append(c[1:], "-f", d.file, "-p", d.project), args...)...)
}

// checkAdmin reads the running central's /status through the port
// published on the host's loopback, and expects agencies 1..n all ended and
// the draw done.
func (d *deployment) checkAdmin(t *testing.T, n int) {
	t.Helper()
	published := strings.TrimSpace(sh(t, nil, "docker", "port", d.container("server"), "9100/tcp"))
	if !strings.HasPrefix(published, "127.0.0.1:") {
		t.Fatalf("the admin endpoint is published on %q, want the host's loopback only", published)
	}
	var status struct {
		Agencies []struct {
			Ended bool `json:"ended"`
		} `json:"agencies"`
		DrawDone bool `json:"draw_done"`
	}
	resp, err := http.Get("http://" + strings.Fields(published)[0] + "/status")
	if err != nil {
		t.Fatalf("/status: %v", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
		t.Fatalf("/status: %v", err)
	}
	ended := 0
	for _, a := range status.Agencies {
		if a.Ended {
			ended++
		}
	}
	if ended != n || len(status.Agencies) != n || !status.DrawDone {
		t.Errorf("/status: %d of %d agencies ended, draw done %v; want all %d and the draw", ended, len(status.Agencies), status.DrawDone, n)
	}
}

// remove removes the deployment's containers and network with the docker
// CLI, which costs a fraction of a Compose run.
func (d *deployment) remove() {
	ids, _ := try(nil, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+d.project)
	if ids := strings.Fields(ids); len(ids) > 0 {
		try(nil, "docker", append([]string{"rm", "-f"}, ids...)...)
	}
	try(nil, "docker", "network", "rm", d.project+"_lottery")
}

// stop stops every container of the deployment as compose stop would
// (SIGTERM, 10 s of grace), with the docker CLI, which costs a fraction of
// a Compose run; the suite's own compose stop test uses Compose.
func (d *deployment) stop(t *testing.T) {
	t.Helper()
	ids := strings.Fields(sh(t, nil, "docker", "ps", "-q", "--filter", "label=com.docker.compose.project="+d.project))
	if len(ids) > 0 {
		sh(t, nil, "docker", append([]string{"stop", "-t", "10"}, ids...)...)
	}
}

// container is the name of the deployment's container of a service.
func (d *deployment) container(service string) string { return d.prefix + service }

func (d *deployment) logs(t *testing.T, service string) string {
	t.Helper()
	return sh(t, nil, "docker", "logs", d.container(service))
}

func (d *deployment) exitCode(t *testing.T, service string) int {
	t.Helper()
	code, err := strconv.Atoi(strings.TrimSpace(sh(t, nil, "docker", "inspect", "-f", "{{.State.ExitCode}}", d.container(service))))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// newDeployment copies the settings, generates data for n agencies with w
// winners each, and writes the Compose file for them.
func newDeployment(t *testing.T, n, bets, winners int) *deployment {
	t.Helper()
	dir := t.TempDir()
	project := fmt.Sprintf("%s-%d", images, deployments.Add(1))
	d := &deployment{dir: dir, file: filepath.Join(dir, "compose.yaml"), project: project, prefix: project + "-"}
	for _, sub := range []string{"config", "data", "storage"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"server.env", "client.env", "healthcheck.env"} {
		b, err := os.ReadFile(filepath.Join(root, "docker", f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "config", f), b, 0o644)
	}
	if n > 0 {
		sh(t, nil, filepath.Join(root, "bin", "datagen"), "-out", filepath.Join(dir, "data"), "-agencies", strconv.Itoa(n),
			"-bets", strconv.Itoa(bets), "-winners", strconv.Itoa(winners), "-seed", strconv.Itoa(n))
	}
	d.env = []string{"CONFIG_DIR=" + filepath.Join(dir, "config"), "DATA_DIR=" + filepath.Join(dir, "data"),
		"STORAGE_DIR=" + filepath.Join(dir, "storage"), "IMAGE_PREFIX=" + images, "CONTAINER_PREFIX=" + d.prefix,
		"ADMIN_PORT=auto"} // Docker picks the host port: deployments run side by side
	sh(t, d.env, "./generar-compose.sh", d.file, strconv.Itoa(n))
	t.Cleanup(d.remove)
	return d
}

// imageUser is the Dockerfile's USER.
const imageUser = 65532

// courseFile writes an agency file as the course's checks do: LF, documents
// zero-padded from 00000000, the winning number on the lines given.
func courseFile(t *testing.T, path string, bets int, winning ...int) {
	t.Helper()
	var b strings.Builder
	for i := range bets {
		number := 100 + i
		if slices.Contains(winning, i) {
			number = lottery.WinningNumber
		}
		fmt.Fprintf(&b, "Name,Surname,%08d,2000-01-01,%d\n", i, number)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitLog follows a container's log until a line contains want.
func (d *deployment) waitLog(t *testing.T, service, want string) {
	t.Helper()
	container := d.container(service)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", container)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			return
		}
	}
	t.Fatalf("%s never logged %q", container, want)
}

// waitExit waits for the containers to exit and returns their exit codes.
func (d *deployment) waitExit(t *testing.T, services ...string) []string {
	t.Helper()
	containers := make([]string, len(services))
	for i, svc := range services {
		containers[i] = d.container(svc)
	}
	return strings.Fields(sh(t, nil, "docker", append([]string{"wait"}, containers...)...))
}

func TestDockerDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: needs Docker")
	}
	if out, err := try(nil, "docker", "info"); err != nil {
		t.Skipf("SKIP: no Docker engine reachable, the Docker suite did not run: %v\n%s", err, out)
	}
	// The binaries and images as make builds them, so that the make
	// docker-compose-up test rebuilds the very same (labelled
	// quiniela.version); each image also
	// tagged quiniela-test-cache-TARGET: the one image a run leaves behind,
	// as the next run's build cache (a build from nothing takes seconds
	// here). Images of ours that lost every tag are pruned at the end.
	sh(t, nil, "make", "--no-print-directory", "docker-image", "IMAGE_PREFIX="+images)
	for _, target := range []string{"server", "client"} {
		sh(t, nil, "docker", "tag", images+"-"+target+":latest", "quiniela-test-cache-"+target+":latest")
	}
	t.Cleanup(func() { try(nil, "docker", "image", "prune", "-f", "--filter", "label=quiniela.version") })
	for _, target := range []string{"server", "client"} {
		if user := strings.TrimSpace(sh(t, nil, "docker", "inspect", "-f", "{{.Config.User}}", images+"-"+target+":latest")); user != fmt.Sprintf("%d:%d", imageUser, imageUser) {
			t.Fatalf("the %s image runs as %q, want the unprivileged %d", target, user, imageUser)
		}
	}
	t.Cleanup(func() { try(nil, "docker", "rmi", images+"-server:latest", images+"-client:latest") })

	// Every deployment has names of its own, so several run at once: they
	// spend their time waiting on the engine, and t.Parallel would hold them
	// to GOMAXPROCS.
	var wg sync.WaitGroup
	defer wg.Wait()
	// Three at a time, the longest first (the two through make, which also
	// builds): more only contend for the engine.
	slots := make(chan struct{}, 3)
	run := func(name string, f func(t *testing.T)) {
		wg.Go(func() { slots <- struct{}{}; defer func() { <-slots }(); t.Run(name, f) })
	}

	run("make docker-compose-up plays the user's own agency files, leaves them untouched and stores them row by row", func(t *testing.T) {
		d := newDeployment(t, 0, 0, 0)
		data := filepath.Join(d.dir, "data")
		courseFile(t, filepath.Join(data, "agency-1.csv"), 40, 0, 17)
		courseFile(t, filepath.Join(data, "agency-2.csv"), 25)
		// As a spreadsheet on Windows saves it: a BOM, CRLF, accents, spaces.
		os.WriteFile(filepath.Join(data, "agency-3.csv"), []byte("\uFEFFMaría José,Fornerón,00000007,1999-03-17,7574\r\n"+
			" Ramón , Álvarez ,30904465,1985-12-01,12\r\n"), 0o644)
		sums := map[string]string{}
		for i := 1; i <= 3; i++ {
			path := filepath.Join(data, fmt.Sprintf("agency-%d.csv", i))
			sums[path], _ = datagen.FileSHA256(path)
		}
		vars := []string{"DATA=" + data, "STORAGE=" + filepath.Join(d.dir, "storage"), "COMPOSE_FILE=" + filepath.Join(d.dir, "user.yaml"),
			"PROJECT=" + d.project, "IMAGE_PREFIX=" + images, "AGENCIES=3"}
		env := []string{"CONFIG_DIR=" + filepath.Join(d.dir, "config"), "CONTAINER_PREFIX=" + d.prefix, "ADMIN_PORT=auto"}
		up := sh(t, env, "make", append([]string{"--no-print-directory", "docker-compose-up"}, vars...)...)
		if !strings.Contains(up, "using the agency files in "+data) {
			t.Errorf("make did not say it used the user's files:\n%s", up)
		}
		t.Cleanup(func() { try(nil, "make", append([]string{"docker-compose-down"}, vars...)...) })
		clients := []string{"client1", "client2", "client3"}
		for i, code := range d.waitExit(t, clients...) {
			if code != "0" {
				t.Errorf("%s exited %s:\n%s", clients[i], code, d.logs(t, clients[i]))
			}
		}
		for i, want := range []int{2, 0, 1} {
			if log := d.logs(t, clients[i]); !strings.Contains(log, fmt.Sprintf("action: consulta_ganadores | result: success | cant_ganadores: %d", want)) {
				t.Errorf("%s did not get its %d winners:\n%s", clients[i], want, log)
			}
		}
		sh(t, nil, "make", append([]string{"docker-compose-down"}, vars...)...)
		for path, sum := range sums {
			if now, _ := datagen.FileSHA256(path); now != sum {
				t.Errorf("%s changed", path)
			}
		}
		if _, err := os.Stat(filepath.Join(data, datagen.SummaryFile)); err == nil {
			t.Error("a winners.json was written beside the user's files")
		}
		// The store holds each file's bets, in its order, and nothing else.
		f, err := os.Open(filepath.Join(d.dir, "storage", "bets.csv"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		stored := map[uint16][]string{}
		csvfile.Read(f, func(b lottery.Bet) error {
			stored[b.Agency] = append(stored[b.Agency], strings.Join(b.AppendAgencyRecord(nil), ","))
			return nil
		})
		want := map[uint16][]string{3: {"María José,Fornerón,7,1999-03-17,7574", "Ramón,Álvarez,30904465,1985-12-01,12"}}
		for a, n := range map[uint16]int{1: 40, 2: 25} {
			raw, _ := os.ReadFile(filepath.Join(data, fmt.Sprintf("agency-%d.csv", a)))
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
				fields := strings.Split(line, ",")
				doc, _ := strconv.ParseUint(fields[2], 10, 32)
				fields[2] = strconv.FormatUint(doc, 10)
				want[a] = append(want[a], strings.Join(fields, ","))
			}
			if len(want[a]) != n {
				t.Fatalf("agency %d's file has %d lines, want %d", a, len(want[a]), n)
			}
		}
		if fmt.Sprint(stored) != fmt.Sprint(want) {
			t.Fatalf("the store holds\n%v\nwant\n%v", stored, want)
		}

		// Brought up again on the finished round, everyone says so.
		again := sh(t, env, "make", append([]string{"--no-print-directory", "docker-compose-up"}, vars...)...)
		if !strings.Contains(again, "holds the round of an earlier run") || !strings.Contains(again, "make docker-storage-reset") {
			t.Errorf("make did not say the store holds an earlier round:\n%s", again)
		}
		d.waitExit(t, clients...)
		if log := d.logs(t, "server"); !strings.Contains(log, "action: round_finished | result: success") {
			t.Errorf("the central did not say the round is finished:\n%s", log)
		}
		if log := d.logs(t, "client1"); !strings.Contains(log, "action: ronda_anterior | result: success | almacenadas: 40 | en_archivo: 40") {
			t.Errorf("agency 1 did not say it found its earlier end:\n%s", log)
		}
	})

	run("make docker-compose-up COMPOSE_TLS=1 over a plain Compose file writes it again for mutual TLS, each agency mounting only its own key", func(t *testing.T) {
		d := newDeployment(t, 2, 300, 2)
		certs := filepath.Join(d.dir, "certs")
		vars := []string{"DATA=" + filepath.Join(d.dir, "data"), "STORAGE=" + filepath.Join(d.dir, "storage"), "COMPOSE_FILE=" + d.file,
			"PROJECT=" + d.project, "IMAGE_PREFIX=" + images, "CERTS=" + certs, "COMPOSE_TLS=1"}
		// The suite built the images already: -o keeps make from building them again.
		up := sh(t, d.env, "make", append([]string{"--no-print-directory", "-o", "docker-image", "docker-compose-up"}, vars...)...)
		if !strings.Contains(up, "had 2 agencies over plain TCP; writing it with 2 over mutual TLS") {
			t.Errorf("make did not say it turned the plain deployment into a TLS one:\n%s", up)
		}
		t.Cleanup(func() { try(nil, "make", append([]string{"docker-compose-down"}, vars...)...) })
		for i, code := range d.waitExit(t, "client1", "client2") {
			if log := d.logs(t, fmt.Sprintf("client%d", i+1)); code != "0" || !strings.Contains(log, "cant_ganadores: 2") {
				t.Errorf("client%d exited %s:\n%s", i+1, code, log)
			}
		}
		mounts := sh(t, nil, "docker", "inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", d.container("client1"))
		if !strings.Contains(mounts, "agency-1.key") || strings.Contains(mounts, "agency-2.key") || strings.Contains(mounts, "server.key") {
			t.Errorf("client1 mounts %s, want its own key only", mounts)
		}
		// The script finds the central's CA by itself; TLS_DIR names it too.
		for _, env := range [][]string{d.env, append(slices.Clone(d.env), "TLS_DIR="+certs)} {
			out, err := try(append(env, "SERVER_CONTAINER="+d.container("server"), "IMAGE_PREFIX="+images), "./validar-echo-server.sh")
			if err != nil || strings.TrimSpace(out) != "action: test_echo_server | result: success" {
				t.Errorf("the echo script against the TLS central: %v\n%s", err, out)
			}
		}
		d.stop(t)
		if log := d.logs(t, "server"); strings.Count(log, "action: sorteo | result: success") != 1 || strings.Contains(log, "action: tls_disabled") {
			t.Errorf("the TLS central:\n%s", log)
		}
	})

	// The course's own commands on a fresh clone, as root and not.
	run("the course's commands on a fresh clone play the official-shaped round, as root", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("SKIP: not root: the course's commands ran as this user only")
		}
		courseRound(t, self())
	})
	run("the course's commands on a fresh clone play the official-shaped round, as a user who is not root", func(t *testing.T) {
		courseRound(t, dockerUser(t))
	})

	for _, n := range []int{1, 3, 5} {
		run(fmt.Sprintf("a round with %d agencies draws once and each gets its winners", n), func(t *testing.T) {
			d := newDeployment(t, n, 1500, 2)
			d.compose(t, "up", "-d")
			var clients []string
			for i := 1; i <= n; i++ {
				clients = append(clients, fmt.Sprintf("client%d", i))
			}
			for i, code := range d.waitExit(t, clients...) {
				if code != "0" {
					t.Errorf("client%d exited %s:\n%s", i+1, code, d.logs(t, clients[i]))
				}
			}
			for _, c := range clients {
				if log := d.logs(t, c); !strings.Contains(log, "action: consulta_ganadores | result: success | cant_ganadores: 2") {
					t.Errorf("%s did not get its 2 winners:\n%s", c, log)
				}
			}
			d.checkAdmin(t, n)
			d.stop(t)
			if code := d.exitCode(t, "server"); code != 0 {
				t.Errorf("server exited %d", code)
			}
			if n := strings.Count(d.logs(t, "server"), "action: sorteo | result: success"); n != 1 {
				t.Errorf("%d draws, want 1", n)
			}

			stored, _ := os.ReadFile(filepath.Join(d.dir, "storage", "bets.csv"))
			if rows := strings.Count(string(stored), "\n"); rows != n*1500 {
				t.Errorf("the host store holds %d rows after down, want %d", rows, n*1500)
			}
		})
	}

	run("settings changed in the mounted files take effect without a rebuild", func(t *testing.T) {
		d := newDeployment(t, 1, 200, 1)
		before := sh(t, nil, "docker", "images", "-q", images+"-server:latest")
		d.compose(t, "up", "-d")
		d.waitExit(t, "client1")
		d.stop(t)
		if !strings.Contains(d.logs(t, "client1"), "cli_batch_max_amount: 63") {
			t.Fatalf("unexpected first config:\n%s", d.logs(t, "client1"))
		}
		edit := func(file, key, value string) {
			path := filepath.Join(d.dir, "config", file)
			b, _ := os.ReadFile(path)
			var out []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, key+"=") {
					line = key + "=" + value
				}
				out = append(out, line)
			}
			os.WriteFile(path, []byte(strings.Join(out, "\n")), 0o644)
		}
		edit("client.env", "CLI_BATCH_MAX_AMOUNT", "10")
		edit("server.env", "LOGGING_LEVEL", "DEBUG")
		bets := filepath.Join(d.dir, "storage", "bets.csv") // a fresh round: bets and ends journal
		os.Remove(bets)
		os.Remove(bets + csvfile.EndsSuffix)
		d.compose(t, "up", "-d")
		d.waitExit(t, "client1")
		if !strings.Contains(d.logs(t, "client1"), "cli_batch_max_amount: 10") {
			t.Errorf("the client did not pick up the new batch amount:\n%s", d.logs(t, "client1"))
		}
		if !strings.Contains(d.logs(t, "server"), "logging_level: DEBUG") {
			t.Errorf("the server did not pick up the new log level")
		}
		if !strings.Contains(d.logs(t, "client1"), "cant_ganadores: 1") {
			t.Errorf("the fresh round did not give agency 1 its winner:\n%s", d.logs(t, "client1"))
		}
		if after := sh(t, nil, "docker", "images", "-q", images+"-server:latest"); after != before {
			t.Errorf("the image changed: %q then %q", before, after)
		}
	})

	run("validar-echo-server.sh passes against the central and fails once it is stopped", func(t *testing.T) {
		d := newDeployment(t, 0, 0, 0)
		d.compose(t, "up", "-d")
		env := append(d.env, "SERVER_CONTAINER="+d.container("server"))
		out, err := try(env, "./validar-echo-server.sh")
		if err != nil || strings.TrimSpace(out) != "action: test_echo_server | result: success" {
			t.Fatalf("against a running central: %v\n%s", err, out)
		}
		sh(t, nil, "docker", "stop", "-t", "10", d.container("server"))
		out, err = try(env, "./validar-echo-server.sh")
		if err == nil || !strings.HasPrefix(out, "action: test_echo_server | result: fail") {
			t.Fatalf("against a stopped central: %v\n%s", err, out)
		}
	})

	run("compose stop mid-round closes everything and exits 0", func(t *testing.T) {
		// Two agencies are expected and one comes: it waits for a draw that
		// cannot happen until it is stopped.
		d := newDeployment(t, 2, 500, 1)
		d.compose(t, "up", "-d", "server", "client1")
		d.waitLog(t, "client1", "action: close_file | result: success")
		d.compose(t, "stop", "-t", "10")
		for _, c := range []string{"server", "client1"} {
			if code := d.exitCode(t, c); code != 0 {
				t.Errorf("%s exited %d:\n%s", c, code, d.logs(t, c))
			}
		}
		for c, wants := range map[string][]string{
			"server":  {"action: close_listener | result: success", "action: close_connection | result: success", "action: flush_store | result: success"},
			"client1": {"action: close_connection | result: success", "action: shutdown | result: success"},
		} {
			log := d.logs(t, c)
			for _, w := range wants {
				if !strings.Contains(log, w) {
					t.Errorf("%s did not log %q:\n%s", c, w, log)
				}
			}
		}
	})
}
