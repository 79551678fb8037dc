package supervisor

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"quiniela/lottery"
	"quiniela/protocol"
)

func startAdminServer(t *testing.T, cfg Config) (*testServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin = ln
	return startServer(t, cfg, nil), "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// scrape parses /metrics with Prometheus's own parser.
func scrape(t *testing.T, base string) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return families, body
}

// value sums a family's samples whose labels include want.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := families[name]
	if !ok {
		return -1
	}
	sum := 0.0
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestTheAdminEndpointFollowsARound(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	cfg.MaxConnections = 3
	cfg.Version = "v1.2.3-test"
	cfg.Store = "round/bets.csv"
	ts, base := startAdminServer(t, cfg)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/": 200, "/nothing": 404} {
		if code, _ := get(t, base+path); code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	if _, page := get(t, base+"/"); !bytes.Contains(page, []byte("<table")) || !bytes.Contains(page, []byte("fetch(\"status\"")) {
		t.Errorf("the page is not the status page:\n%s", page)
	}
	before, _ := scrape(t, base)

	one, two := dial(t, ts.addr), dial(t, ts.addr)
	for i := range 3 {
		if code := one.batch(1, bets(1, uint32(1+10*i), 10)); code != protocol.CodeOK {
			t.Fatalf("agency 1: %v", code)
		}
	}
	if code := two.batch(2, bets(2, 1, 7)); code != protocol.CodeOK {
		t.Fatalf("agency 2: %v", code)
	}
	if code := two.batch(2, bets(9, 1, 1)); code != protocol.CodeAgencyMismatch {
		t.Fatalf("a mismatched batch: %v", code)
	}
	// Two silent sockets beside the two agencies, at a bound of three: the
	// second evicts the first.
	first := dial(t, ts.addr)
	dial(t, ts.addr)
	if !first.closedByServer() {
		t.Fatal("the silent connection was not evicted at the bound")
	}
	during, _ := scrape(t, base)
	if one.end(1) != protocol.CodeOK || two.end(2) != protocol.CodeOK {
		t.Fatal("end")
	}
	after, text := scrape(t, base)

	for _, c := range []struct {
		name   string
		labels map[string]string
		before float64
		after  float64
	}{
		{"quiniela_bets_stored_total", map[string]string{"agency": "1"}, -1, 30},
		{"quiniela_bets_stored_total", map[string]string{"agency": "2"}, -1, 7},
		{"quiniela_batches_total", map[string]string{"code": "0"}, -1, 4},
		{"quiniela_batches_total", map[string]string{"code": "-4"}, -1, 1},
		{"quiniela_agencies_ended", nil, 0, 2},
		{"quiniela_draw_done", nil, 0, 1},
		{"quiniela_batch_ack_seconds", nil, 0, 4},
		{"quiniela_build_info", map[string]string{"version": "v1.2.3-test", "goversion": runtime.Version()}, 1, 1},
	} {
		if got := value(before, c.name, c.labels); got != c.before {
			t.Errorf("%s%v before the round: %v, want %v", c.name, c.labels, got, c.before)
		}
		if got := value(after, c.name, c.labels); got != c.after {
			t.Errorf("%s%v after the round: %v, want %v", c.name, c.labels, got, c.after)
		}
	}
	for _, name := range []string{"quiniela_received_bytes_total", "quiniela_store_fsync_seconds"} {
		if value(after, name, nil) <= value(before, name, nil) {
			t.Errorf("%s did not move: %v then %v", name, value(before, name, nil), value(after, name, nil))
		}
	}
	if value(during, "quiniela_sessions_open", nil) != 3 || value(after, "quiniela_store_queue_bytes", nil) != 0 {
		t.Errorf("sessions open during the round %v, queue bytes after %v", value(during, "quiniela_sessions_open", nil), value(after, "quiniela_store_queue_bytes", nil))
	}
	if value(before, "quiniela_connections_limited_total", nil) != -1 || value(after, "quiniela_connections_limited_total", map[string]string{"outcome": "evicted"}) != 1 {
		t.Errorf("connections limited: %v before, %v evicted after, want none and 1",
			value(before, "quiniela_connections_limited_total", nil), value(after, "quiniela_connections_limited_total", map[string]string{"outcome": "evicted"}))
	}
	if value(after, "go_goroutines", nil) <= 0 {
		t.Errorf("no Go runtime metrics")
	}

	// /status says what the store holds, and the winners' count only.
	_, raw := get(t, base+"/status")
	var st statusJSON
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, raw)
	}
	stored := map[uint16]uint32{}
	for _, b := range ts.storedBets(t) {
		stored[b.Agency]++
	}
	if len(st.Agencies) != 2 || !st.DrawDone || st.DrawTime == nil {
		t.Fatalf("/status: %s", raw)
	}
	for _, a := range st.Agencies {
		if a.Stored != stored[a.Agency] || !a.Ended || !a.Connected || a.LastSeen == nil {
			t.Errorf("agency %d in /status: %+v, the store holds %d", a.Agency, a, stored[a.Agency])
		}
	}
	if st.Winners["1"] != len(winnersAmong(bets(1, 1, 30))) || st.Winners["2"] != len(winnersAmong(bets(2, 1, 7))) {
		t.Errorf("winners in /status: %v", st.Winners)
	}
	if bytes.Contains(raw, []byte("document")) {
		t.Errorf("/status names documents: %s", raw)
	}
	// A single round is round 1, with no rounds before it.
	if !bytes.Contains(raw, []byte(`"round":1,`)) || bytes.Contains(raw, []byte(`"rounds"`)) {
		t.Errorf("/status of a single round does not say round 1 alone: %s", raw)
	}
	// The totals, the bets per second over the round, and the central.
	winners := int64(st.Winners["1"] + st.Winners["2"])
	if want := map[string]int64{"stored": 37, "ended": 2, "connected": 2, "agencies": 2, "winners": winners}; !maps.Equal(st.Totals, want) {
		t.Errorf("totals in /status: %v, want %v", st.Totals, want)
	}
	perInterval := 0.0
	for _, r := range st.Rate.BetsPerSecond {
		perInterval += r * st.Rate.IntervalSeconds
	}
	if st.Rate.Start == nil || st.Rate.Start.After(*st.DrawTime) || math.Abs(perInterval-37) > 0.5 {
		t.Errorf("the rate over the round sums to %v bets, want 37: %+v", perInterval, st.Rate)
	}
	c := st.Central
	if c.Version != "v1.2.3-test" || c.GoVersion != runtime.Version() || c.TLS != "off" || c.Store != (storeJSON{Kind: "csv", Where: "round/bets.csv"}) ||
		c.Started.IsZero() || c.Started.After(time.Now()) || c.UptimeSeconds < 0 {
		t.Errorf("the central in /status: %+v", c)
	}

	if promtool, err := exec.LookPath("promtool"); err != nil {
		t.Log("SKIP: promtool is not installed, the metrics were not linted")
	} else {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
	}

	ts.stop()
	if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("the admin endpoint still answers after the shutdown: %v", err)
	}
}

