package hacluster

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Waiting on the cluster: for a condition, with a bound, failing early
// when one of its processes has exited, and saying what its logs end with.

// checkRunning fails when etcd or a live node's Patroni has exited.
func (c *Cluster) checkRunning() error {
	if c.etcd.hasExited() {
		return c.exitError("etcd", c.etcd)
	}
	c.mu.Lock()
	patronis := map[*Node]*process{}
	for _, n := range c.Nodes {
		if n.patroni != nil {
			patronis[n] = n.patroni
		}
	}
	c.mu.Unlock()
	for n, p := range patronis {
		if p.hasExited() {
			return c.exitError(n.Name+"'s patroni", p)
		}
		if tail := lastLines(n.LogFile()); strings.Contains(tail, "Address already in use") {
			return fmt.Errorf("%w: %s: %s", errPortTaken, n.Name, tail)
		}
	}
	return nil
}

func (c *Cluster) exitError(what string, p *process) error {
	tail := lastLines(p.log)
	if strings.Contains(tail, "address already in use") || strings.Contains(tail, "Address already in use") {
		return fmt.Errorf("%w: %s exited (%v): %s", errPortTaken, what, p.err, tail)
	}
	return fmt.Errorf("hacluster: %s exited (%v); the end of %s:\n%s", what, p.err, p.log, tail)
}

// await polls cond until it holds, it fails, or startTimeout passes; the
// error then says what was awaited and what cond said last, with the end
// of every live node's log.
func (c *Cluster) await(what string, cond func() (ok bool, state string, err error)) error {
	return c.awaitFor(startTimeout, what, cond)
}

func (c *Cluster) awaitFor(timeout time.Duration, what string, cond func() (bool, string, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, state, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hacluster: waited %s for %s; last: %s%s", timeout, what, state, c.logTails())
		}
		time.Sleep(pollEvery)
	}
}

// logTails is the end of every live node's log, for an error message.
func (c *Cluster) logTails() string {
	var b strings.Builder
	for _, n := range c.live() {
		fmt.Fprintf(&b, "\nthe end of %s:\n%s", n.LogFile(), lastLines(n.LogFile()))
	}
	return b.String()
}

// lastLines is the end of a log, for an error message.
func lastLines(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const tail = 2000
	if st, err := f.Stat(); err == nil && st.Size() > tail {
		f.Seek(st.Size()-tail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	if i := bytes.IndexByte(b, '\n'); i >= 0 && len(b) == tail {
		b = b[i+1:] // from the first whole line
	}
	return string(bytes.TrimSpace(b))
}
