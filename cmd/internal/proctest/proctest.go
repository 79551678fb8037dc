// Package proctest is the one way the project runs its own binaries as
// processes: it builds them once, starts them with a chosen environment,
// collects their log lines, waits for a line or an exit, stops them, and
// finds free ports. The whole-system tests use it through the functions
// that take a testing.TB (Start, StartServer, WaitFor, Wait, FreePort);
// make run's, make bench's and make soak's players through those that
// return errors (Launch, Await, Stop, Port).
package proctest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/lottery/logattr"
)

// RaceNoExitSleep stops the race runtime's one-second sleep at exit, which
// would otherwise be measured as shutdown time.
const RaceNoExitSleep = "GORACE=atexit_sleep_ms=0"

// Build builds the named commands (./cmd/NAME) into dir with one go build,
// with the race detector exactly when the calling test has it (make test
// asks for it; a plain go test does not), and returns their paths by name.
// root is the module root relative to the calling test's package. Call it
// once per package, from TestMain.
func Build(root, dir string, names ...string) (map[string]string, error) {
	return build(root, dir, raceEnabled, names)
}

// BuildPlain builds as Build does, never with the race detector: for a
// test that measures a binary's memory or speed.
func BuildPlain(root, dir string, names ...string) (map[string]string, error) {
	return build(root, dir, false, names)
}

func build(root, dir string, race bool, names []string) (map[string]string, error) {
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if race {
		args = append(args, "-race")
	}
	bins := map[string]string{}
	for _, name := range names {
		args = append(args, "./cmd/"+name)
		bins[name] = filepath.Join(dir, name)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building %s: %v\n%s", strings.Join(names, ", "), err, out)
	}
	return bins, nil
}

// Process is a running binary whose stdout lines are collected, every one
// of them, however many and however long: a test never passes, or fails,
// on a log cut short.
type Process struct {
	Cmd *exec.Cmd

	mu      sync.Mutex
	lines   []string
	waited  int           // lines WaitFor has looked at: it goes on from there
	more    chan struct{} // closed, and replaced, when a line arrives or the output ends
	ended   bool          // the output ended (the process closed its stdout)
	readErr error         // why reading the output stopped, other than its end
	exit    chan struct{}
	copyTo  io.Writer              // Options.Log
	keep    func(line string) bool // Options.Keep
}

// Options say how Launch runs a binary.
type Options struct {
	Dir     string   // its working folder; "": this process's
	EnvFile string   // its --env-file; "": os.DevNull, so that no stray .env is read
	Env     []string // its whole environment, plus RaceNoExitSleep
	// Log, when set, receives every line of its output as it comes.
	Log io.Writer
	// Stderr receives its standard error; nil: this process's.
	Stderr io.Writer
	// Keep, when set, chooses the lines kept to wait for and to Log()
	// (all of them still go to Log): a long run need not hold them all.
	Keep        func(line string) bool
	SysProcAttr *syscall.SysProcAttr
}

// Launch starts bin as o says and collects its output's lines until its
// end. The caller stops it (Stop, or Cmd.Process.Kill) and waits for Done.
func Launch(bin string, o Options) (*Process, error) {
	if o.EnvFile == "" {
		o.EnvFile = os.DevNull
	}
	cmd := exec.Command(bin, "--env-file", o.EnvFile)
	cmd.Dir = o.Dir
	cmd.Env = append([]string{RaceNoExitSleep}, o.Env...)
	cmd.SysProcAttr = o.SysProcAttr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = o.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{Cmd: cmd, more: make(chan struct{}), exit: make(chan struct{}), copyTo: o.Log, keep: o.Keep}
	go func() {
		p.collect(out)
		cmd.Wait()
		close(p.exit)
	}()
	return p, nil
}

// Start runs bin in dir with exactly env (plus RaceNoExitSleep) and
// --env-file /dev/null, so that no stray .env is read.
func Start(t testing.TB, bin, dir string, env ...string) *Process {
	t.Helper()
	return StartWithFile(t, bin, dir, os.DevNull, env...)
}

// StartWithFile runs bin as Start does, with envFile as its --env-file:
// for a test that changes the file while the binary runs.
func StartWithFile(t testing.TB, bin, dir, envFile string, env ...string) *Process {
	t.Helper()
	p, err := Launch(bin, Options{Dir: dir, EnvFile: envFile, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Cmd.Process.Kill(); <-p.exit })
	return p
}

// Done is closed once the process has exited and its output is read.
func (p *Process) Done() <-chan struct{} { return p.exit }

// ExitCode is the exit code, once Done is closed (-1: killed by a signal).
func (p *Process) ExitCode() int { return p.Cmd.ProcessState.ExitCode() }

// Stop sends SIGTERM and waits for the exit; past bound it kills the
// process and returns -1.
func (p *Process) Stop(bound time.Duration) int {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
		return p.ExitCode()
	case <-time.After(bound):
		p.Cmd.Process.Kill()
		<-p.exit
		return -1
	}
}

