package hacluster

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// The cluster's databases, and the multi-host URLs that reach them.

// URL is the connection URL of database db as the superuser, naming every
// node: a client connects to whichever is the primary
// (target_session_attrs=read-write), and finds the new one after a
// failover by connecting again. connect_timeout bounds the attempt on each
// host: a frozen machine's port still completes the TCP handshake and then
// never answers, so without it the first host, frozen, would take the
// caller's whole deadline and the others would never be tried.
func (c *Cluster) URL(db string) string {
	hosts := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		hosts[i] = "127.0.0.1:" + strconv.Itoa(n.Port)
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&target_session_attrs=read-write&connect_timeout=%d",
		Superuser, strings.Join(hosts, ","), db, connectTimeout)
}

// URL is the connection URL of database db on this node alone.
func (n *Node) URL(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", Superuser, n.Port, db)
}

// CreateDatabase creates database name on the primary and returns its
// URL (URL).
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("hacluster: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("hacluster: creating database %s: %w", name, err)
	}
	return c.URL(name), nil
}

// NewDatabase creates a database of a new name and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	return c.CreateDatabase(ctx, fmt.Sprintf("round%d", c.dbs.Add(1)))
}
