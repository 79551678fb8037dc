// Package pgcluster runs a throwaway PostgreSQL cluster from the machine's
// own PostgreSQL server binaries (Debian's postgresql package): initdb in a
// new folder, the server on a free loopback port outside the kernel's
// ephemeral range (so that it stays free while the server restarts) with
// its socket in that folder, run as a user other than root (PostgreSQL
// refuses root), and the whole folder removed by Remove. The tests of the
// PostgreSQL store and of a standby central use it, and so does `make
// run-pg`; nothing else of the machine is touched.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNotInstalled is returned by Start when no PostgreSQL server binaries
// are found: install Debian's postgresql package.
var ErrNotInstalled = errors.New("pgcluster: no PostgreSQL server binaries (initdb, postgres) found; install the postgresql package")

// Superuser is the cluster's superuser, trusted on its loopback port and
// socket without a password.
const Superuser = "lottery"

// startTimeout bounds the server's start.
const startTimeout = 60 * time.Second

// ErrPortMoved is the error of a Restart that found the cluster's port
// taken for good, and started the server on another one: the cluster runs,
// but URLs made before name the old port.
var ErrPortMoved = errors.New("pgcluster: the server's port was taken while it was down")

// errPortTaken is start's error when something else listens on the port.
var errPortTaken = errors.New("pgcluster: the port is taken")

// errMemoryHeld is start's error when a killed server's shared memory is
// still attached, though none of its processes runs any more: the kernel
// can still be letting it go an instant later (a crash test's restart met
// it once under a loaded make test). attachedRetries times
// attachedRetryEvery bounds Restart's wait for it.
var errMemoryHeld = errors.New("pgcluster: the shared memory of the server before is still held")

const (
	attachedRetries    = 50
	attachedRetryEvery = 100 * time.Millisecond
)

// portRetries is how many times Restart tries its port again, every
// portRetryEvery, before it moves to another one: whatever took it (a
// port probe, a test binding ports of its own) may let go.
const (
	portRetries    = 50
	portRetryEvery = 100 * time.Millisecond
)

// Cluster is a running throwaway cluster.
type Cluster struct {
	Dir  string // data directory, socket and log
	Port int
	bin  string
	cred *syscall.Credential // the user the server runs as, when this process is root
	cmd  *exec.Cmd
	exit chan error // the server's exit, once
	dbs  atomic.Int64

	// Restart's, set by tests: afterStop runs while the server is down,
	// portTaken each time the port is found taken; portRetries replaces
	// the package's.
	afterStop   func()
	portTaken   func()
	portRetries int
}

// Shared is a cluster started on first use and shared by its users (the
// tests of a package), each with databases of its own.
type Shared struct {
	once sync.Once
	c    *Cluster
	err  error
}

// Get starts the cluster the first time and returns it.
func (s *Shared) Get() (*Cluster, error) {
	s.once.Do(func() { s.c, s.err = Start() })
	return s.c, s.err
}

// Remove removes the cluster if it was started.
func (s *Shared) Remove() error {
	s.once.Do(func() { s.err = ErrNotInstalled }) // none will start now
	if s.c == nil {
		return nil
	}
	return s.c.Remove()
}

