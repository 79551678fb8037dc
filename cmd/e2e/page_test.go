package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

// isoTime is a time as the page and make status show it: ISO 8601 to the
// second, 24-hour, with the zone.
const isoTime = `\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)`

// TestTheStatusPageShowsTheRoundInARealBrowser loads the admin page in a
// headless Chromium once a round is over (the central still up) and reads
// the page as its script left it: each agency's bets, end and winners, the
// totals row, the chart of bets per second drawn from the round's own
// numbers, the central's version, uptime, store and TLS mode, and every
// time in ISO 8601 with its zone. The agencies start one after another, so
// that the round spans more than an instant. The screenshot stays in the
// test's temporary folder (QUINIELA_PAGE_SHOT=path copies it there too).
func TestTheStatusPageShowsTheRoundInARealBrowser(t *testing.T) {
	t.Parallel()
	browser := findBrowser(t)
	dir := t.TempDir()
	admin := "127.0.0.1:" + proctest.FreePort(t)
	// The central's own zone, which its times carry; its store named by a
	// relative path, as the screenshot may show it.
	const zone = "America/Argentina/Buenos_Aires"
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=3", "SERVER_ADMIN_ADDRESS="+admin,
		"TZ="+zone, "STORAGE_FILEPATH=bets.csv")
	server.WaitForLine(t, logattr.AdminListen, logattr.Success)
	var clients []*proctest.Process
	for i := 1; i <= 3; i++ {
		file := filepath.Join(dir, fmt.Sprintf("agency-%d.csv", i))
		proctest.CourseFile(t, file, 1500*i, 1, 2)
		clients = append(clients, proctest.Start(t, bins["client"], dir, clientEnv(i, addr, "CLI_DATA_FILE="+file, "CLI_BATCH_MAX_AMOUNT=5")...))
		if i == 3 {
			break
		}
		// The next agency starts once this one has ended and the
		// central's interval under way at its end is over: each sends in
		// an interval of its own.
		st := awaitStatus(t, admin, fmt.Sprintf("agency %d's end", i), func(st roundStatus) bool { return st.Agencies[i-1].Ended })
		n := len(st.Rate.BetsPerSecond)
		awaitStatus(t, admin, "the next interval", func(st roundStatus) bool { return len(st.Rate.BetsPerSecond) > n })
	}
	for i, c := range clients {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("agency %d exited %d:\n%s", i+1, code, c.Log())
		}
	}
	out, err := exec.Command(bins["server"], "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	_, version, _ := strings.Cut(strings.TrimSpace(string(out)), " ") // after the program's name

	shot := filepath.Join(dir, "status-page.png")
	dom := browse(t, browser, dir, "--dump-dom", "http://"+admin+"/")
	browse(t, browser, dir, "--screenshot="+shot, "http://"+admin+"/")

	rows := regexp.MustCompile(`<tr id="agency-(\d+)" data-ended="true"><td>\d+</td><td class="num">([\d,]+)</td><td class="yes">yes</td>`+
		`<td>(?:yes|no)</td><td>(`+isoTime+`)</td><td class="num">(\d+)</td></tr>`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Fatalf("%d agencies shown ended with their bets, last frame and winners, want 3:\n%s", len(rows), dom)
	}
	for _, r := range rows {
		bets := 1500 * atoi(t, r[1])
		if want := fmt.Sprintf("%d,%03d", bets/1000, bets%1000); r[2] != want || r[4] != "2" {
			t.Errorf("agency %s shows %s bets and %s winners, want %s and 2", r[1], r[2], r[4], want)
		}
	}
	if !regexp.MustCompile(`<tr id="totals"><th>total</th><td class="num">9,000</td><td>3 of 3</td><td>\d of 3</td><td></td><td class="num">6</td></tr>`).MatchString(dom) {
		t.Errorf("no totals row of 9,000 bets, 3 of 3 ended and 6 winners:\n%s", dom)
	}
	drawn := regexp.MustCompile(`<p id="draw" class="done">Draw done at (` + isoTime + `): 6 winners</p>`).FindStringSubmatch(dom)
	if drawn == nil {
		t.Fatalf("the page does not show the draw done, at an ISO time, with 6 winners:\n%s", dom)
	}
	// make status prints the same round, and the draw's time as the page.
	table, err := exec.Command(bins["status"], "-admin", admin).Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(string(table), "\ndraw: done at "+drawn[1]+"\n") || !regexp.MustCompile(`\ntotal +9000  3/3 `).Match(table) {
		t.Errorf("make status does not print the draw at %s and 9000 bets:\n%s", drawn[1], table)
	}

	// The chart is the round's: its points add up to the bets stored.
	chart := regexp.MustCompile(`<svg id="rate"[^>]*data-points="(\d+)" data-bets="(\d+)"[^>]*><polygon class="area" points="([^"]+)"`).FindStringSubmatch(dom)
	if chart == nil {
		t.Fatalf("no chart of the bets per second drawn:\n%s", dom)
	}
	if steps := (len(strings.Fields(chart[3])) - 2) / 2; chart[2] != "9000" || strconv.Itoa(steps) != chart[1] || steps < 3 {
		t.Errorf("the chart draws %d steps for %s intervals and %s bets, want one step per interval, at least 3, and 9000 bets", steps, chart[1], chart[2])
	}
	if !regexp.MustCompile(`<p id="rate-summary">last [\d,]+/s, peak [\d,]+/s, mean [\d,]+/s over \d+s from ` + isoTime + `, one step every 1s</p>`).MatchString(dom) {
		t.Errorf("the chart's summary does not say the rates and the span:\n%s", dom)
	}

	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`<dt>version</dt><dd>` + regexp.QuoteMeta(version) + ` \(go[\d.]+\)</dd>`),
		regexp.MustCompile(`<dt>up</dt><dd>(\d+h)?(\d+m)?\d+s, since ` + isoTime + `</dd>`),
		regexp.MustCompile(`<dt>store</dt><dd>CSV file bets.csv</dd>`),
		regexp.MustCompile(`<dt>TLS</dt><dd>off: plain TCP</dd>`),
	} {
		if !want.MatchString(dom) {
			t.Errorf("the central is not described as %s:\n%s", want, dom)
		}
	}
	if _, err := time.LoadLocation(zone); err == nil {
		times := regexp.MustCompile(isoTime).FindAllString(dom, -1)
		for _, at := range times {
			if !strings.HasSuffix(at, "-03:00") {
				t.Errorf("%s is not in the central's zone, %s (-03:00)", at, zone)
			}
		}
		if len(times) < 6 { // the draw, the start, the chart's, and each agency's last frame
			t.Errorf("%d times shown, want at least 6: %q", len(times), times)
		}
	}
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	if keep := os.Getenv("QUINIELA_PAGE_SHOT"); keep != "" {
		if raw, err := os.ReadFile(shot); err != nil || os.WriteFile(keep, raw, 0o644) != nil {
			t.Errorf("the screenshot was not copied to %s", keep)
		}
	}
	t.Logf("screenshot: %s", shot)
}

