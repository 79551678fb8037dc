package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// holdKey is the advisory lock by which a database holds a central's
// writer (HoldWriter).
const holdKey = 7574

// ErrNotHeld is Held's answer when the round ends before any statement
// reached the hold's threshold.
var ErrNotHeld = errors.New("pgcluster: the round ended before the bets that trigger the hold were sent")

// WriterHold stops a central's writer mid-round on a database of a
// central's own schema, so that a test can kill a central, or lose the
// database's machine, with a commit in flight however loaded the machine
// is: a watcher counting the bets stored could be starved until the
// round has ended.
type WriterHold struct{ conn *pgx.Conn }

// HoldWriter arms the hold on the database at url, which holds the
// central's tables: a statement-level trigger on batches counts the bets
// inserted from now on, and the statement that brings them to threshold
// or more waits in its transaction, uncommitted, for an advisory lock the
// hold keeps until Release. Every later statement passes once it is
// released, and on a database where no one holds the lock (a new primary).
// The trigger stays after Release; arming the hold again starts a new
// count.
func HoldWriter(ctx context.Context, url string, threshold int) (*WriterHold, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: arming the hold: %w", err)
	}
	_, err = conn.Exec(ctx, fmt.Sprintf(`
		SELECT pg_advisory_lock(%[1]d);
		CREATE TABLE IF NOT EXISTS hold_inserted (n bigint NOT NULL);
		DELETE FROM hold_inserted;
		INSERT INTO hold_inserted VALUES (0);
		CREATE OR REPLACE FUNCTION hold_writer() RETURNS trigger LANGUAGE plpgsql AS $$
		DECLARE seen bigint;
		BEGIN
			UPDATE hold_inserted SET n = n + (SELECT coalesce(sum(bets), 0) FROM inserted) RETURNING n INTO seen;
			IF seen >= %[2]d THEN PERFORM pg_advisory_xact_lock_shared(%[1]d); END IF;
			RETURN NULL;
		END $$;
		CREATE OR REPLACE TRIGGER hold_writer AFTER INSERT ON batches REFERENCING NEW TABLE AS inserted
			FOR EACH STATEMENT EXECUTE FUNCTION hold_writer();`, holdKey, max(1, threshold)))
	if err != nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("pgcluster: arming the hold: %w", err)
	}
	return &WriterHold{conn: conn}, nil
}

// Held waits until a writer of the hold's database waits on the hold, or
// ErrNotHeld once ended closes first. It polls: a waiting lock sends no
// notice. Advisory locks are a database's own, and pg_locks shows the
// whole cluster's: a test on another database of a shared cluster may
// hold its own writer with the same key.
func (h *WriterHold) Held(ctx context.Context, ended <-chan struct{}) error {
	for {
		var held bool
		err := h.conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND NOT granted
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))`, holdKey).Scan(&held)
		if err != nil {
			return fmt.Errorf("pgcluster: watching the central's writer: %w", err)
		}
		if held {
			return nil
		}
		select {
		case <-ended:
			return ErrNotHeld
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Stored is how many bets the database holds, committed.
func (h *WriterHold) Stored(ctx context.Context) (int, error) {
	var stored int
	if err := h.conn.QueryRow(ctx, "SELECT count(*) FROM bets").Scan(&stored); err != nil {
		return 0, fmt.Errorf("pgcluster: counting the bets stored: %w", err)
	}
	return stored, nil
}

// Release lets the held writer, and every later one, go on.
func (h *WriterHold) Release(ctx context.Context) error { return h.conn.Close(ctx) }