// BinDir returns the folder of the newest PostgreSQL server binaries
// installed, or ErrNotInstalled.
func BinDir() (string, error) {
	if dir := os.Getenv("PG_BINDIR"); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest first: versions sort by number, not by text ("9" < "17").
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(path), nil
	}
	return "", ErrNotInstalled
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// Start creates a cluster in a new folder under os.TempDir and starts it.
func Start() (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{Dir: dir, bin: bin, portRetries: portRetries}
	if err := c.init(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.startOnNewPort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// startOnNewPort starts the server on a free port of its band (see
// portBand), trying others while the one picked is taken before the
// server binds it.
func (c *Cluster) startOnNewPort() error {
	for attempt := 0; ; attempt++ {
		port, err := reservePort()
		if err != nil {
			return err
		}
		c.Port = port
		err = c.start()
		if err == nil {
			return nil
		}
		releasePort(port)
		if !errors.Is(err, errPortTaken) || attempt == 4 {
			return err
		}
	}
}

// init runs initdb as a user other than root: the one named postgres when
// it exists (the package creates it), else nobody.
func (c *Cluster) init() error {
	if os.Geteuid() == 0 {
		cred, err := serverUser()
		if err != nil {
			return err
		}
		c.cred = cred
		if err := os.Chown(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
	}
	cmd := c.command("initdb", "-D", c.data(), "-U", Superuser, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgcluster: initdb: %w: %s", err, lastLines(out))
	}
	return nil
}

// ServerUser is the user a server is run as when this process is root
// (PostgreSQL refuses root): postgres when it exists (Debian's postgresql
// package creates it), else nobody.
func ServerUser() (*syscall.Credential, error) { return serverUser() }

func serverUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("pgcluster: running as root, and neither user postgres nor nobody exists to run the server")
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd
}

func (c *Cluster) data() string { return filepath.Join(c.Dir, "data") }

// LogFile is the server's log.
func (c *Cluster) LogFile() string { return filepath.Join(c.Dir, "server.log") }

// start runs the server on c.Port and waits until it takes connections.
// It returns errPortTaken, without starting it, if something else
// listens there, and when the server fails to bind it.
func (c *Cluster) start() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.Port)))
	if err != nil {
		return fmt.Errorf("%w: %d: %v", errPortTaken, c.Port, err)
	}
	ln.Close()
	logFile, err := os.OpenFile(c.LogFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer logFile.Close()
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if c.cred != nil {
		os.Chown(c.LogFile(), int(c.cred.Uid), int(c.cred.Gid))
	}
	c.cmd = c.command("postgres", "-D", c.data(), "-p", strconv.Itoa(c.Port), "-k", c.Dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=100", "-c", "shared_buffers=64MB")
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	attr := c.cmd.SysProcAttr
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	// Its own process group, so that a terminal's ^C reaches only this
	// process, which stops the server in order; and killed with it if it
	// dies without doing so.
	attr.Setpgid = true
	attr.Pdeathsig = syscall.SIGKILL
	c.cmd.SysProcAttr = attr
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: starting postgres: %w", err)
	}
	c.exit = make(chan error, 1)
	go func(cmd *exec.Cmd, exit chan<- error) { exit <- cmd.Wait() }(c.cmd, c.exit)

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		select {
		case err := <-c.exit:
			c.cmd = nil
			log, _ := os.ReadFile(c.LogFile())
			log = log[min(logStart, int64(len(log))):]
			if bytes.Contains(log, []byte("Address already in use")) {
				return fmt.Errorf("%w: %d: %s", errPortTaken, c.Port, lastLines(log))
			}
			if bytes.Contains(log, []byte("pre-existing shared memory block")) {
				return fmt.Errorf("%w: %s", errMemoryHeld, lastLines(log))
			}
			return fmt.Errorf("pgcluster: postgres exited at start (%v): %s", err, lastLines(log))
		case <-ctx.Done():
			c.Stop()
			return fmt.Errorf("pgcluster: postgres did not take connections within %s: %w", startTimeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// URL is the connection URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, c.Port, db)
}

// CreateDatabase creates database name and returns its URL.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("pgcluster: creating database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// NewDatabase creates a database of a new name and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	return c.CreateDatabase(ctx, fmt.Sprintf("round%d", c.dbs.Add(1)))
}

// Stop stops the server with a fast shutdown (every session ended, every
// committed transaction kept) and waits for it.
func (c *Cluster) Stop() error {
	if c.cmd == nil {
		return nil
	}
	cmd := c.cmd
	c.cmd = nil
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-c.exit:
		if err != nil && !isSignalExit(err) {
			return fmt.Errorf("pgcluster: postgres: %w", err)
		}
		return nil
	case <-time.After(startTimeout):
		cmd.Process.Kill()
		<-c.exit
		return errors.New("pgcluster: postgres did not stop within a minute; killed")
	}
}

func isSignalExit(err error) bool {
	var ee *exec.ExitError
	return errors.As(err, &ee) && !ee.Exited()
}

// Restart stops the server and starts it again on the same port: every
// connection is cut, as a database restarted by its operator cuts them.
// No outgoing connection can take the port meanwhile (it is outside the
// kernel's ephemeral range), but a process binding ports on purpose can:
// Restart then tries the port again for a while, and if it stays taken,
// starts the server on another port and returns an error wrapping
// ErrPortMoved that names both (the cluster runs there: see Port and URL).
func (c *Cluster) Restart() error {
	if err := c.Stop(); err != nil {
		return err
	}
	if c.afterStop != nil {
		c.afterStop()
	}
	var err error
	for try := 0; try <= c.portRetries; try++ {
		if try > 0 {
			time.Sleep(portRetryEvery)
		}
		if err = c.startOnceMemoryIsFree(); !errors.Is(err, errPortTaken) {
			return err
		}
		if c.portTaken != nil {
			c.portTaken()
		}
	}
	old, taken := c.Port, err
	if err := c.startOnNewPort(); err != nil {
		c.Port = old
		return fmt.Errorf("pgcluster: restarting: port %d stayed taken (%v), and on another port: %w", old, taken, err)
	}
	releasePort(old)
	return fmt.Errorf("%w: port %d stayed taken (%v); the server now listens on port %d", ErrPortMoved, old, taken, c.Port)
}

// startOnceMemoryIsFree starts the server, trying again while the shared
// memory of the one killed before it is still held.
func (c *Cluster) startOnceMemoryIsFree() error {
	for try := 0; ; try++ {
		err := c.start()
		if !errors.Is(err, errMemoryHeld) || try == attachedRetries {
			return err
		}
		time.Sleep(attachedRetryEvery)
	}
}

// Remove stops the server and deletes its folder.
func (c *Cluster) Remove() error {
	err := errors.Join(c.Stop(), os.RemoveAll(c.Dir))
	releasePort(c.Port)
	return err
}

// lastLines is the tail of a tool's output, for an error message.
func lastLines(out []byte) string {
	out = bytes.TrimSpace(out)
	if len(out) > 600 {
		out = out[len(out)-600:]
	}
	return string(out)
}
