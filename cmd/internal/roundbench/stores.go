package main

import (
	"fmt"
	"io"
	"time"

	"quiniela/store/postgres/pgcluster"
)

// storeRows are the rounds that storesTable plays on both stores: the
// official-like round and 100 agencies of 10,000 bets; quick makes them
// tiny, for a test of the code path.
func storeRows(quick bool) []floorRow {
	if quick {
		return []floorRow{{name: "quick", size: size{agencies: 3, bets: 100}}}
	}
	return []floorRow{
		{name: "official-like", size: size{agencies: 5}},
		{name: "100 × 10,000", size: size{agencies: 100, bets: 10000}},
	}
}

// storesTable plays each row runs times on the CSV file and on
// PostgreSQL, alternating, and prints the medians and their ratio. The
// full table plays a size's rounds one after the other, so that the
// machine's drift between two of its rows would read as a difference
// between the stores.
func storesTable(w io.Writer, dir string, db *pgcluster.Cluster, rows []floorRow, runs int) error {
	fmt.Fprintf(w, "| round | bets | file s | PostgreSQL s | PostgreSQL/file | runs |\n|:---|---:|---:|---:|---:|---:|\n")
	for _, row := range rows {
		data, err := dataFor(dir, row.size)
		if err != nil {
			return err
		}
		onDB := row.size
		onDB.postgres = true
		var file, pg []time.Duration
		for run := range runs {
			f, err := round(dir, data, row.size, nil)
			if err != nil {
				return fmt.Errorf("%s on the file, run %d: %w", row.name, run+1, err)
			}
			p, err := round(dir, data, onDB, db)
			if err != nil {
				return fmt.Errorf("%s on PostgreSQL, run %d: %w", row.name, run+1, err)
			}
			file, pg = append(file, f.wall), append(pg, p.wall)
		}
		fmt.Fprintf(w, "| %s | %s | %.3f | %.3f | %.2f× | %d |\n", row.name, betsOf(row.size),
			median(file).Seconds(), median(pg).Seconds(), median(pg).Seconds()/median(file).Seconds(), runs)
	}
	return nil
}
