// Command status prints the round as the central's admin endpoint sees it
// (GET /status), as a table for a terminal: the central (version, uptime,
// store, TLS), each agency's bets stored, end, connection, last frame and
// winners, the totals, the bets stored per second, and the draw; with
// continuous rounds, the open round's number and the last rounds drawn
// before it, newest first. Times are the central's, in ISO 8601 with its
// zone, as the page at / shows them.
// It reads the admin endpoint only: a status query on an agency's number
// over the agency protocol would replace that agency's live session.
// `make status` runs it.
package main

import (
	"cmp"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
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
	DrawDone bool       `json:"draw_done"`
	DrawTime *time.Time `json:"draw_time"`
	// The closing time, when one is set: when betting closes, whether it
	// has, and the agencies that had not ended when the draw ran.
	ClosingTime   *time.Time     `json:"closing_time"`
	BettingClosed bool           `json:"betting_closed"`
	Absent        []int          `json:"absent"`
	Winners       map[string]int `json:"winners"`
	// Round is the open round's number (0 from a central older than
	// rounds); Rounds the last rounds drawn before it, oldest first, and
	// PastRounds how many were drawn before it in all.
	Round      int              `json:"round"`
	Rounds     []pastRound      `json:"rounds"`
	PastRounds int              `json:"past_rounds"`
	Totals     map[string]int64 `json:"totals"`
	Rate       struct {
		Start           *time.Time `json:"start"`
		IntervalSeconds float64    `json:"interval_seconds"`
		BetsPerSecond   []float64  `json:"bets_per_second"`
	} `json:"rate"`
	Central *struct {
		Version       string    `json:"version"`
		GoVersion     string    `json:"go_version"`
		Started       time.Time `json:"started"`
		UptimeSeconds int64     `json:"uptime_seconds"`
		Store         struct {
			Kind  string `json:"kind"`
			Where string `json:"where"`
		} `json:"store"`
		TLS string `json:"tls"`
	} `json:"central"`
}

type pastRound struct {
	Round    int            `json:"round"`
	Bets     int64          `json:"bets"`
	Winners  map[string]int `json:"winners"`
	DrawTime *time.Time     `json:"draw_time"`
	Absent   []int          `json:"absent"`
}

// shownRounds is how many past rounds are printed, the newest, as the page
// shows them.
const shownRounds = 20

func main() {
	admin := flag.String("admin", "127.0.0.1:12346", "host:port of the central's admin endpoint (SERVER_ADMIN_ADDRESS)")
	cli.Parse("status: prints the round from a central's admin endpoint.", nil)
	if err := run(os.Stdout, "http://"+*admin+"/status"); err != nil {
		fmt.Fprintln(os.Stderr, "status:", err)
		os.Exit(1)
	}
}

