package hacluster

import (
	"fmt"
	"path/filepath"
	"strconv"

	"quiniela/store/postgres/pgcluster"
)

// etcd: the store of Patroni's leader key, one member for the cluster.

func (c *Cluster) etcdDir() string { return filepath.Join(c.Dir, "etcd") }

// EtcdLogFile is etcd's log.
func (c *Cluster) EtcdLogFile() string { return filepath.Join(c.etcdDir(), "etcd.log") }

func (c *Cluster) startEtcd() error {
	if err := c.mkdir(c.etcdDir()); err != nil {
		return err
	}
	var err error
	if c.etcdPort, err = pgcluster.ReservePort(); err != nil {
		return err
	}
	if c.etcdPeer, err = pgcluster.ReservePort(); err != nil {
		return err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(c.etcdPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(c.etcdPeer)
	c.etcd, err = c.spawn(c.EtcdLogFile(), c.etcdDir(), c.tools.etcd,
		"--name", "etcd", "--data-dir", filepath.Join(c.etcdDir(), "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "etcd="+peer, "--initial-cluster-state", "new",
		"--logger", "zap", "--log-level", "warn")
	if err != nil {
		return err
	}
	return c.await("etcd to answer", func() (bool, string, error) {
		if c.etcd.hasExited() {
			return false, "", c.exitError("etcd", c.etcd)
		}
		var health struct{ Health string }
		err := c.getJSON(client+"/health", &health)
		return err == nil && health.Health == "true", fmt.Sprintf("etcd's health: %v %q", err, health.Health), nil
	})
}
