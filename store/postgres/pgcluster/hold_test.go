package pgcluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// A hold is its database's: a writer held on one database of a cluster is
// not seen by the hold of another, released it goes on, and the hold can
// be armed again with a new count.
func TestAWriterHoldHoldsOnlyItsOwnDatabasesWriter(t *testing.T) {
	t.Parallel()
	c := Own(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	newDatabase := func() string {
		url, err := c.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		execSQL(t, ctx, url, `CREATE TABLE batches (bets integer NOT NULL)`)
		return url
	}
	a, b := newDatabase(), newDatabase()
	holdA, err := HoldWriter(ctx, a, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer holdA.Release(ctx)
	holdB, err := HoldWriter(ctx, b, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer holdB.Release(ctx)

	written := make(chan error, 1)
	go func() { written <- execSQLErr(ctx, a, `INSERT INTO batches VALUES (4), (6)`) }()
	if err := holdA.Held(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	close(ended)
	if err := holdB.Held(ctx, ended); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("the hold of another database saw a writer: %v", err)
	}
	holdA.Release(ctx)
	if err := <-written; err != nil {
		t.Fatalf("the writer released did not go on: %v", err)
	}

	again, err := HoldWriter(ctx, a, 10)
	if err != nil {
		t.Fatalf("arming the hold again: %v", err)
	}
	defer again.Release(ctx)
	// A new count: the 9 bets of this statement do not reach 10, and it
	// passes (held, it would wait until ctx ends, and fail).
	execSQL(t, ctx, a, `INSERT INTO batches VALUES (9)`)
}

func execSQL(t *testing.T, ctx context.Context, url, sql string) {
	t.Helper()
	if err := execSQLErr(ctx, url, sql); err != nil {
		t.Fatal(err)
	}
}

func execSQLErr(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
