package main

import (
	"context"
	"fmt"
	"quiniela/store/postgres/pgcluster"

	"github.com/jackc/pgx/v5"
)

// The round's throwaway PostgreSQL cluster (make run-pg).

// database is the round's throwaway PostgreSQL cluster.
type database struct {
	cluster *pgcluster.Cluster
	url     string
}

func startDatabase() (*database, error) {
	c, err := pgcluster.Start()
	if err != nil {
		return nil, err
	}
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		c.Remove()
		return nil, err
	}
	fmt.Printf("postgres: a throwaway cluster in %s, database %s (removed after the round)\n", c.Dir, url)
	return &database{cluster: c, url: url}, nil
}

// count counts round's bets (1 with a single round).
func (d *database) count(round int) (int, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.url)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM bets WHERE round = $1", round).Scan(&n)
	return n, err
}

func (d *database) remove() {
	if err := d.cluster.Remove(); err != nil {
		fmt.Println(err)
	}
}