func TestTheStatusNamesTheStoreWithoutItsPassword(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, store string
		want        storeJSON
	}{
		{"a CSV file is named by its path", ".data/round/bets.csv", storeJSON{Kind: "csv", Where: ".data/round/bets.csv"}},
		{"a database URL loses the password of its user", "postgres://lottery:s3cret@db:5432/quiniela",
			storeJSON{Kind: "postgresql", Where: "postgres://lottery:xxxxx@db:5432/quiniela"}},
		{"a database URL loses the password of its query", "postgresql://lottery@db/quiniela?password=s3cret&sslmode=require",
			storeJSON{Kind: "postgresql", Where: "postgresql://lottery@db/quiniela?password=xxxxx&sslmode=require"}},
		{"a URL that does not parse is not shown", "postgres://lottery:s3cret@db:5432/%zz",
			storeJSON{Kind: "database", Where: "(a URL that does not parse, not shown)"}},
		{"a central told nothing says nothing", "", storeJSON{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := describeStore(c.store); got != c.want {
				t.Errorf("%q is shown as %+v, want %+v", c.store, got, c.want)
			}
		})
	}
}

// TestAContinuousCentralsStatusShowsTheOpenRoundAndTheRoundsDrawnBefore
// plays two rounds of two agencies on a central of continuous rounds and
// reads /status as the page and make status read it, by its field names:
// round 3 open, and rounds 1 and 2, oldest first, each with its bets, each
// agency's winners and its draw's time, and no absent agency.
func TestAContinuousCentralsStatusShowsTheOpenRoundAndTheRoundsDrawnBefore(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Agencies = 2
	cfg.Admin = ln
	ts := startContinuous(t, cfg, filepath.Join(t.TempDir(), "bets.csv"))
	played := [][2][]lottery.Bet{
		{bets(1, 100, 30), bets(2, 500, 7)},
		{bets(1, 1000, 20), bets(2, 2000, 15)},
	}
	for i, round := range played {
		two, _ := sendRun(t, ts.addr, 2, round[1])
		if joined, _ := playRun(t, ts.addr, 1, round[0]); joined != uint32(i+1) {
			t.Fatalf("run %d joined round %d", i+1, joined)
		}
		awaitDraw(t, two, 2)
	}
	waitFor(t, func() bool { return ts.srv.status().Round == 3 })

	_, raw := get(t, "http://"+ln.Addr().String()+"/status")
	var st struct {
		Round  int              `json:"round"`
		Rounds []map[string]any `json:"rounds"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, raw)
	}
	if st.Round != 3 || len(st.Rounds) != 2 {
		t.Fatalf("/status says round %d with %d rounds before it, want round 3 and 2:\n%s", st.Round, len(st.Rounds), raw)
	}
	for i, r := range st.Rounds {
		want := map[string]any{"round": float64(i + 1), "bets": float64(len(played[i][0]) + len(played[i][1])),
			"winners": map[string]any{"1": float64(len(winnersAmong(played[i][0]))), "2": float64(len(winnersAmong(played[i][1])))}}
		drawn, _ := r["draw_time"].(string)
		if _, err := time.Parse(time.RFC3339Nano, drawn); err != nil {
			t.Errorf("round %d's draw time %q: %v", i+1, drawn, err)
		}
		delete(r, "draw_time")
		if !reflect.DeepEqual(r, want) {
			t.Errorf("round %d in /status: %v, want %v and its draw time, no absent agency", i+1, r, want)
		}
	}
}
