package readme

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
)

// step is what the test does with one command of the README's shell
// blocks.
type step int

const (
	// runs: run in the clone to its end, as typed at a prompt; it must
	// exit 0.
	runs step = iota + 1
	// serves: start it and wait for the central's listen line; it keeps
	// running, as in a terminal of its own, until a stops command.
	serves
	// runsBeside: start it, as in a terminal of its own, and go on to the
	// next command; it must exit 0 before the next runs or stops command.
	runsBeside
	// stops: the test sends the command's signal (kill -TERM or kill -INT)
	// to the central a serves command started: the command as written finds
	// the central by its name, and on a test machine that could be another
	// test's. The central, and the command that started it, must exit 0.
	stops
	// dotEnv: a line of a block that is a ./.env file, written as such into
	// the clone.
	dotEnv
	// notRun: not run here; the reason says why, and what runs it instead.
	notRun
)

// how is what the test does with one command, and for notRun, why.
type how struct {
	step   step
	reason string
}

const (
	officialSet = "downloads the course's official set from the network; TestMakeRun in cmd/internal/playround " +
		"plays that set and checks its winners where QUINIELA_OFFICIAL_DATA names a folder holding it"
)

// commands classifies every command of the README's shell blocks, by its
// text without its comment. A command that is not here fails
// TestEveryReadmeCommandIsClassified until it is: run it (a step), or say
// why not (notRun with a reason). So does an entry whose command the README
// no longer has.
var commands = map[string]how{
	// First commands.
	"make run":  {step: runs},
	"make test": {notRun, "runs every test, this one among them: it would run itself"},

	// The course's official set.
	"mkdir -p .data/official": {notRun, officialSet},
	"curl -fsSL -o .data/official/dataset.zip https://raw.githubusercontent.com/7574-sistemas-distribuidos/tp0-base/master/.data/dataset.zip": {notRun, officialSet},
	"unzip -o .data/official/dataset.zip -d .data/official":                                                                                   {notRun, officialSet},
	"make run DATA=.data/official": {notRun, officialSet},

	// A round by hand, with the ./.env it gives.
	"SERVER_IP=127.0.0.1":                {step: dotEnv},
	"CLI_SERVER_ADDRESS=127.0.0.1:12345": {step: dotEnv},
	"CLI_LOG_LEVEL=DEBUG":                {step: dotEnv},
	"make run-server":                    {step: serves},
	"make run-client ID=1":               {step: runsBeside},
	"make run-client ID=2":               {step: runsBeside},
	"make run-client ID=3":               {step: runsBeside},
	"make run-client ID=4":               {step: runsBeside},
	"make run-client ID=5":               {step: runsBeside},
	`kill -TERM "$(pgrep -nx server)"`:   {step: stops},
}

// defaultPort is the central's port in the README. The test plays on a
// free port instead, written in its place in every command and .env line
// (and given as PORT and SERVER_PORT), so that it never meets a central
// someone runs on the default one.
const defaultPort = "12345"

// command is one command of a shell block: its text without its comment.
type command struct {
	line int // in README.md
	text string
}

// block is a fenced shell block of the README.
type block struct {
	line     int
	commands []command
}

// shellLanguages are the info strings of fenced blocks that hold commands.
var shellLanguages = map[string]bool{"": true, "sh": true, "bash": true, "shell": true, "console": true}

