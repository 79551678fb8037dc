// Package hacluster runs a throwaway highly available PostgreSQL cluster
// on this machine, from Debian's patroni, etcd-server and postgresql
// packages: one etcd, and two or three PostgreSQL servers each under its
// own Patroni, every one on a loopback port outside the kernel's ephemeral
// range (pgcluster's band), in a new folder under os.TempDir, run as a
// user other than root (PostgreSQL refuses root). Each node stands for a
// machine: KillMachine loses one whole (its Patroni and every PostgreSQL
// process at once), and the others elect a new primary among themselves.
// Clients reach whichever is primary through the multi-host URL (URL).
// Remove ends every process and deletes the folder. The tests of the
// package and `make run-ha` use it; nothing else of the machine is touched.
//
// The settings, and why:
//
//   - synchronous_mode: a commit is acknowledged only once the
//     synchronous standby has flushed it, and Patroni promotes only that
//     standby: a failover loses no acknowledged commit.
//   - synchronous_mode_strict only with three nodes. Strict mode keeps a
//     standby synchronous even when none is left, so with two nodes every
//     commit would hang from the loss of either machine until it came
//     back: the survivor could not carry the round. Without it Patroni
//     lets the primary commit alone once it sees its standby gone, and
//     makes the returning node synchronous again; until then an
//     acknowledged commit is on one machine only. With three nodes one
//     machine's loss leaves a standby to be synchronous, so strict costs
//     nothing there.
//   - ttl 5 s, loop_wait 1 s, retry_timeout 2 s (Patroni's defaults are
//     30, 10 and 10): the leader key expires at most 5 s after the
//     primary's machine is lost, and the standby, which watches it, races
//     for it at once. retry_timeout 2 is the least that works: Patroni
//     3.0's etcd3 client needs a second of its retry deadline left after
//     renewing its lease to try for the leader key, so with 1 no node ever
//     takes over (its log says only "Error communicating with DCS"). ttl
//     is then Patroni's rule, loop_wait + 2 × retry_timeout: a leader whose
//     etcd is slow for one retry still renews in time, and so does one in
//     the loop that makes a returning node synchronous, which sleeps 2 s.
//     Measured on the 2-core development machine, under other work
//     (load 2 to 8): a failover takes 5.1 to 5.6 s after a kill, 7.1 to
//     7.8 s after a freeze (Patroni first asks the frozen node's REST API,
//     and waits 2 s for it); two minutes of writes never lost the leader.
//   - maximum_lag_on_failover 1 GiB (default 1 MiB): in synchronous mode
//     every acknowledged commit is on the synchronous standby whatever its
//     lag; the limit could only stop the sole candidate from taking over
//     in the middle of a large COPY.
//   - use_pg_rewind (with wal_log_hints), so that a lost primary brought
//     back (RestartNode) rejoins as a standby of the new one.
//   - Patroni's watchdog off, and its safety margin made relative
//     (safety_margin -1): Patroni 3.0 warns on every loop that a ttl this
//     short leaves no room for a watchdog, even with the watchdog off.
package hacluster

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"quiniela/store/postgres/pgcluster"
)

// ErrNotInstalled is returned by Start when Patroni, etcd or PostgreSQL's
// server binaries are missing; the error wrapping it names which.
var ErrNotInstalled = errors.New("hacluster: not installed")

// ErrNoPrimary is Primary's error while no node runs as the primary.
var ErrNoPrimary = errors.New("hacluster: no node is the primary")

// Superuser is the clusters' superuser, trusted on loopback without a
// password, as pgcluster's is.
const Superuser = pgcluster.Superuser

// The timings of Patroni (see the package comment), in seconds.
const (
	ttl          = 5
	loopWait     = 1
	retryTimeout = 2
)

