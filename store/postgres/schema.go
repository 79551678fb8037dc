package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations are the schema's versions, in order: migrations[i] takes a
// database from version i to i+1. A released one is never edited; a change
// is a new entry. docs/operations.md documents the resulting schema.
var migrations = []string{
	// 1: the bets, each agency's end, the draw's announcement, and the lease
	// that says which central is active. A bet's id orders the bets as they
	// were committed. The bets have no index and no CHECK: each cost a
	// quarter and a tenth of the ingest rate (a B-tree on id, 40 %); Scan
	// sorts them and checks their ranges instead.
	`CREATE TABLE bets (
		id         bigint  GENERATED ALWAYS AS IDENTITY,
		agency     integer NOT NULL,
		first_name text    NOT NULL,
		last_name  text    NOT NULL,
		document   bigint  NOT NULL,
		birthdate  date    NOT NULL,
		number     integer NOT NULL
	);
	CREATE TABLE ends (
		agency   integer PRIMARY KEY CHECK (agency BETWEEN 0 AND 65535),
		ended_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE draw (
		announced    boolean PRIMARY KEY DEFAULT true CHECK (announced),
		announced_at timestamptz NOT NULL DEFAULT now()
	);
	CREATE TABLE central_lease (
		only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
		epoch      bigint      NOT NULL,
		holder     text        NOT NULL,
		expires_at timestamptz NOT NULL
	);
	INSERT INTO central_lease (epoch, holder, expires_at) VALUES (0, '', '-infinity');`,
	// 2: the count of writing transactions the lease's holder committed in
	// its epoch. Each one adds itself in the same statement that fences
	// it; a central whose COMMIT got no reply reads the count back to
	// learn whether that transaction was committed (a transaction id could
	// not say: after a crash or a failover, the database may hand the same
	// id to another transaction). Taking the lease starts it again at 0.
	`ALTER TABLE central_lease ADD COLUMN commits bigint NOT NULL DEFAULT 0;`,
	// 3: the round's closing instant, fixed once when the round opens with
	// a closing time (SERVER_CLOSING_TIME), so that a restarted or standby
	// central closes betting when the first one would have, whatever its
	// own setting says.
	`CREATE TABLE closing (
		only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
		closes_at timestamptz NOT NULL
	);`,
	// 4: continuous rounds. Every row but the lease's is a round's: what
	// was stored before is round 1's (the columns' default, kept so that
	// round 1's COPY leaves the round out and stores as before). A
	// constant default adds the column without rewriting the bets, which
	// stay without an index: a round's Scan filters them. The draw and the
	// closing instant are one row per round; table rounds lists each round
	// opened, so that a restart carries on the newest one even before
	// anything was stored in it.
	`ALTER TABLE bets ADD COLUMN round integer NOT NULL DEFAULT 1;
	ALTER TABLE ends ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
	ALTER TABLE ends DROP CONSTRAINT ends_pkey, ADD PRIMARY KEY (round, agency);
	ALTER TABLE draw ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
	ALTER TABLE draw DROP COLUMN announced, ADD PRIMARY KEY (round);
	ALTER TABLE closing ADD COLUMN round integer NOT NULL DEFAULT 1 CHECK (round >= 1);
	ALTER TABLE closing DROP COLUMN only_row, ADD PRIMARY KEY (round);
	CREATE TABLE rounds (
		round     integer PRIMARY KEY CHECK (round >= 1),
		opened_at timestamptz NOT NULL DEFAULT now()
	);`,
	// 5: a row a batch rather than a row a bet (copy.go: it cost the
	// database 3 µs a row). Each holds its bets as lines of text, and
	// bets becomes a view that reads them back a row a bet, with the
	// columns it had; a bet's id there is its batch's times 65,536 plus
	// its line, so it still orders them as committed. The bets stored
	// before are moved into batches of 63, each agency's in its order.
	// toast_tuple_target keeps a batch's lines (8 KiB at most) in its row,
	// uncompressed: TOAST would spend more time compressing them than it
	// saves.
	`CREATE TABLE batches (
		id     bigint  GENERATED ALWAYS AS IDENTITY,
		round  integer NOT NULL DEFAULT 1,
		agency integer NOT NULL,
		bets   integer NOT NULL,
		lines  text    NOT NULL
	) WITH (toast_tuple_target = 8160);
	INSERT INTO batches (round, agency, bets, lines)
		SELECT round, agency, count(*),
			string_agg(concat_ws(E'\t', first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number) || E'\n', '' ORDER BY id)
		FROM (SELECT *, (row_number() OVER (PARTITION BY round, agency ORDER BY id) - 1) / 63 AS part FROM bets) AS numbered
		GROUP BY round, agency, part
		ORDER BY min(id);
	DROP TABLE bets;
	CREATE VIEW bets AS
		SELECT b.id * 65536 + l.n AS id, b.round, b.agency,
			f[1] AS first_name, f[2] AS last_name, f[3]::bigint AS document, f[4]::date AS birthdate, f[5]::integer AS number
		FROM batches AS b,
			unnest(string_to_array(left(b.lines, -1), E'\n')) WITH ORDINALITY AS l (line, n),
			string_to_array(l.line, E'\t') AS f;`,
	// 6: a batch's bets in two columns rather than as lines of text (copy.go:
	// the database's cost of a batch is in its bytes): names, a line a bet
	// of its first and last name separated by a tab, and fixed, ten bytes a
	// bet (fixedSize), big-endian: its document (4), its birthdate as the
	// number YYYYMMDD (4) and its number (2). The batches stored before are
	// rewritten so in place, which keeps their ids, the identity's next
	// value, and an operator's grants and indexes. A row that would not
	// read back as version 5 wrote it (scanBatch's checks: its agency, its
	// count of lines, each line's fields, ranges, date and names) stops the
	// migration, naming its batch, rather than be cast into another bet or
	// leave a database this central cannot restore and an older one cannot
	// open. View bets is replaced with the columns it had, which keeps views
	// and grants made on it; it reads a bet's ten bytes apart before their
	// fields, so that a long row is not read whole for each of them.
	`ALTER TABLE batches ADD COLUMN names text, ADD COLUMN fixed bytea, ALTER COLUMN lines DROP NOT NULL;
	DO $$
	DECLARE
		bad record;
	BEGIN
		SELECT id, CASE
				WHEN agency NOT BETWEEN 0 AND 65535 THEN format('its agency %s is not within 0..65535', agency)
				WHEN lines <> '' AND right(lines, 1) <> E'\n' THEN 'its lines do not end with a line break'
				WHEN bets <> lines_held THEN format('it holds %s lines, and its column bets says %s', lines_held, bets)
				WHEN bets > 65535 THEN format('it holds %s lines, more than a row ever holds (65535)', bets)
			END AS problem INTO bad
			FROM (SELECT *, coalesce(array_length(string_to_array(left(lines, -1), E'\n'), 1), 0) AS lines_held FROM batches) AS b
			WHERE agency NOT BETWEEN 0 AND 65535 OR (lines <> '' AND right(lines, 1) <> E'\n') OR bets <> lines_held OR bets > 65535
			ORDER BY id LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'batch id %: %: correct or delete the row, and start the central again', bad.id, bad.problem;
		END IF;
		SELECT b.id, l.n, l.line INTO bad
			FROM batches AS b, unnest(string_to_array(left(b.lines, -1), E'\n')) WITH ORDINALITY AS l (line, n)
			WHERE CASE WHEN l.line !~ '^[^\x01-\x1f\x7f]*\t[^\x01-\x1f\x7f]*\t[0-9]{1,20}\t[0-9]{4}-[0-9]{2}-[0-9]{2}\t[0-9]{1,20}$' THEN true
				ELSE split_part(l.line, E'\t', 3)::numeric > 4294967295 OR split_part(l.line, E'\t', 5)::numeric > 65535
					OR (SELECT m NOT BETWEEN 1 AND 12 OR d NOT BETWEEN 1 AND CASE WHEN m = 2 THEN 28 + (y % 4 = 0 AND y % 100 <> 0 OR y % 400 = 0)::integer
							WHEN m IN (4, 6, 9, 11) THEN 30 ELSE 31 END
						FROM (SELECT left(day, 4)::integer AS y, substr(day, 6, 2)::integer AS m, right(day, 2)::integer AS d
							FROM split_part(l.line, E'\t', 4) AS day) AS birthdate)
				END
			ORDER BY b.id, l.n LIMIT 1;
		IF FOUND THEN
			RAISE EXCEPTION 'batch id %, line %: % is not a bet (a first and a last name without control characters, a document of 0..4294967295, a birthdate YYYY-MM-DD that is a date and a number of 0..65535, separated by tabs): correct or delete the row, and start the central again', bad.id, bad.n, '"' || replace(bad.line, E'\t', '\t') || '"';
		END IF;
	END $$;
	UPDATE batches AS b SET (names, fixed, lines) = (
		SELECT coalesce(string_agg(f[1] || E'\t' || f[2] || E'\n', '' ORDER BY l.n), ''),
			coalesce(string_agg(substring(int8send(f[3]::bigint) FROM 5) || int4send(replace(f[4], '-', '')::integer) || substring(int4send(f[5]::integer) FROM 3), '' ORDER BY l.n), ''),
			NULL
		FROM unnest(string_to_array(left(b.lines, -1), E'\n')) WITH ORDINALITY AS l (line, n),
			string_to_array(l.line, E'\t') AS f);
	CREATE OR REPLACE VIEW bets AS
		SELECT b.id * 65536 + l.n AS id, b.round, b.agency, f[1] AS first_name, f[2] AS last_name,
			(get_byte(x, 0)::bigint << 24) + (get_byte(x, 1) << 16) + (get_byte(x, 2) << 8) + get_byte(x, 3) AS document,
			make_date(day / 10000, day / 100 % 100, day % 100) AS birthdate,
			(get_byte(x, 8) << 8) + get_byte(x, 9) AS number
		FROM batches AS b,
			unnest(string_to_array(left(b.names, -1), E'\n')) WITH ORDINALITY AS l (line, n),
			string_to_array(l.line, E'\t') AS f,
			LATERAL (SELECT substring(b.fixed FROM (l.n::integer - 1) * 10 + 1 FOR 10) AS x) AS fixed_of_bet,
			LATERAL (SELECT (get_byte(x, 4) << 24) + (get_byte(x, 5) << 16) + (get_byte(x, 6) << 8) + get_byte(x, 7) AS day) AS birthdate_of_bet;
	ALTER TABLE batches DROP COLUMN lines, ALTER COLUMN names SET NOT NULL, ALTER COLUMN fixed SET NOT NULL;`,
}

// migrationLock is the advisory lock key that keeps two centrals starting
// at once from migrating the same database together.
const migrationLock = 0x71756e69656c61 // "quiniela"

// migrate brings the schema to the newest version, in one transaction.
func migrate(ctx context.Context, pool *pgxpool.Pool) (from, to int, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)`); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&from); err != nil {
			return err
		}
		if from > len(migrations) {
			return fmt.Errorf("the database's schema is version %d, newer than this central knows (%d): run a newer central", from, len(migrations))
		}
		for v := from; v < len(migrations); v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("migrating the schema to version %d: %w", v+1, err)
			}
		}
		to = len(migrations)
		_, err := tx.Exec(ctx, `DELETE FROM schema_version; INSERT INTO schema_version VALUES (`+fmt.Sprint(to)+`)`)
		return err
	})
	return from, to, err
}
