package docker

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/datagen"
	"quiniela/store/csvfile"
)

// account is who types the course's commands: this process's own user, or a
// throwaway account made for the test.
type account struct {
	name     string
	uid, gid int
	groups   []uint32 // supplementary groups: the Docker socket's
	home     string
}

// self is this process's user.
func self() *account {
	return &account{name: "self", uid: os.Geteuid(), gid: os.Getegid()}
}

// run runs a command as u in dir, with a bound, and returns its combined
// output.
func (u *account) run(dir string, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if u.uid != os.Geteuid() {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: u.groups}}
		cmd.Env = append(cmd.Env, "HOME="+u.home, "USER="+u.name, "LOGNAME="+u.name)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// dockerUser makes a throwaway account that is not root and may use the
// Docker engine (the socket's group, as the docker group gives it), and
// removes it when the test ends. It skips where that cannot be done.
func dockerUser(t *testing.T) *account {
	t.Helper()
	if os.Geteuid() != 0 {
		return self() // already not root
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("SKIP: no useradd to make a non-root user: the course's commands ran as root only")
	}
	socket := "/var/run/docker.sock"
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		if !strings.HasPrefix(host, "unix://") {
			t.Skipf("SKIP: DOCKER_HOST=%s is not a Unix socket whose group a user can join", host)
		}
		socket = strings.TrimPrefix(host, "unix://")
	}
	st, err := os.Stat(socket)
	if err != nil {
		t.Skipf("SKIP: no Docker socket to give a non-root user: %v", err)
	}
	gid := st.Sys().(*syscall.Stat_t).Gid
	if gid == 0 {
		t.Skipf("SKIP: the Docker socket %s belongs to group root: giving it to a test user would give root", socket)
	}
	home, err := os.MkdirTemp("", "quiniela-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	name := fmt.Sprintf("qtest%d", os.Getpid())
	if out, err := try(nil, "useradd", "--no-create-home", "--home-dir", home, "--shell", "/bin/sh", name); err != nil {
		t.Skipf("SKIP: useradd %s failed, the course's commands ran as root only: %v\n%s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := try(nil, "userdel", name); err != nil {
			t.Errorf("userdel %s: %v\n%s", name, err, out)
		}
	})
	id := func(flag string) int {
		n, err := strconv.Atoi(strings.TrimSpace(sh(t, nil, "id", flag, name)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	u := &account{name: name, uid: id("-u"), gid: id("-g"), groups: []uint32{gid}, home: home}
	if err := os.Chown(home, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
	return u
}

// freshClone clones the repository's HEAD into a new folder named name, as
// the course's users start, with the working tree's uncommitted changes to
// tracked files applied (none in CI), so that the scripts under test are the
// ones in the tree. Nothing ignored (bin/, .data/, .storage/, a Compose
// file) comes along.
func freshClone(t *testing.T, name string) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "quiniela-course-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	if err := os.Chmod(parent, 0o755); err != nil { // a non-root user reaches it
		t.Fatal(err)
	}
	dir := filepath.Join(parent, name)
	sh(t, nil, "git", "clone", "--quiet", "--no-hardlinks", root, dir)
	if patch := sh(t, nil, "git", "diff", "HEAD", "--binary"); patch != "" {
		cmd := exec.Command("git", "apply", "--binary", "-")
		cmd.Dir, cmd.Stdin = dir, strings.NewReader(patch)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("applying the working tree's changes to the clone: %v\n%s", err, out)
		}
	}
	return dir
}

