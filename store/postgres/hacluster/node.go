package hacluster

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// A node: its Patroni configuration and process.

func (n *Node) configFile() string { return filepath.Join(n.Dir, "patroni.yml") }
func (n *Node) dataDir() string    { return filepath.Join(n.Dir, "data") }

// LogFile is the node's log: its Patroni's, and its PostgreSQL server's
// (which writes to the output Patroni gives it).
func (n *Node) LogFile() string { return filepath.Join(n.Dir, "node.log") }

// writeConfig writes the node's Patroni configuration. JSON is YAML, and
// encoding/json quotes every string as YAML needs it ("on" stays a string).
func (n *Node) writeConfig(nodes int) error {
	listen := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	config := map[string]any{
		"scope": scope,
		"name":  n.Name,
		"log":   map[string]any{"level": "INFO"},
		"restapi": map[string]any{
			"listen": listen(n.APIPort), "connect_address": listen(n.APIPort),
		},
		"etcd3": map[string]any{"hosts": []string{listen(n.c.etcdPort)}},
		"bootstrap": map[string]any{
			"dcs": map[string]any{
				"ttl": ttl, "loop_wait": loopWait, "retry_timeout": retryTimeout,
				"maximum_lag_on_failover": 1 << 30,
				"synchronous_mode":        true,
				"synchronous_mode_strict": nodes >= 3,
				"postgresql": map[string]any{
					"use_pg_rewind": true,
					"use_slots":     true,
					"parameters": map[string]any{
						"wal_log_hints":      "on",
						"synchronous_commit": "on",
						"max_connections":    100,
						"shared_buffers":     "64MB",
						"wal_keep_size":      "128MB",
					},
				},
			},
			"initdb": []any{map[string]string{"encoding": "UTF8"}, map[string]string{"locale": "C"}, map[string]string{"auth": "trust"}},
		},
		"postgresql": map[string]any{
			"listen":          listen(n.Port),
			"connect_address": listen(n.Port),
			"data_dir":        n.dataDir(),
			"bin_dir":         n.c.tools.pgBin,
			"pgpass":          filepath.Join(n.Dir, "pgpass"),
			"authentication": map[string]any{
				"superuser":   map[string]string{"username": Superuser},
				"replication": map[string]string{"username": "replicator"},
				"rewind":      map[string]string{"username": Superuser},
			},
			"parameters": map[string]any{"unix_socket_directories": n.Dir},
			"pg_hba": []string{
				"local all all trust",
				"host all all 127.0.0.1/32 trust",
				"host replication replicator 127.0.0.1/32 trust",
			},
			"remove_data_directory_on_rewind_failure":     true,
			"remove_data_directory_on_diverged_timelines": true,
		},
		"watchdog": map[string]any{"mode": "off", "safety_margin": -1},
	}
	b, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		return fmt.Errorf("hacluster: %w", err)
	}
	if err := os.WriteFile(n.configFile(), b, 0o644); err != nil {
		return fmt.Errorf("hacluster: %w", err)
	}
	return nil
}

func (n *Node) startPatroni() error {
	p, err := n.c.spawn(n.LogFile(), n.Dir, n.c.tools.patroni, n.configFile())
	if err != nil {
		return err
	}
	n.c.mu.Lock()
	n.patroni = p
	n.c.mu.Unlock()
	return nil
}