// iso writes a time as the central gave it: to the second, with its zone.
func iso(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
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
	if c := st.Central; c != nil {
		store := map[string]string{"csv": "CSV file ", "postgresql": "PostgreSQL "}[c.Store.Kind] + c.Store.Where
		if c.Store.Where == "" {
			store = "not said"
		}
		fmt.Fprintf(w, "central %s (%s), up %s since %s, store %s, TLS %s\n",
			c.Version, c.GoVersion, time.Duration(c.UptimeSeconds)*time.Second, iso(&c.Started), store, c.TLS)
	}
	// The open round's number, once there is more than one round.
	if st.Round > 1 || len(st.Rounds) > 0 {
		fmt.Fprintf(w, "round: %d (open)\n", st.Round)
	}
	row := func(cells ...any) {
		fmt.Fprintln(w, strings.TrimRight(fmt.Sprintf("%-7v %12v  %-5s  %-9s  %-25s  %7v", cells...), " "))
	}
	row("agency", "bets stored", "ended", "connected", "last seen", "winners")
	for _, a := range st.Agencies {
		end, conn, winners := "no", "no", ""
		if a.Ended {
			end = "yes"
		}
		if a.Connected {
			conn = "yes"
		}
		if st.DrawDone {
			winners = fmt.Sprint(st.Winners[fmt.Sprint(a.Agency)])
		}
		row(a.Agency, a.Stored, end, conn, iso(a.LastSeen), winners)
	}
	if t := st.Totals; t != nil {
		winners := ""
		if st.DrawDone {
			winners = fmt.Sprint(t["winners"])
		}
		row("total", t["stored"], fmt.Sprintf("%d/%d", t["ended"], t["agencies"]),
			fmt.Sprintf("%d/%d", t["connected"], t["agencies"]), "", winners)
	}
	if r := st.Rate; len(r.BetsPerSecond) > 0 {
		sum, peak := 0.0, 0.0
		for _, v := range r.BetsPerSecond {
			sum, peak = sum+v, max(peak, v)
		}
		span := time.Duration(float64(len(r.BetsPerSecond))*r.IntervalSeconds) * time.Second
		fmt.Fprintf(w, "bets/s: last %.0f, peak %.0f, mean %.0f over %s from %s\n",
			r.BetsPerSecond[len(r.BetsPerSecond)-1], peak, sum/float64(len(r.BetsPerSecond)), span, iso(r.Start))
	}
	switch {
	case st.ClosingTime == nil:
	case st.BettingClosed:
		fmt.Fprintf(w, "betting: closed at %s\n", iso(st.ClosingTime))
	default:
		fmt.Fprintf(w, "betting: closes at %s, or when every agency has ended\n", iso(st.ClosingTime))
	}
	if st.DrawDone && st.DrawTime != nil {
		fmt.Fprintf(w, "draw: done at %s%s\n", iso(st.DrawTime), absentList(st.Absent))
	} else {
		fmt.Fprintln(w, "draw: pending")
	}
	if len(st.Rounds) > 0 {
		printPast(w, st.Rounds, st.PastRounds)
	}
	return nil
}

// absentList is ", absent: 2,3", or nothing when no agency was absent.
func absentList(agencies []int) string {
	if len(agencies) == 0 {
		return ""
	}
	names := make([]string, len(agencies))
	for i, a := range agencies {
		names[i] = strconv.Itoa(a)
	}
	return ", absent: " + strings.Join(names, ",")
}

// printPast writes the last shownRounds of rounds (oldest first, as
// /status gives them) one a line, newest first, and how many earlier ones
// of all (the past rounds' count) it left out.
func printPast(w io.Writer, rounds []pastRound, all int) {
	fmt.Fprintln(w, "past rounds, newest first:")
	shown := rounds[max(0, len(rounds)-shownRounds):]
	for i := len(shown) - 1; i >= 0; i-- {
		r := shown[i]
		total, each := 0, ""
		for _, a := range slices.SortedFunc(maps.Keys(r.Winners), func(a, b string) int { return cmp.Compare(atoi(a), atoi(b)) }) {
			total += r.Winners[a]
			each += fmt.Sprintf(", %s: %d", a, r.Winners[a])
		}
		if each != "" {
			each = " (agency " + each[2:] + ")"
		}
		drawn := "drawn at " + iso(r.DrawTime)
		if r.DrawTime == nil {
			drawn = "draw time unknown"
		}
		fmt.Fprintf(w, "round %d: %s, %s%s, %s%s\n", r.Round, count(r.Bets, "bet"), count(int64(total), "winner"), each, drawn, absentList(r.Absent))
	}
	switch left := max(all, len(rounds)) - len(shown); left {
	case 0:
	case 1:
		fmt.Fprintln(w, "1 earlier round not shown")
	default:
		fmt.Fprintf(w, "%d earlier rounds not shown\n", left)
	}
}

// count is "1 bet", "2 bets".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// atoi is an agency's number as /status writes it, a key of winners; a key
// that is not a number sorts first.
func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