// shellBlocks returns the README's fenced shell blocks, in order, with
// their commands: comment lines and blank lines left out, a line ending in
// a backslash joined to the next, and in a console block only the lines
// after a "$ " prompt.
func shellBlocks(readme string) []block {
	var blocks []block
	var cur *block
	var console bool
	var pending strings.Builder
	pendingLine := 0
	for i, raw := range strings.Split(readme, "\n") {
		n := i + 1
		fence := strings.HasPrefix(raw, "```")
		switch {
		case cur == nil && fence:
			lang, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(raw, "```")), " ")
			if shellLanguages[lang] {
				cur, console = &block{line: n}, lang == "console"
			} else {
				cur = &block{line: -n} // a block of another language: skipped to its end
			}
		case cur != nil && fence:
			if cur.line > 0 {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil && cur.line > 0:
			text := strings.TrimSpace(raw)
			if console {
				var ok bool
				if text, ok = strings.CutPrefix(text, "$ "); !ok && pending.Len() == 0 {
					continue
				}
			}
			if pending.Len() == 0 {
				pendingLine = n
			}
			if more, ok := strings.CutSuffix(text, `\`); ok {
				pending.WriteString(more)
				continue
			}
			pending.WriteString(text)
			if text := strings.TrimSpace(withoutComment(pending.String())); text != "" {
				cur.commands = append(cur.commands, command{line: pendingLine, text: text})
			}
			pending.Reset()
		}
	}
	return blocks
}

// withoutComment cuts a shell line at its comment: a # outside quotes that
// starts a word.
func withoutComment(line string) string {
	var quote rune
	for i, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i]
		}
	}
	return line
}

func readREADME(t *testing.T) (string, []block) {
	t.Helper()
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw), shellBlocks(string(raw))
}

// classify fails the test on a command that is in no list, a command not
// run without a reason, a block that mixes .env lines and commands, and an
// entry whose command the README no longer has.
func classify(t *testing.T, blocks []block) {
	t.Helper()
	seen := map[string]bool{}
	for _, b := range blocks {
		env := 0
		for _, c := range b.commands {
			h, ok := commands[c.text]
			if !ok {
				t.Errorf("README.md:%d: %q is in no list: add it to commands in cmd/internal/readme/readme_test.go, "+
					"with what the test does with it (runs, serves, runsBeside, stops, dotEnv) or notRun with the reason", c.line, c.text)
				continue
			}
			if h.step == notRun && h.reason == "" {
				t.Errorf("README.md:%d: %q is not run, and no reason says why", c.line, c.text)
			}
			if h.step == dotEnv {
				env++
			}
			seen[c.text] = true
		}
		if env > 0 && env != len(b.commands) {
			t.Errorf("README.md:%d: a block is either a ./.env file or commands, and this one mixes them", b.line)
		}
	}
	var stale []string
	for text := range commands {
		if !seen[text] {
			stale = append(stale, text)
		}
	}
	sort.Strings(stale)
	for _, text := range stale {
		t.Errorf("%q is listed, but the README no longer has it: remove it from commands", text)
	}
}

// TestEveryReadmeCommandIsClassified: a command added to the README, or
// changed, fails until it is listed with what the test does with it, so
// that no command of the front door goes untried unless a reason says why.
func TestEveryReadmeCommandIsClassified(t *testing.T) {
	t.Parallel()
	_, blocks := readREADME(t)
	if len(blocks) == 0 {
		t.Fatal("no shell block found in README.md")
	}
	classify(t, blocks)
}

func TestShellBlocksAreReadAsTheShellReadsThem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		readme string
		want   []string
	}{
		{"a command's comment is not part of it",
			"```sh\nmake run     # one round\n```\n", []string{"make run"}},
		{"a # inside quotes or a word is no comment",
			"```sh\necho \"a # b\" 'c # d' e#f # g\n```\n", []string{`echo "a # b" 'c # d' e#f`}},
		{"comment lines and blank lines are left out",
			"```sh\n# first\n\nmake test\n```\n", []string{"make test"}},
		{"a line ending in a backslash goes on on the next",
			"```bash\nmake run \\\n  PORT=1\n```\n", []string{"make run PORT=1"}},
		{"a console block's commands are its prompt lines",
			"```console\n$ make run\nround: success\n```\n", []string{"make run"}},
		{"a block of another language holds no commands",
			"```json\n{\"a\": 1}\n```\n```\nls\n```\n", []string{"ls"}},
		{"text outside blocks holds no commands",
			"make run\n\n```sh\nmake test\n```\nmake bench\n", []string{"make test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []string
			for _, b := range shellBlocks(tt.readme) {
				for _, c := range b.commands {
					got = append(got, c.text)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("commands %q, want %q", got, tt.want)
			}
		})
	}
}

// TestReadmeCommandsRunOnAFreshClone runs the README's commands, block by
// block in its order, in one fresh clone of this repository's HEAD (so
// uncommitted changes are not in it: CI tests a clean clone), each as
// its step says.
func TestReadmeCommandsRunOnAFreshClone(t *testing.T) {
	readme, blocks := readREADME(t)
	classify(t, blocks)
	if t.Failed() {
		t.FailNow()
	}
	// Each make command builds every binary again in the clone: seconds
	// the inner loop does without (TestMakeRun plays make run under -short).
	if testing.Short() {
		t.Skip("SKIP: -short: a long whole-system round")
	}
	if runtime.GOOS != "linux" {
		t.Skip("SKIP: finding the central that make run-server started reads /proc, which only Linux has")
	}
	for _, tool := range []string{"git", "make"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed", tool)
		}
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").CombinedOutput()
	if err != nil {
		t.Skipf("SKIP: no git checkout to clone HEAD from: %v: %s", err, top)
	}
	root := strings.TrimSpace(string(top))
	clone := filepath.Join(t.TempDir(), "quiniela")
	if out, err := exec.Command("git", "clone", "--quiet", root, clone).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	if committed, err := os.ReadFile(filepath.Join(clone, "README.md")); err == nil && string(committed) != readme {
		t.Log("README.md has changes not committed: its commands run on a clone of HEAD, whose README is not the same")
	}
	s := &session{t: t, dir: clone, port: proctest.FreePort(t)}
	s.env = environment(s.port, proctest.FreePort(t))
	for _, b := range blocks {
		s.play(b)
	}
	s.finish()
}

// environment is what a user's shell holds that matters to the commands
// (the path, home and locale, Go's own settings), and nothing that would
// set a binary's or the Makefile's variables (CLI_ID, DATA, the MAKEFLAGS
// of a make test running this test, …), plus the test's ports.
func environment(port, adminPort string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "PATH", k == "HOME", k == "USER", k == "LOGNAME", k == "TMPDIR", k == "LANG",
			strings.HasPrefix(k, "LC_"), strings.HasPrefix(k, "GO"):
			env = append(env, kv)
		}
	}
	// make run's central on PORT (its admin endpoint on ADMIN_PORT), and
	// make run-server's on SERVER_PORT, which the README's .env leaves to
	// its default.
	return append(env, "PORT="+port, "ADMIN_PORT="+adminPort, "SERVER_PORT="+port)
}

