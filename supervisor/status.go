package supervisor

import (
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// started is when the central's process started, for its uptime: a
// central that stood by and took over later has been up all along.
var started = time.Now()

// statusJSON is /status: per agency its bets stored, its end, whether a
// connection speaks for it and when it last sent a frame; the draw, its
// time, and each agency's number of winners once drawn (never their
// documents); the totals, the bets stored per second over the round, and
// the central itself.
type statusJSON struct {
	Agencies []agencyJSON   `json:"agencies"`
	DrawDone bool           `json:"draw_done"`
	DrawTime *time.Time     `json:"draw_time,omitempty"`
	Winners  map[string]int `json:"winners,omitempty"`
	// ClosingTime is the round's closing instant (SERVER_CLOSING_TIME),
	// absent without one; BettingClosed says whether it has passed; Absent
	// the agencies that had not ended when the draw ran.
	ClosingTime   *time.Time `json:"closing_time,omitempty"`
	BettingClosed bool       `json:"betting_closed"`
	Absent        []uint16   `json:"absent,omitempty"`
	// Round is the open round's number (1, 2, …); Rounds the last rounds
	// drawn before it (at most keptRounds), with continuous rounds
	// (SERVER_ROUNDS=continuous), and PastRounds how many were drawn
	// before it in all.
	Round      uint32      `json:"round"`
	Rounds     []pastRound `json:"rounds,omitempty"`
	PastRounds int         `json:"past_rounds,omitempty"`
	// Totals: stored, ended, connected and agencies, and winners once
	// drawn.
	Totals  map[string]int64 `json:"totals"`
	Rate    rateJSON         `json:"rate"`
	Central centralJSON      `json:"central"`
}

// pastRound is a round drawn before the open one: its bets, each agency's
// number of winners, when it was drawn (absent when the store did not keep
// it) and the agencies that had not ended.
type pastRound struct {
	Round    uint32         `json:"round"`
	Bets     int64          `json:"bets"`
	Winners  map[string]int `json:"winners"`
	DrawTime *time.Time     `json:"draw_time,omitempty"`
	Absent   []uint16       `json:"absent,omitempty"`
}

type agencyJSON struct {
	Agency    uint16     `json:"agency"`
	Stored    uint32     `json:"stored"`
	Ended     bool       `json:"ended"`
	Connected bool       `json:"connected"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

// centralJSON is what the operator sees of the central itself.
type centralJSON struct {
	Version       string    `json:"version"`
	GoVersion     string    `json:"go_version"`
	Started       time.Time `json:"started"`
	UptimeSeconds int64     `json:"uptime_seconds"`
	Store         storeJSON `json:"store"`
	TLS           string    `json:"tls"` // "mutual" or "off"
}

type storeJSON struct {
	Kind  string `json:"kind"`  // "csv", "postgresql" or "" (not said)
	Where string `json:"where"` // the file's path, or the URL without its password
}

func (s *Server) status() statusJSON {
	r := s.book.open()
	states, drawn, drawTime := r.snapshot()
	st := statusJSON{DrawDone: drawn, Round: r.number, Totals: map[string]int64{"stored": 0, "ended": 0, "connected": 0, "agencies": int64(len(states))}}
	if closes := r.closingInstant(); !closes.IsZero() {
		st.ClosingTime = &closes
		st.BettingClosed = r.isClosed()
	}
	kept, all := s.book.history()
	for _, past := range kept {
		st.Rounds = append(st.Rounds, past.summary())
	}
	st.PastRounds = all
	if drawn {
		st.Absent = r.absentees()
		st.DrawTime = &drawTime
		st.Winners = map[string]int{}
		st.Totals["winners"] = 0
	}
	for _, a := range states {
		j := agencyJSON{Agency: a.Agency, Stored: a.Stored, Ended: a.Ended, Connected: s.conns.speaksFor(a.Agency)}
		if !a.LastSeen.IsZero() {
			seen := a.LastSeen
			j.LastSeen = &seen
		}
		st.Agencies = append(st.Agencies, j)
		st.Totals["stored"] += int64(a.Stored)
		if a.Ended {
			st.Totals["ended"]++
		}
		if j.Connected {
			st.Totals["connected"]++
		}
		if drawn {
			st.Winners[strconv.Itoa(int(a.Agency))] = a.Winners
			st.Totals["winners"] += int64(a.Winners)
		}
	}
	st.Rate = r.rateSeries()
	tlsMode := "off"
	if s.cfg.TLS != nil {
		tlsMode = "mutual"
	}
	st.Central = centralJSON{
		Version: s.version(), GoVersion: runtime.Version(),
		Started: started.Truncate(time.Second), UptimeSeconds: int64(time.Since(started).Seconds()),
		Store: describeStore(s.cfg.Store), TLS: tlsMode,
	}
	return st
}

// summary is what /status shows of a round drawn before the open one.
func (d *round) summary() pastRound {
	states, _, drawTime := d.snapshot()
	p := pastRound{Round: d.number, Winners: map[string]int{}, Absent: d.absentees()}
	if !drawTime.IsZero() {
		p.DrawTime = &drawTime
	}
	for _, a := range states {
		p.Bets += int64(a.Stored)
		p.Winners[strconv.Itoa(int(a.Agency))] = a.Winners
	}
	return p
}

// version is the build's version, or "unknown" when none was given.
func (s *Server) version() string {
	if s.cfg.Version == "" {
		return "unknown"
	}
	return s.cfg.Version
}

// describeStore names the store for the operator: a URL is a database's,
// shown without its password (in the user part or in the query) whoever
// passed it; anything else is the CSV file's path.
func describeStore(store string) storeJSON {
	if store == "" {
		return storeJSON{}
	}
	if !strings.Contains(store, "://") {
		return storeJSON{Kind: "csv", Where: store}
	}
	u, err := url.Parse(store)
	if err != nil {
		return storeJSON{Kind: "database", Where: "(a URL that does not parse, not shown)"}
	}
	kind := "database"
	if u.Scheme == "postgres" || u.Scheme == "postgresql" {
		kind = "postgresql"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return storeJSON{Kind: kind, Where: u.Redacted()}
}

// What the operator sees of a round, for /status and the page.

// seen notes a valid frame of the agency.
func (d *round) seen(agency uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lastSeen[agency] = time.Now()
}

// agencyState is what the operator sees of one agency; Winners only once
// the draw has happened.
type agencyState struct {
	Agency   uint16
	Stored   uint32
	Ended    bool
	LastSeen time.Time
	Winners  int
}

// snapshot is the state of every agency 1..agencies, the draw's, and its
// time (zero before it).
func (d *round) snapshot() (agencies []agencyState, drawn bool, drawTime time.Time) {
	drawn = d.done()
	d.mu.Lock()
	defer d.mu.Unlock()
	for a := uint16(1); int(a) <= d.agencies; a++ {
		st := agencyState{Agency: a, Stored: d.stored[a], Ended: d.finished[a], LastSeen: d.lastSeen[a]}
		if drawn {
			st.Winners = len(d.winners[a])
		}
		agencies = append(agencies, st)
	}
	return agencies, drawn, d.drawTime
}

// rateSeries is the bets stored per second until now, or until the draw
// once it has happened.
func (d *round) rateSeries() rateJSON {
	drawn := d.done()
	d.mu.Lock()
	defer d.mu.Unlock()
	if drawn {
		return d.rate.series(d.drawTime, true)
	}
	return d.rate.series(time.Now(), false)
}
