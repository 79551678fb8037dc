package hacluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// The faults a test plays: a machine killed or frozen, a node restarted,
// and the wait for the new primary.

// KillMachine loses node n's machine: its Patroni and every PostgreSQL
// process of the node get SIGKILL at once (all frozen first, so that none
// reacts to the others' deaths), and it waits until they are gone. Their
// connections close, as a machine's would on a reset. The failover time
// of WaitForNewPrimary counts from the moment they froze.
func (c *Cluster) KillMachine(n *Node) error {
	return c.lose(n, true)
}

// FreezeMachine loses node n's machine the other way: every process of it
// stopped (SIGSTOP) and left so, as a machine that hangs or drops off the
// network does; its connections stay open and silent, so a client learns
// of it only from its own timeouts. Remove, or RestartNode (which kills
// the frozen processes first), ends it.
func (c *Cluster) FreezeMachine(n *Node) error {
	return c.lose(n, false)
}

func (c *Cluster) lose(n *Node, kill bool) error {
	c.mu.Lock()
	p := n.patroni
	n.patroni = nil
	c.mu.Unlock()
	if p == nil {
		return fmt.Errorf("hacluster: %s is already lost", n.Name)
	}
	procs := freezeMachine(n.Dir)
	c.mu.Lock()
	c.lostAt = time.Now()
	c.mu.Unlock()
	if !kill {
		return nil
	}
	for pid := range procs {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return c.awaitGone(p, procs)
}

// awaitGone waits for Patroni's exit and for every other process.
func (c *Cluster) awaitGone(patroni *process, procs map[int]proc) error {
	var errs []error
	if patroni != nil {
		select {
		case <-patroni.exited:
		case <-time.After(killTimeout):
			errs = append(errs, fmt.Errorf("hacluster: patroni (pid %d) did not exit within %s of SIGKILL", patroni.cmd.Process.Pid, killTimeout))
		}
	}
	return errors.Join(append(errs, waitGone(procs, killTimeout))...)
}

// WaitForNewPrimary waits up to timeout until a live node is the primary
// and takes a write (a transaction that commits, so through the
// synchronous standby when Patroni keeps one), and returns it with the
// failover time: from the last KillMachine or FreezeMachine (from the call
// if none) to that commit.
func (c *Cluster) WaitForNewPrimary(timeout time.Duration) (*Node, time.Duration, error) {
	c.mu.Lock()
	since := c.lostAt
	c.mu.Unlock()
	if since.IsZero() {
		since = time.Now()
	}
	var primary *Node
	err := c.awaitFor(timeout, "a new primary that takes a write", func() (bool, string, error) {
		if err := c.checkRunning(); err != nil {
			return false, "", err
		}
		var state []string
		for _, n := range c.live() {
			if !c.saysPrimary(n) {
				state = append(state, n.Name+" is not the primary")
				continue
			}
			if err := probeWrite(n); err != nil {
				state = append(state, fmt.Sprintf("%s is the primary, but a write failed: %v", n.Name, err))
				continue
			}
			primary = n
			return true, "", nil
		}
		return false, strings.Join(state, "; "), nil
	})
	return primary, time.Since(since), err
}

// probeWrite commits a transaction with a transaction id on node n.
func probeWrite(n *Node) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, n.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "SELECT txid_current()")
	return err
}

// RestartNode brings node n's lost machine back: what is left of a frozen
// one is killed, and its Patroni started again on the node's folder and
// ports. It returns once every node streams and one is synchronous: the
// node rejoins as a standby of the new primary (rewound with pg_rewind,
// or copied afresh if that fails).
func (c *Cluster) RestartNode(n *Node) error {
	c.mu.Lock()
	running := n.patroni != nil
	c.mu.Unlock()
	if running {
		return fmt.Errorf("hacluster: %s is not lost", n.Name)
	}
	if err := waitGone(killMachine(n.Dir), killTimeout); err != nil {
		return err
	}
	if err := n.startPatroni(); err != nil {
		return err
	}
	return c.await(n.Name+" to rejoin, every node streaming, one synchronously", c.healthy)
}