// findBrowser is the headless browser's path; without one, or under
// -short, the test is skipped.
func findBrowser(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("SKIP: -short: needs a headless browser")
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("SKIP: no Chromium installed, the status page was not checked in a browser")
	return ""
}

// browse runs the headless browser on url with its profile in dir and
// what (--dump-dom, --screenshot=path), after 3 s of the page's own time,
// and returns what it printed.
func browse(t *testing.T, browser, dir, what, url string) string {
	t.Helper()
	out, err := exec.Command(browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,680",
		"--user-data-dir="+filepath.Join(dir, "profile"), "--virtual-time-budget=3000", what, url).Output()
	if err != nil {
		t.Fatalf("%s: %v", browser, err)
	}
	return string(out)
}

// TestTheStatusPageShowsTheOpenRoundAndThePastOnesOfContinuousRounds plays
// two rounds of two agencies on a central of continuous rounds, each
// agency run once per round with a file of its own, and reads the page in
// a headless Chromium once round 3 has opened: its number in the heading,
// and rounds 2 and 1, newest first, each with its bets, its winners in
// all and per agency, and its draw's time. make status prints the same.
func TestTheStatusPageShowsTheOpenRoundAndThePastOnesOfContinuousRounds(t *testing.T) {
	t.Parallel()
	browser := findBrowser(t)
	dir := t.TempDir()
	admin := "127.0.0.1:" + proctest.FreePort(t)
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=2", "SERVER_ROUNDS=continuous", "SERVER_ADMIN_ADDRESS="+admin)
	server.WaitForLine(t, logattr.AdminListen, logattr.Success)
	// Round r's agency i sends 100*(2r+i) bets; agency 1's win on
	// r lines, agency 2's on one.
	for round := 1; round <= 2; round++ {
		var clients []*proctest.Process
		for i := 1; i <= 2; i++ {
			file := filepath.Join(dir, fmt.Sprintf("round-%d-agency-%d.csv", round, i))
			winning := []int{0}
			if i == 1 {
				winning = []int{0, 10, 20}[:round]
			}
			proctest.CourseFile(t, file, 100*(2*round+i), winning...)
			clients = append(clients, proctest.Start(t, bins["client"], dir, clientEnv(i, addr, "CLI_DATA_FILE="+file)...))
		}
		for i, c := range clients {
			if code, _ := c.Wait(t, time.Minute); code != 0 {
				t.Fatalf("round %d: agency %d exited %d:\n%s", round, i+1, code, c.Log())
			}
		}
	}
	awaitStatus(t, admin, "round 3", func(st roundStatus) bool { return st.Round == 3 })
	dom := browse(t, browser, dir, "--dump-dom", "http://"+admin+"/")

	if !strings.Contains(dom, `<h1 id="title">Quiniela: round 3</h1>`) {
		t.Errorf("the heading does not name round 3:\n%s", dom)
	}
	if !strings.Contains(dom, `<section id="past">`) || !strings.Contains(dom, `<p class="note" id="rounds-more" hidden=""></p>`) {
		t.Errorf("the past rounds are not shown, or a note says some are left out:\n%s", dom)
	}
	rows := regexp.MustCompile(`<tr id="round-(\d+)"><td class="num">\d+</td><td class="num">([\d,]+)</td><td class="num">(\d+)</td>`+
		`<td class="wrap">([^<]*)</td><td>(`+isoTime+`)</td><td></td></tr>`).FindAllStringSubmatch(dom, -1)
	want := [][]string{{"2", "1,100", "3", "1: 2, 2: 1"}, {"1", "700", "2", "1: 1, 2: 1"}}
	if len(rows) != len(want) {
		t.Fatalf("%d past rounds shown with their bets, winners, draw time and no absent agency, want rounds 2 and 1:\n%s", len(rows), dom)
	}
	for i, w := range want {
		if got := rows[i][1:5]; strings.Join(got, "|") != strings.Join(w, "|") {
			t.Errorf("past row %d shows round %s with %s bets, %s winners (%s), want round %s with %s, %s (%s)", i+1, got[0], got[1], got[2], got[3], w[0], w[1], w[2], w[3])
		}
	}

	// make status prints the open round and the same rounds, at the
	// page's draw times.
	out, err := exec.Command(bins["status"], "-admin", admin).Output()
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	table := string(out)
	lines := []string{"\nround: 3 (open)\n",
		"\nround 2: 1100 bets, 3 winners (agency 1: 2, 2: 1), drawn at " + rows[0][5] + "\n",
		"\nround 1: 700 bets, 2 winners (agency 1: 1, 2: 1), drawn at " + rows[1][5] + "\n"}
	at := 0
	for _, line := range lines {
		i := strings.Index(table[at:], line)
		if i < 0 {
			t.Fatalf("make status does not print %q after what came before:\n%s", strings.TrimSpace(line), table)
		}
		at += i + 1
	}
}