// courseRound plays a round exactly as the course's users do, on a fresh
// clone with official-shaped data, as u: generar-compose.sh, docker compose
// up, validar-echo-server.sh, the agencies' exits, docker compose stop; then
// checks the store against the agencies' files and the winners against
// datagen's. Only names differ from a bare clone's defaults, through the
// environment: this run's images, container names of its own and an admin
// port Docker picks, so that it shares the engine with other deployments
// (a user's own, the other user's, other runs).
func courseRound(t *testing.T, u *account) {
	dir := freshClone(t, fmt.Sprintf("%s-course-%s", images, u.name))
	sh(t, nil, filepath.Join(root, "bin", "datagen"), "-out", filepath.Join(dir, ".data"), "-seed", "20")
	if u.uid != os.Geteuid() {
		sh(t, nil, "chown", "-R", fmt.Sprintf("%d:%d", u.uid, u.gid), dir)
	}
	prefix := filepath.Base(dir) + "-"
	env := []string{"IMAGE_PREFIX=" + images, "CONTAINER_PREFIX=" + prefix, "ADMIN_PORT=auto", "SERVER_CONTAINER=" + prefix + "server"}
	step := func(name string, args ...string) string {
		t.Helper()
		out, err := u.run(dir, env, name, args...)
		if err != nil {
			t.Fatalf("as %s (uid %d), %s %s: %v\n%s", u.name, u.uid, name, strings.Join(args, " "), err, out)
		}
		return out
	}
	c := compose()
	composeArgs := func(args ...string) []string {
		return append(append(slices.Clone(c[1:]), "-f", "docker-compose-dev.yaml"), args...)
	}
	services := []string{"server", "client1", "client2", "client3", "client4", "client5"}
	t.Cleanup(func() {
		u.run(dir, env, c[0], composeArgs("down", "--timeout", "1")...)
		for _, s := range services { // should down have failed
			try(nil, "docker", "rm", "-f", prefix+s)
		}
	})
	t.Cleanup(func() { // runs first: the logs before the containers go
		if t.Failed() {
			for _, s := range services {
				out, _ := try(nil, "docker", "logs", "--tail", "40", prefix+s)
				t.Logf("the last lines of %s%s:\n%s", prefix, s, out)
			}
		}
	})

	step("bash", "generar-compose.sh", "docker-compose-dev.yaml", "5")
	step(c[0], composeArgs("up", "-d")...)
	if out := step("./validar-echo-server.sh"); strings.TrimSpace(out) != "action: test_echo_server | result: success" {
		t.Errorf("validar-echo-server.sh printed %q", out)
	}
	d := &deployment{prefix: prefix}
	for i, code := range d.waitExit(t, services[1:]...) {
		if code != "0" {
			t.Errorf("%s exited %s", services[1+i], code)
		}
	}
	step(c[0], composeArgs("stop")...)
	for _, s := range services {
		if code := d.exitCode(t, s); code != 0 {
			t.Errorf("%s exited %d after docker compose stop", s, code)
		}
	}
	if n := strings.Count(d.logs(t, "server"), "action: sorteo | result: success"); n != 1 {
		t.Errorf("%d draws, want 1", n)
	}

	summary, err := datagen.ReadSummary(filepath.Join(dir, ".data", datagen.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	stored := storedBets(t, filepath.Join(dir, ".storage", "bets.csv"))
	total := 0
	for i := 1; i <= 5; i++ {
		file := filepath.Join(dir, ".data", fmt.Sprintf("agency-%d.csv", i))
		want := agencyFile(t, file)
		total += len(want)
		if got := stored[uint16(i)]; !slices.Equal(got, want) {
			t.Errorf("agency %d: the store holds %d of its bets, its file %d: every bet must be stored once", i, len(got), len(want))
		}
		facts, ok := summary.Expect(i, file)
		if !ok {
			t.Fatalf("%s is not the file winners.json describes", file)
		}
		if line := fmt.Sprintf("action: consulta_ganadores | result: success | cant_ganadores: %d", facts.Winners); !strings.Contains(d.logs(t, services[i]), line) {
			t.Errorf("%s did not log %q", services[i], line)
		}
	}
	if total != 79000 {
		t.Errorf("the agencies' files hold %d bets, want the official set's 79,000", total)
	}
}

// storedBets reads a CSV store: each agency's bets, as agency-file records,
// sorted.
func storedBets(t *testing.T, path string) map[uint16][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored := map[uint16][]string{}
	if err := csvfile.Read(f, func(b lottery.Bet) error {
		stored[b.Agency] = append(stored[b.Agency], strings.Join(b.AppendAgencyRecord(nil), ","))
		return nil
	}); err != nil {
		t.Fatalf("reading the store: %v", err)
	}
	for _, bets := range stored {
		slices.Sort(bets)
	}
	return stored
}

// agencyFile reads an agency file of valid bets as the store writes them
// (documents without leading zeros), sorted.
func agencyFile(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	var bets []string
	for {
		fields, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		doc, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		fields[2] = strconv.FormatUint(doc, 10)
		bets = append(bets, strings.Join(fields, ","))
	}
	slices.Sort(bets)
	return bets
}