const (
	// startTimeout bounds Start and RestartNode: a node's initdb or
	// pg_basebackup, and Patroni making a standby synchronous.
	startTimeout = 2 * time.Minute
	// killTimeout bounds the wait for killed processes to be gone.
	killTimeout = 10 * time.Second
	// pollEvery is how often a wait looks again.
	pollEvery = 50 * time.Millisecond
	// probeTimeout bounds one look at a node: a REST call, a write.
	probeTimeout = 2 * time.Second
	// connectTimeout, in seconds, bounds a connection attempt to one host
	// of URL: far above a loaded machine's connect on loopback.
	connectTimeout = 2
	// dirPrefix names a cluster's folder under os.TempDir.
	dirPrefix = "hacluster-"
	// scope is Patroni's name of the cluster.
	scope = "lottery"
)

// errPortTaken is a start's error when a port it was given was taken
// before its server bound it: Start tries again on other ports.
var errPortTaken = errors.New("hacluster: a port was taken")

// Cluster is a running throwaway cluster.
type Cluster struct {
	Dir   string  // every node's folder, and etcd's
	Nodes []*Node // node1, node2, …

	tools    tools
	cred     *syscall.Credential // the user the servers run as, when this process is root
	etcd     *process
	etcdPort int // etcd's client port; its peer port is etcdPeer
	etcdPeer int
	http     *http.Client
	dbs      atomic.Int64

	mu      sync.Mutex
	lostAt  time.Time // the last KillMachine's
	removed bool
}

// Node is one PostgreSQL server under its Patroni: one machine of the
// cluster.
type Node struct {
	Name    string // node1, node2, …
	Dir     string // its data folder, configuration and log
	Port    int    // PostgreSQL's
	APIPort int    // Patroni's REST API

	c       *Cluster
	patroni *process // nil while the node is lost
}

// process is a started program whose exit closes exited.
type process struct {
	cmd    *exec.Cmd
	log    string
	exited chan struct{}
	err    error // the exit, once exited is closed
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// tools are the programs a cluster runs.
type tools struct {
	patroni, etcd, pgBin string
}

func findTools() (tools, error) {
	var t tools
	var err error
	if t.patroni, err = exec.LookPath("patroni"); err != nil {
		return t, fmt.Errorf("%w: no patroni on PATH (Debian's patroni package)", ErrNotInstalled)
	}
	if t.etcd, err = exec.LookPath("etcd"); err != nil {
		return t, fmt.Errorf("%w: no etcd on PATH (Debian's etcd-server package)", ErrNotInstalled)
	}
	if t.pgBin, err = pgcluster.BinDir(); err != nil {
		return t, fmt.Errorf("%w: no PostgreSQL server binaries (Debian's postgresql package)", ErrNotInstalled)
	}
	return t, nil
}

// Start starts a cluster of nodes PostgreSQL servers (2 or 3) and returns
// once node1 is the primary, every other node streams from it, and one of
// them is its synchronous standby. A cluster left behind by a process that
// died is removed first.
func Start(nodes int) (*Cluster, error) {
	if nodes < 2 || nodes > 3 {
		return nil, fmt.Errorf("hacluster: %d nodes; want 2 or 3", nodes)
	}
	t, err := findTools()
	if err != nil {
		return nil, err
	}
	reapOrphans()
	for attempt := 1; ; attempt++ {
		c, err := start(t, nodes)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return nil, err
		}
	}
}