// collect reads the output's lines until its end, keeping each, and wakes
// whoever waits for one.
func (p *Process) collect(out io.Reader) {
	r := bufio.NewReaderSize(out, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if p.copyTo != nil && line != "" {
			io.WriteString(p.copyTo, line)
			if err != nil {
				io.WriteString(p.copyTo, "\n")
			}
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		p.mu.Lock()
		if (line != "" || err == nil) && (p.keep == nil || p.keep(line)) {
			p.lines = append(p.lines, line)
		}
		if err != nil {
			p.ended = true
			if !errors.Is(err, io.EOF) {
				p.readErr = err
			}
		}
		close(p.more)
		p.more = make(chan struct{})
		p.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// WaitFor returns the first line not yet waited past that matches pattern,
// and fails the test when the process ends first or, still running, has
// not logged it within LongestWait.
func (p *Process) WaitFor(t testing.TB, pattern string) string {
	t.Helper()
	line, err := p.Await(pattern, 0)
	if err != nil {
		t.Fatal(err)
	}
	return line
}

// WaitForLine waits, as WaitFor, for the first line not yet waited past
// of action with result and the details pairs (key, value, ...; see
// logline.Is), and returns it read back.
func (p *Process) WaitForLine(t testing.TB, action logattr.Action, result logattr.Result, pairs ...string) logline.Line {
	t.Helper()
	raw := p.WaitFor(t, logline.Pattern(action, result, pairs...))
	l, err := logline.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(p.Cmd.Path), err)
	}
	return l
}

// Find is the lines so far of action with result and pairs (as
// logline.Is), read back as Lines reads them.
func (p *Process) Find(t testing.TB, action logattr.Action, result logattr.Result, pairs ...string) []logline.Line {
	t.Helper()
	return logline.Find(p.Lines(t), action, result, pairs...)
}

// ErrTimeout is Await's error when its bound passed first.
var ErrTimeout = errors.New("timed out")

// LongestWait bounds a wait for a line that was given no bound: far longer
// than any line takes on a loaded machine, far shorter than go test's
// timeout, which would end the whole package without saying which wait
// hung, nor what the process had logged.
const LongestWait = 3 * time.Minute

// Await returns the first line not yet waited past that matches pattern;
// an error when the process ends first, or when bound (0: LongestWait)
// passes.
func (p *Process) Await(pattern string, bound time.Duration) (string, error) {
	re := regexp.MustCompile(pattern)
	if bound <= 0 {
		bound = LongestWait
	}
	timer := time.NewTimer(bound)
	defer timer.Stop()
	for {
		p.mu.Lock()
		for p.waited < len(p.lines) {
			line := p.lines[p.waited]
			p.waited++
			if re.MatchString(line) {
				p.mu.Unlock()
				return line, nil
			}
		}
		ended, readErr, more := p.ended, p.readErr, p.more
		p.mu.Unlock()
		if ended {
			if readErr != nil {
				return "", fmt.Errorf("%s: reading its output: %v; so far:\n%s", filepath.Base(p.Cmd.Path), readErr, p.Log())
			}
			return "", fmt.Errorf("%s ended without logging %q:\n%s", filepath.Base(p.Cmd.Path), pattern, p.Log())
		}
		select {
		case <-more:
		case <-timer.C:
			return "", fmt.Errorf("%s did not log %q within %v: %w; so far:\n%s", filepath.Base(p.Cmd.Path), pattern, bound, ErrTimeout, p.Log())
		}
	}
}

// WaitForN waits past n lines matching pattern, as WaitFor.
func (p *Process) WaitForN(t testing.TB, pattern string, n int) {
	t.Helper()
	for range n {
		p.WaitFor(t, pattern)
	}
}

// Log is every line so far.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// Wait waits for the exit and returns the exit code and how long it took;
// bound only keeps a broken binary from hanging the test.
func (p *Process) Wait(t testing.TB, bound time.Duration) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	select {
	case <-p.exit:
	case <-time.After(bound):
		t.Fatalf("%s did not exit within %v:\n%s", filepath.Base(p.Cmd.Path), bound, p.Log())
	}
	return p.Cmd.ProcessState.ExitCode(), time.Since(start)
}

var listenLine = regexp.MustCompile(`action: listen \| result: success \| ip: (\S+) \| port: (\d+)`)

// StartServer runs the central on a free loopback port with its store in
// dir, and returns it once it listens, with its address.
func StartServer(t testing.TB, bin, dir string, env ...string) (*Process, string) {
	t.Helper()
	return StartServerWithFile(t, bin, dir, os.DevNull, env...)
}

// StartServerWithFile runs the central as StartServer does, with envFile
// as its --env-file.
func StartServerWithFile(t testing.TB, bin, dir, envFile string, env ...string) (*Process, string) {
	t.Helper()
	p := StartWithFile(t, bin, dir, envFile, append([]string{"SERVER_IP=127.0.0.1", "SERVER_PORT=0", "STORAGE_FILEPATH=" + filepath.Join(dir, "bets.csv")}, env...)...)
	line := p.WaitFor(t, listenLine.String())
	m := listenLine.FindStringSubmatch(line)
	return p, net.JoinHostPort(m[1], m[2])
}

// Lines is every line so far, parsed as the course's parser reads them;
// a line it would misread fails the test, and so does an output that could
// not be read to its end.
func (p *Process) Lines(t testing.TB) []logline.Line {
	t.Helper()
	p.mu.Lock()
	readErr := p.readErr
	p.mu.Unlock()
	if readErr != nil {
		t.Errorf("%s: reading its output: %v", filepath.Base(p.Cmd.Path), readErr)
	}
	var lines []logline.Line
	for _, raw := range strings.Split(p.Log(), "\n") {
		if raw == "" {
			continue
		}
		l, err := logline.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(p.Cmd.Path), err)
			continue
		}
		lines = append(lines, l)
	}
	return lines
}
