package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
)

// TestTheStatusPageShowsTheRoundInARealBrowser loads the admin page in a
// headless Chromium once a round is over (the central still up) and reads
// the page as its script left it: every agency at 100 % and the draw done.
// The screenshot stays in the test's temporary folder.
func TestTheStatusPageShowsTheRoundInARealBrowser(t *testing.T) {
	t.Parallel()
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
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=3", "SERVER_ADMIN_ADDRESS="+admin)
	server.WaitFor(t, `action: admin_listen \| result: success`)
	var clients []*proctest.Process
	for i := 1; i <= 3; i++ {
		file := filepath.Join(dir, fmt.Sprintf("agency-%d.csv", i))
		proctest.CourseFile(t, file, 40*i, 1, 2)
		clients = append(clients, proctest.Start(t, bins["client"], dir, clientEnv(i, addr, "CLI_DATA_FILE="+file)...))
	}
	for i, c := range clients {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("agency %d exited %d:\n%s", i+1, code, c.Log())
		}
	}
	shot := filepath.Join(dir, "status-page.png")
	run := func(args ...string) string {
		cmd := exec.Command(browser, append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--window-size=1000,500",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--virtual-time-budget=3000"}, args...)...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", browser, err)
		}
		return string(out)
	}
	dom := run("--dump-dom", "http://"+admin+"/")
	run("--screenshot="+shot, "http://"+admin+"/")
	rows := regexp.MustCompile(`<tr id="agency-(\d+)" data-ended="true">.*?<div style="width:100%">.*?<td class="num">(\d+)</td></tr>`).FindAllStringSubmatch(dom, -1)
	if len(rows) != 3 {
		t.Fatalf("%d agencies shown ended at 100 %%, want 3:\n%s", len(rows), dom)
	}
	for _, r := range rows {
		if r[2] != "2" {
			t.Errorf("agency %s shows %s winners, want 2", r[1], r[2])
		}
	}
	if !strings.Contains(dom, `<p id="draw" class="done">Draw done at`) || !strings.Contains(dom, ": 6 winners") {
		t.Errorf("the page does not show the draw done with 6 winners:\n%s", dom)
	}
	if info, err := os.Stat(shot); err != nil || info.Size() == 0 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}
