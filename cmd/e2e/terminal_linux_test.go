package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"quiniela/cmd/internal/termtest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
)

// tail is the end of a terminal's output, enough to say what it showed.
func tail(s string) string { return s[max(0, len(s)-2000):] }

// openPTY opens a pseudo-terminal of cols columns: the master, which the
// test reads, and the slave, the agency's terminal.
func openPTY(t *testing.T, cols uint16) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("SKIP: no pseudo-terminal here (%v): the status line was checked on a fake terminal only", err)
	}
	ioctl := func(req uintptr, arg unsafe.Pointer) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), req, uintptr(arg)); errno != 0 {
			t.Fatalf("ioctl %#x: %v", req, errno)
		}
	}
	var unlock int32
	var n uint32
	size := struct{ rows, cols, x, y uint16 }{24, cols, 0, 0}
	ioctl(syscall.TIOCSPTLCK, unsafe.Pointer(&unlock))
	ioctl(syscall.TIOCGPTN, unsafe.Pointer(&n))
	ioctl(syscall.TIOCSWINSZ, unsafe.Pointer(&size))
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	return master, slave
}

// syncBuffer is a byte sink safe for a reader goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAnAgencyOnATerminalShowsItsProgressBelowItsLog runs an agency with
// stdout and stderr on a pseudo-terminal, as in a shell, and a second one
// with both piped, as in a container. The first shows a status line that
// says it waits for the draw while the second has not started yet, and
// once the round is over its screen holds its log lines whole, each a line
// the course's parser reads, with no status line left. The second writes
// no control character and no status line at all.
func TestAnAgencyOnATerminalShowsItsProgressBelowItsLog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=2")
	files := []string{filepath.Join(dir, "agency-1.csv"), filepath.Join(dir, "agency-2.csv")}
	for _, f := range files {
		proctest.CourseFile(t, f, 3000, 1)
	}

	master, slave := openPTY(t, 120)
	defer master.Close()
	raw := &syncBuffer{}
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			raw.Write(buf[:n])
			if err != nil { // EIO once the agency has exited
				return
			}
		}
	}()
	one := exec.Command(bins["client"], "--env-file", os.DevNull)
	one.Dir, one.Stdout, one.Stderr = dir, slave, slave
	one.Env = append([]string{proctest.RaceNoExitSleep, "TERM=xterm"}, clientEnv(1, addr, "CLI_DATA_FILE="+files[0], "CLI_BATCH_MAX_AMOUNT=5")...)
	if err := one.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	exited := make(chan error, 1)
	go func() { exited <- one.Wait() }()
	t.Cleanup(func() { one.Process.Kill(); <-read })

	// Agency 1 waits for the draw, and its spinner turns, until agency 2
	// ends.
	waiting := regexp.MustCompile(`([|/\\-]) agency-1\.csv: 3000 bets sent, waiting for the draw`)
	frames := map[string]bool{}
	for deadline := time.Now().Add(time.Minute); len(frames) < 2; time.Sleep(10 * time.Millisecond) {
		for _, m := range waiting.FindAllStringSubmatch(raw.String(), -1) {
			frames[m[1]] = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("agency 1 did not show a turning wait for the draw within a minute; its terminal's last bytes:\n%q", tail(raw.String()))
		}
	}
	var piped bytes.Buffer
	two := exec.Command(bins["client"], "--env-file", os.DevNull)
	two.Dir, two.Stdout, two.Stderr = dir, &piped, &piped
	two.Env = append([]string{proctest.RaceNoExitSleep, "TERM=xterm"}, clientEnv(2, addr, "CLI_DATA_FILE="+files[1], "CLI_BATCH_MAX_AMOUNT=5")...)
	if err := two.Run(); err != nil {
		t.Fatalf("agency 2: %v\n%s", err, piped.String())
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("agency 1: %v\n%q", err, tail(raw.String()))
		}
	case <-time.After(time.Minute):
		t.Fatal("agency 1 did not exit within a minute of the draw")
	}
	<-read

	scr := &termtest.Screen{}
	scr.Write([]byte(raw.String()))
	lines := scr.Shown()
	for _, l := range lines {
		if _, err := logline.Parse(l); err != nil {
			t.Errorf("a line on agency 1's screen is not a whole log line: %v", err)
		}
	}
	if len(lines) < 3 || !strings.Contains(lines[len(lines)-1], "action: resumen | result: success") {
		t.Errorf("agency 1's screen does not end with its summary:\n%s", strings.Join(lines, "\n"))
	}
	if out := piped.String(); strings.ContainsAny(out, "\r\x1b") || strings.Contains(out, "waiting for the draw") || !strings.Contains(out, "action: resumen | result: success") {
		t.Errorf("agency 2, piped, wrote a status line or control characters:\n%q", out)
	}
}
