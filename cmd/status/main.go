// Command status prints the round as the central's admin endpoint sees it
// (GET /status), as a table for a terminal: each agency's bets, a bar, its
// end and connection, and the draw. It reads the admin endpoint only: a
// status query on an agency's number over the agency protocol would
// replace that agency's live session. `make status` runs it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"quiniela/cmd/internal/cli"
)

type status struct {
	Agencies []struct {
		Agency    int        `json:"agency"`
		Stored    int64      `json:"stored"`
		Ended     bool       `json:"ended"`
		Connected bool       `json:"connected"`
		LastSeen  *time.Time `json:"last_seen"`
	} `json:"agencies"`
	DrawDone bool           `json:"draw_done"`
	DrawTime *time.Time     `json:"draw_time"`
	Winners  map[string]int `json:"winners"`
}

func main() {
	admin := flag.String("admin", "127.0.0.1:12346", "host:port of the central's admin endpoint (SERVER_ADMIN_ADDRESS)")
	cli.Parse("status: prints the round from a central's admin endpoint.", nil)
	if err := run(os.Stdout, "http://"+*admin+"/status"); err != nil {
		fmt.Fprintln(os.Stderr, "status:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, url string) error {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	var st status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	most := int64(1)
	for _, a := range st.Agencies {
		most = max(most, a.Stored)
	}
	fmt.Fprintf(w, "%-7s %-22s %12s  %-5s  %-9s  %-8s  %s\n", "agency", "progress", "bets", "end", "connected", "seen", "winners")
	for _, a := range st.Agencies {
		share := float64(a.Stored) / float64(most)
		if a.Ended {
			share = 1
		}
		filled := int(share * 20)
		bar := "[" + strings.Repeat("#", filled) + strings.Repeat(".", 20-filled) + "]"
		end, conn, seen, winners := "", "no", "", ""
		if a.Ended {
			end = "yes"
		}
		if a.Connected {
			conn = "yes"
		}
		if a.LastSeen != nil {
			seen = a.LastSeen.Local().Format(time.TimeOnly)
		}
		if st.DrawDone {
			winners = fmt.Sprint(st.Winners[fmt.Sprint(a.Agency)])
		}
		fmt.Fprintf(w, "%-7d %-22s %12d  %-5s  %-9s  %-8s  %s\n", a.Agency, bar, a.Stored, end, conn, seen, winners)
	}
	if st.DrawDone && st.DrawTime != nil {
		fmt.Fprintf(w, "draw: done at %s\n", st.DrawTime.Local().Format(time.TimeOnly))
	} else {
		fmt.Fprintln(w, "draw: pending")
	}
	return nil
}