// TestTheStatusPageShowsTheLastTwentyPastRoundsAndSaysHowManyItLeavesOut
// serves the page with a /status of 23 rounds drawn before the open one
// (continuous rounds long under way): the page shows rounds 23 down to 4,
// says that 3 earlier rounds are not shown, and shows a round whose draw
// time was not kept, and its absent agencies.
func TestTheStatusPageShowsTheLastTwentyPastRoundsAndSaysHowManyItLeavesOut(t *testing.T) {
	t.Parallel()
	browser := findBrowser(t)
	page, err := os.ReadFile("../../supervisor/status.html")
	if err != nil {
		t.Fatal(err)
	}
	var rounds []string
	for n := 1; n <= 23; n++ {
		rounds = append(rounds, fmt.Sprintf(`{"round":%d,"bets":%d,"winners":{"1":1,"2":0},"draw_time":"2026-11-28T21:%02d:00-03:00"}`, n, 1000*n, n))
	}
	rounds[20] = `{"round":21,"bets":21000,"winners":{"1":0,"2":0,"3":0},"absent":[2,3]}`
	status := `{"agencies":[],"draw_done":false,"round":24,"rounds":[` + strings.Join(rounds, ",") + `],
		"totals":{"stored":0,"ended":0,"connected":0,"agencies":0},"rate":{"interval_seconds":1,"bets_per_second":[]},
		"central":{"version":"v1","go_version":"go1","started":"2026-11-28T20:00:00-03:00","uptime_seconds":1,"store":{},"tls":"off"}}`
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.Write(page) })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(status)) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dom := browse(t, browser, t.TempDir(), "--dump-dom", srv.URL+"/")

	if !strings.Contains(dom, `<h1 id="title">Quiniela: round 24</h1>`) {
		t.Errorf("the heading does not name round 24:\n%s", dom)
	}
	var shown []string
	for _, m := range regexp.MustCompile(`<tr id="round-(\d+)">`).FindAllStringSubmatch(dom, -1) {
		shown = append(shown, m[1])
	}
	if got := strings.Join(shown, ","); got != "23,22,21,20,19,18,17,16,15,14,13,12,11,10,9,8,7,6,5,4" {
		t.Errorf("past rounds shown: %s, want 23 down to 4", got)
	}
	for _, want := range []string{
		`<p class="note" id="rounds-more">3 earlier rounds are not shown; /status lists the last 23, the store every one.</p>`,
		`<tr id="round-23"><td class="num">23</td><td class="num">23,000</td><td class="num">1</td><td class="wrap">1: 1, 2: 0</td><td>2026-11-28T21:23:00-03:00</td><td></td></tr>`,
		`<tr id="round-21"><td class="num">21</td><td class="num">21,000</td><td class="num">0</td><td class="wrap">1: 0, 2: 0, 3: 0</td><td>unknown</td><td>2, 3</td></tr>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("the page does not show %s:\n%s", want, dom)
		}
	}
}

// roundStatus is what the test reads of the central's /status.
type roundStatus struct {
	Round    int `json:"round"`
	Agencies []struct {
		Agency int  `json:"agency"`
		Ended  bool `json:"ended"`
	} `json:"agencies"`
	Rate struct {
		BetsPerSecond []float64 `json:"bets_per_second"`
	} `json:"rate"`
}

// awaitStatus polls the central's /status until cond holds, for at most a
// minute, and returns that status.
func awaitStatus(t *testing.T, admin, what string, cond func(roundStatus) bool) roundStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var st roundStatus
		if resp, err := http.Get("http://" + admin + "/status"); err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && cond(st) {
				return st
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within a minute", what)
	return roundStatus{}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
