// Command datagen writes synthetic agency files, shaped like the course's,
// and the number of winners each agency must get, so that a round can be
// checked.
package main

import (
	"flag"
	"fmt"
	"os"

	"quiniela/cmd/internal/cli"
	"quiniela/lottery/datagen"
)

func main() {
	out := flag.String("out", ".data", "folder to write agency-{i}.csv and winners.json into (agency files already there are never written over)")
	seed := flag.Uint64("seed", 1, "seed: the same seed writes the same files")
	agencies := flag.Int("agencies", len(datagen.OfficialSizes), "number of agencies")
	bets := flag.Int("bets", 0, "bets per agency (0: sized like the official set for 5 agencies, else 1000)")
	winners := flag.Int("winners", -1, "winners per agency (-1: about one in 5000 bets, at least one)")
	lf := flag.Bool("lf", false, "end lines with LF instead of CRLF")
	cli.Parse("datagen: writes synthetic agency files, shaped like the course's, and winners.json.", nil)
	if err := datagen.WriteSet(*out, *seed, *agencies, *bets, *winners, !*lf); err != nil {
		fmt.Fprintln(os.Stderr, "datagen:", err)
		os.Exit(1)
	}
}
