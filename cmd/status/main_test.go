package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestTheTableShowsTheCentralEachAgencyTheTotalsAndTheDraw(t *testing.T) {
	t.Parallel()
	// Twenty-three rounds drawn before the open one, round N with N bets
	// and one winner of agency 1.
	var many []string
	manyLines := []string{"round: 24 (open)", "agency   bets stored  ended  connected  last seen                  winners", "draw: pending", "past rounds, newest first:"}
	for n := 1; n <= 23; n++ {
		many = append(many, fmt.Sprintf(`{"round":%d,"bets":%d,"winners":{"1":1},"draw_time":"2026-11-28T21:%02d:00Z"}`, n, n, n))
	}
	for n := 23; n > 3; n-- {
		manyLines = append(manyLines, fmt.Sprintf("round %d: %d bets, 1 winner (agency 1: 1), drawn at 2026-11-28T21:%02d:00Z", n, n, n))
	}
	manyLines = append(manyLines, "3 earlier rounds not shown")
	for _, c := range []struct {
		name   string
		status string
		want   []string
	}{
		{
			name: "a round under way shows what is stored, the rate and the central, in the central's zone",
			status: `{"agencies":[{"agency":1,"stored":200,"ended":true,"connected":false,"last_seen":"2026-11-28T21:00:01.25-03:00"},
				{"agency":2,"stored":2100000,"ended":false,"connected":true,"last_seen":"2026-11-28T21:00:02.5-03:00"}],
				"draw_done":false,"totals":{"stored":2100200,"ended":1,"connected":1,"agencies":2},
				"rate":{"start":"2026-11-28T20:59:00-03:00","interval_seconds":2,"bets_per_second":[1000,3000,2000]},
				"central":{"version":"v1.4.0","go_version":"go1.26.0","started":"2026-11-28T20:00:00-03:00","uptime_seconds":3723,
				"store":{"kind":"postgresql","where":"postgres://lottery:xxxxx@db:5432/quiniela"},"tls":"mutual"}}`,
			want: []string{
				"central v1.4.0 (go1.26.0), up 1h2m3s since 2026-11-28T20:00:00-03:00, store PostgreSQL postgres://lottery:xxxxx@db:5432/quiniela, TLS mutual",
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                200  yes    no         2026-11-28T21:00:01-03:00",
				"2            2100000  no     yes        2026-11-28T21:00:02-03:00",
				"total        2100200  1/2    1/2",
				"bets/s: last 2000, peak 3000, mean 2000 over 6s from 2026-11-28T20:59:00-03:00",
				"draw: pending",
			},
		},
		{
			name: "a round drawn shows each agency's winners and the draw's time",
			status: `{"agencies":[{"agency":1,"stored":5,"ended":true,"connected":false}],"draw_done":true,"draw_time":"2026-11-28T21:05:00Z",
				"winners":{"1":2},"totals":{"stored":5,"ended":1,"connected":0,"agencies":1,"winners":2},
				"rate":{"interval_seconds":1,"bets_per_second":[]},
				"central":{"version":"v1.4.0","go_version":"go1.26.0","started":"2026-11-28T21:00:00Z","uptime_seconds":59,
				"store":{"kind":"csv","where":".data/round/bets.csv"},"tls":"off"}}`,
			want: []string{
				"central v1.4.0 (go1.26.0), up 59s since 2026-11-28T21:00:00Z, store CSV file .data/round/bets.csv, TLS off",
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                  5  yes    no                                          2",
				"total              5  1/1    0/1                                         2",
				"draw: done at 2026-11-28T21:05:00Z",
			},
		},
		{
			name: "a round drawn at its closing time says when betting closed and who was absent",
			status: `{"agencies":[{"agency":1,"stored":5,"ended":true,"connected":false},{"agency":2,"stored":0,"ended":false,"connected":false},
				{"agency":3,"stored":0,"ended":false,"connected":false}],"draw_done":true,"draw_time":"2026-11-28T21:00:00Z",
				"closing_time":"2026-11-28T21:00:00Z","betting_closed":true,"absent":[2,3]}`,
			want: []string{
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                  5  yes    no                                          0",
				"2                  0  no     no                                          0",
				"3                  0  no     no                                          0",
				"betting: closed at 2026-11-28T21:00:00Z",
				"draw: done at 2026-11-28T21:00:00Z, absent: 2,3",
			},
		},
		{
			name:   "a round with a closing time ahead says when betting closes",
			status: `{"agencies":[],"draw_done":false,"closing_time":"2026-11-28T21:00:00-03:00","betting_closed":false}`,
			want: []string{
				"agency   bets stored  ended  connected  last seen                  winners",
				"betting: closes at 2026-11-28T21:00:00-03:00, or when every agency has ended",
				"draw: pending",
			},
		},
		{
			name: "continuous rounds show the open round and the past ones, newest first",
			status: `{"agencies":[{"agency":1,"stored":3,"ended":false,"connected":true},{"agency":2,"stored":0,"ended":false,"connected":false}],
				"draw_done":false,"round":3,"rounds":[
				{"round":1,"bets":60,"winners":{"1":3,"2":0},"draw_time":"2026-11-28T21:00:00-03:00","absent":[2]},
				{"round":2,"bets":65,"winners":{"1":4,"2":2},"draw_time":"2026-11-28T21:05:00-03:00"}],
				"totals":{"stored":3,"ended":0,"connected":1,"agencies":2}}`,
			want: []string{
				"round: 3 (open)",
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                  3  no     yes",
				"2                  0  no     no",
				"total              3  0/2    1/2",
				"draw: pending",
				"past rounds, newest first:",
				"round 2: 65 bets, 6 winners (agency 1: 4, 2: 2), drawn at 2026-11-28T21:05:00-03:00",
				"round 1: 60 bets, 3 winners (agency 1: 3, 2: 0), drawn at 2026-11-28T21:00:00-03:00, absent: 2",
			},
		},
		{
			name: "a past round whose draw time was not kept says so, and its agencies come in their numbers' order",
			status: `{"agencies":[],"draw_done":false,"round":2,"rounds":[
				{"round":1,"bets":12,"winners":{"10":1,"9":0,"1":2}}]}`,
			want: []string{
				"round: 2 (open)",
				"agency   bets stored  ended  connected  last seen                  winners",
				"draw: pending",
				"past rounds, newest first:",
				"round 1: 12 bets, 3 winners (agency 1: 2, 9: 0, 10: 1), draw time unknown",
			},
		},
		{
			name:   "only the last twenty past rounds are shown, and how many earlier ones are not",
			status: `{"agencies":[],"draw_done":false,"round":24,"rounds":[` + strings.Join(many, ",") + `]}`,
			want:   manyLines,
		},
		{
			name:   "rounds the central no longer lists are counted among those not shown",
			status: `{"agencies":[],"draw_done":false,"round":151,"past_rounds":150,"rounds":[` + strings.Join(many, ",") + `]}`,
			want:   append(append([]string{"round: 151 (open)"}, manyLines[1:len(manyLines)-1]...), "130 earlier rounds not shown"),
		},
		{
			name:   "a single round does not say its number",
			status: `{"agencies":[{"agency":1,"stored":7,"ended":false,"connected":true}],"draw_done":false,"round":1}`,
			want: []string{
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                  7  no     yes",
				"draw: pending",
			},
		},
		{
			name:   "an older central's status, without the totals, rate or central, still prints its agencies",
			status: `{"agencies":[{"agency":1,"stored":7,"ended":false,"connected":true}],"draw_done":false}`,
			want: []string{
				"agency   bets stored  ended  connected  last seen                  winners",
				"1                  7  no     yes",
				"draw: pending",
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/status" {
					http.NotFound(w, r)
					return
				}
				w.Write([]byte(c.status))
			}))
			defer srv.Close()
			var out strings.Builder
			if err := run(&out, srv.URL+"/status"); err != nil {
				t.Fatal(err)
			}
			if got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestANonAnswerIsAnError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	if err := run(&strings.Builder{}, srv.URL+"/status"); err == nil {
		t.Error("a 404 was read as a status")
	}
}