// start starts a cluster of nodes, or removes what it started. Its
// cluster result is unnamed: a failure returns nil, and the deferred
// Remove must still see the cluster (a named one was nil by then, and
// Remove panicked where Start meant to try another port).
func start(t tools, nodes int) (_ *Cluster, err error) {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("hacluster: %w", err)
	}
	c := &Cluster{Dir: dir, tools: t, http: &http.Client{
		Timeout:   probeTimeout,
		Transport: &http.Transport{DisableKeepAlives: true},
	}}
	defer func() {
		if err != nil {
			c.Remove()
		}
	}()
	if err := writeOwner(dir); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if c.cred, err = pgcluster.ServerUser(); err != nil {
			return nil, err
		}
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, fmt.Errorf("hacluster: %w", err)
		}
	}
	if err := c.startEtcd(); err != nil {
		return nil, err
	}
	for i := 1; i <= nodes; i++ {
		n := &Node{Name: "node" + strconv.Itoa(i), Dir: filepath.Join(dir, "node"+strconv.Itoa(i)), c: c}
		c.Nodes = append(c.Nodes, n)
		if n.Port, err = pgcluster.ReservePort(); err != nil {
			return nil, err
		}
		if n.APIPort, err = pgcluster.ReservePort(); err != nil {
			return nil, err
		}
		if err := c.mkdir(n.Dir); err != nil {
			return nil, err
		}
		if err := n.writeConfig(nodes); err != nil {
			return nil, err
		}
	}
	// node1 bootstraps the cluster (initdb) and leads; the others then
	// copy it (pg_basebackup) and follow.
	first := c.Nodes[0]
	if err := first.startPatroni(); err != nil {
		return nil, err
	}
	if err := c.await("node1 to bootstrap the cluster and lead it", func() (bool, string, error) {
		if err := c.checkRunning(); err != nil {
			return false, "", err
		}
		return c.saysPrimary(first), "node1 is not yet the primary", nil
	}); err != nil {
		return nil, err
	}
	for _, n := range c.Nodes[1:] {
		if err := n.startPatroni(); err != nil {
			return nil, err
		}
	}
	if err := c.await("every node to stream from node1, one of them synchronously", c.healthy); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) mkdir(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("hacluster: %w", err)
	}
	if c.cred != nil {
		if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("hacluster: %w", err)
		}
	}
	return nil
}

// spawn starts a program of the cluster as its user, in a process group
// of its own, killed if this process dies (PostgreSQL, which Patroni
// detaches, is not: the next Start reaps it), its output appended to log.
func (c *Cluster) spawn(log, dir string, name string, args ...string) (*process, error) {
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("hacluster: %w", err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	// Only what the programs need: Patroni reads any PATRONI_* variable as
	// configuration, and psycopg any PG* one.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "PYTHONUNBUFFERED=1"}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("hacluster: starting %s: %w", filepath.Base(name), err)
	}
	p := &process{cmd: cmd, log: log, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// live is the nodes whose machine runs.
func (c *Cluster) live() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	var live []*Node
	for _, n := range c.Nodes {
		if n.patroni != nil {
			live = append(live, n)
		}
	}
	return live
}

// Remove kills every process of the cluster (etcd, and each node's
// Patroni and PostgreSQL), deletes its folder, and checks that nothing of
// it is left. It may be called more than once.
func (c *Cluster) Remove() error {
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return nil
	}
	c.removed = true
	patronis := []*process{}
	for _, n := range c.Nodes {
		if n.patroni != nil {
			patronis = append(patronis, n.patroni)
			n.patroni = nil
		}
	}
	c.mu.Unlock()
	procs := killMachine(c.Dir)
	var errs []error
	for _, p := range append(patronis, c.etcd) {
		if p != nil {
			errs = append(errs, c.awaitGone(p, nil))
		}
	}
	errs = append(errs, waitGone(procs, killTimeout), os.RemoveAll(c.Dir))
	for _, port := range []int{c.etcdPort, c.etcdPeer} {
		if port != 0 {
			pgcluster.ReleasePort(port)
		}
	}
	for _, n := range c.Nodes {
		for _, port := range []int{n.Port, n.APIPort} {
			if port != 0 {
				pgcluster.ReleasePort(port)
			}
		}
	}
	if left := machine(c.Dir, nil); len(left) > 0 {
		var names []string
		for _, p := range left {
			names = append(names, describe(p))
		}
		errs = append(errs, fmt.Errorf("hacluster: processes of %s left after Remove: %s", c.Dir, strings.Join(names, "; ")))
	}
	if _, err := os.Stat(c.Dir); !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("hacluster: %s left after Remove: %v", c.Dir, err))
	}
	return errors.Join(errs...)
}