// session is the clone and what runs in it.
type session struct {
	t       *testing.T
	dir     string
	env     []string
	port    string
	central *shell   // started by a serves command, until a stops command
	beside  []*shell // started by runsBeside commands, not yet awaited
}

// Bounds that only keep a broken command from hanging the test: make
// builds every binary first, which takes seconds on a busy machine.
const (
	commandBound = 3 * time.Minute
	stopBound    = 15 * time.Second
)

func (s *session) play(b block) {
	t := s.t
	if len(b.commands) > 0 && commands[b.commands[0].text].step == dotEnv {
		var env strings.Builder
		for _, c := range b.commands {
			env.WriteString(s.onOurPort(c.text) + "\n")
		}
		if err := os.WriteFile(filepath.Join(s.dir, ".env"), []byte(env.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("README.md:%d: written as ./.env:\n%s", b.line, env.String())
		return
	}
	for _, c := range b.commands {
		h := commands[c.text]
		text := s.onOurPort(c.text)
		where := fmt.Sprintf("README.md:%d: %s", c.line, text)
		switch h.step {
		case notRun:
			t.Logf("%s: not run: %s", where, h.reason)
		case runs:
			s.awaitBeside()
			began := time.Now()
			sh := s.start(text, nil)
			code := sh.wait(t, commandBound)
			if code != 0 {
				t.Fatalf("%s: exit %d\n%s", where, code, sh.output())
			}
			t.Logf("%s: exit 0 in %.1f s", where, time.Since(began).Seconds())
		case serves:
			if s.central != nil {
				t.Fatalf("%s: a central started at %s is still running", where, s.central.text)
			}
			s.central = s.start(text, listenLine)
			select {
			case <-s.central.matched:
			case <-s.central.done:
				t.Fatalf("%s: exit %d before the central listened\n%s", where, s.central.code(), s.central.output())
			case <-time.After(commandBound):
				t.Fatalf("%s: the central did not listen within %v\n%s", where, commandBound, s.central.output())
			}
			t.Logf("%s: the central listens", where)
		case runsBeside:
			s.beside = append(s.beside, s.start(text, nil))
			t.Logf("%s: started", where)
		case stops:
			s.awaitBeside()
			s.stop(where, text)
		case dotEnv:
			t.Fatalf("%s: a .env line among commands", where)
		}
	}
}

// onOurPort is text with the README's default port replaced by the test's.
func (s *session) onOurPort(text string) string {
	return strings.ReplaceAll(text, defaultPort, s.port)
}

// awaitBeside waits for every command started beside the others, each of
// which must exit 0.
func (s *session) awaitBeside() {
	for _, sh := range s.beside {
		if code := sh.wait(s.t, commandBound); code != 0 {
			s.t.Fatalf("%s: exit %d\n%s", sh.text, code, sh.output())
		}
		s.t.Logf("%s: exit 0", sh.text)
	}
	s.beside = nil
}

var signals = map[string]syscall.Signal{"TERM": syscall.SIGTERM, "INT": syscall.SIGINT}

// stop sends the command's signal to the running central, which must
// exit 0, and so must the command that started it.
func (s *session) stop(where, text string) {
	t := s.t
	m := regexp.MustCompile(`\bkill -([A-Z]+)\b`).FindStringSubmatch(text)
	if m == nil || signals[m[1]] == 0 {
		t.Fatalf("%s: the test sends kill -TERM or kill -INT to the central, and this command is neither", where)
	}
	if s.central == nil {
		t.Fatalf("%s: no central is running: no command before it served one", where)
	}
	pid, err := descendant(s.central.cmd.Process.Pid, "server")
	if err != nil {
		t.Fatalf("%s: %v\n%s", where, err, s.central.output())
	}
	if err := syscall.Kill(pid, signals[m[1]]); err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	if code := s.central.wait(t, stopBound); code != 0 {
		t.Fatalf("%s: %s exited %d\n%s", where, s.central.text, code, s.central.output())
	}
	t.Logf("%s: %s exited 0", where, s.central.text)
	s.central = nil
}

// finish fails the test when the README leaves something running.
func (s *session) finish() {
	s.awaitBeside()
	if s.central != nil {
		s.t.Fatalf("%s: the README starts this central and never stops it", s.central.text)
	}
}

// descendant is the pid of a process named name among pid's descendants
// (its children, theirs, …), as /proc says: each process's stat gives its
// name and its parent.
func descendant(pid int, name string) (int, error) {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := map[int][]int{}
	names := map[int]string{}
	for _, path := range stats {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // it ended meanwhile
		}
		// pid (comm) state ppid …: comm may hold spaces and parentheses,
		// so it ends at the last ")".
		open, end := strings.IndexByte(string(raw), '('), strings.LastIndexByte(string(raw), ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(string(raw[end+1:]))
		if len(fields) < 2 {
			continue
		}
		p, err1 := strconv.Atoi(strings.TrimSpace(string(raw[:open])))
		parent, err2 := strconv.Atoi(fields[1])
		if err1 != nil || err2 != nil {
			continue
		}
		names[p] = string(raw[open+1 : end])
		children[parent] = append(children[parent], p)
	}
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		p := queue[0]
		if names[p] == name {
			return p, nil
		}
		queue = append(queue, children[p]...)
	}
	return 0, fmt.Errorf("no process named %s among those process %d started", name, pid)
}

var listenLine = regexp.MustCompile(`action: listen \| result: success`)

// shell is one command run by bash in the clone, in a process group of
// its own (so that all it started can be killed if the test gives up),
// its output and errors kept together.
type shell struct {
	text    string
	cmd     *exec.Cmd
	matched chan struct{} // closed at the first output line that matches the pattern given
	done    chan struct{} // closed once it exited

	mu  sync.Mutex
	out strings.Builder
}

func (s *session) start(text string, pattern *regexp.Regexp) *shell {
	t := s.t
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", text)
	cmd.Dir, cmd.Env = s.dir, s.env
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	sh := &shell{text: text, cmd: cmd, matched: make(chan struct{}), done: make(chan struct{})}
	go sh.collect(r, pattern)
	go func() { cmd.Wait(); close(sh.done) }()
	t.Cleanup(func() {
		select {
		case <-sh.done:
		default: // the test gave up on it: it, and all it started, go
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-sh.done
		}
	})
	return sh
}

func (sh *shell) collect(r io.ReadCloser, pattern *regexp.Regexp) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	matched := false
	for sc.Scan() {
		sh.mu.Lock()
		sh.out.WriteString(sc.Text() + "\n")
		sh.mu.Unlock()
		if pattern != nil && !matched && pattern.MatchString(sc.Text()) {
			matched = true
			close(sh.matched)
		}
	}
	io.Copy(io.Discard, r) // a line over the scanner's bound: keep the pipe drained
}

// wait waits for the exit and returns its code; bound only keeps a broken
// command from hanging the test.
func (sh *shell) wait(t *testing.T, bound time.Duration) int {
	t.Helper()
	select {
	case <-sh.done:
	case <-time.After(bound):
		t.Fatalf("%s did not exit within %v\n%s", sh.text, bound, sh.output())
	}
	return sh.code()
}

func (sh *shell) code() int { return sh.cmd.ProcessState.ExitCode() }

// output is the last lines of what the command printed: enough to see
// why it failed, short enough to read.
func (sh *shell) output() string {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	lines := strings.SplitAfter(sh.out.String(), "\n")
	if len(lines) > outputLines {
		return fmt.Sprintf("(… %d lines before)\n", len(lines)-outputLines) + strings.Join(lines[len(lines)-outputLines:], "")
	}
	return sh.out.String()
}

const outputLines = 30
