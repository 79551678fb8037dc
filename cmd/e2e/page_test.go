package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
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
	if testing.Short() {
		t.Skip("SKIP: -short: needs a headless browser")
	}
	browser := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			browser = path
			break
		}
	}
	if browser == "" {
		t.Skip("SKIP: no Chromium installed, the status page was not checked in a browser")
	}
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
	run := func(args ...string) string {
		cmd := exec.Command(browser, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,680",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--virtual-time-budget=3000"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", browser, err)
		}
		return string(out)
	}
	dom := run("--dump-dom", "http://"+admin+"/")
	run("--screenshot="+shot, "http://"+admin+"/")

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

// roundStatus is what the test reads of the central's /status.
type roundStatus struct {
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
