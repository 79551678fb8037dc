package hacluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// What Patroni says of the cluster: its members, and which is the primary.

// Member is a node as Patroni's REST API describes it (GET /cluster).
type Member struct {
	Name     string          `json:"name"`
	Role     string          `json:"role"`  // leader, sync_standby, replica
	State    string          `json:"state"` // running, starting, stopped, crashed…
	Timeline int             `json:"timeline"`
	Lag      json.RawMessage `json:"lag"` // bytes behind the leader, or "unknown"
}

func (m Member) String() string {
	s := m.Name + " " + m.Role + " " + m.State
	if len(m.Lag) > 0 {
		s += " lag " + string(m.Lag)
	}
	return s
}

// Members is the cluster as the first live node that answers sees it in
// etcd. A lost node stays listed until its key expires (ttl).
func (c *Cluster) Members() ([]Member, error) {
	var errs []error
	for _, n := range c.live() {
		var view struct{ Members []Member }
		err := c.getJSON(n.apiURL("/cluster"), &view)
		if err == nil {
			return view.Members, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", n.Name, err))
	}
	return nil, fmt.Errorf("hacluster: no node's Patroni answered: %w", errors.Join(errs...))
}

func (n *Node) apiURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(n.APIPort) + path
}

func (c *Cluster) getJSON(url string, v any) error {
	resp, err := c.http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// saysPrimary reports whether the node's Patroni holds the leader key and
// runs its server as the primary (GET /primary answers 200).
func (c *Cluster) saysPrimary(n *Node) bool {
	resp, err := c.http.Get(n.apiURL("/primary"))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// Primary is the node that leads: the live node whose Patroni holds the
// leader key and runs its server as the primary. ErrNoPrimary while there
// is none (after a machine's loss, until the failover).
func (c *Cluster) Primary() (*Node, error) {
	for _, n := range c.live() {
		if c.saysPrimary(n) {
			return n, nil
		}
	}
	return nil, ErrNoPrimary
}

// healthy is the condition of a whole cluster: one leader running, every
// other live node running as a standby that reports a lag (it streams),
// and one of them synchronous.
func (c *Cluster) healthy() (bool, string, error) {
	if err := c.checkRunning(); err != nil {
		return false, "", err
	}
	members, err := c.Members()
	if err != nil {
		return false, err.Error(), nil
	}
	live := map[string]bool{}
	for _, n := range c.live() {
		live[n.Name] = true
	}
	leaders, standbys, synchronous := 0, 0, 0
	var states []string
	for _, m := range members {
		states = append(states, m.String())
		if !live[m.Name] || m.State != "running" {
			continue
		}
		switch m.Role {
		case "leader", "master", "primary":
			leaders++
		case "sync_standby":
			synchronous++
			fallthrough
		case "replica":
			if _, err := strconv.ParseInt(string(m.Lag), 10, 64); err == nil {
				standbys++
			}
		}
	}
	ok := leaders == 1 && standbys == len(live)-1 && synchronous >= 1
	return ok, "patroni says: " + strings.Join(states, ", "), nil
}
