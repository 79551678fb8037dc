// Command testsummary reads `go test -json` on standard input and prints
// what a plain `go test` prints (a line per package, and the whole output
// of every test that failed), then every skipped test with the reason it
// gave, so that a test skipped for a missing tool is said out loud at the
// end of `make test`, and last every test that failed or never finished (a
// package that timed out), so that the tail of a long run names them. It
// exits 1 when a test or a package failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	failed, err := summarize(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
	if failed {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// listed is a test the summary names at its end (skipped, failed or never
// finished), and why.
type listed struct{ pkg, test, why string }

// unfinished is what a test that never ended leaves in the summary.
const unfinished = "never finished: its package failed while it ran (a timeout or a crash)"

// summarize copies the package lines and failed tests' output from r to w,
// then lists the skipped tests and the failed ones, and reports whether
// anything failed.
func summarize(r io.Reader, w io.Writer) (failed bool, err error) {
	output := map[string][]string{} // "pkg\x00test" → its lines so far
	var skips, failures []listed
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var e event
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			fmt.Fprintln(w, sc.Text()) // not an event (a build error printed as text): pass it on
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(w, e.Output) // a package that does not build says why
		case e.Action == "build-fail":
			failed = true
		case e.Action == "output" && e.Test == "":
			// The package's own lines: "ok", "FAIL", "PASS", a build error,
			// a panic outside any test. The per-test "=== RUN" noise of -json
			// is not among them.
			if line := e.Output; !strings.HasPrefix(line, "=== ") && line != "PASS\n" {
				fmt.Fprint(w, line)
			}
		case e.Action == "output":
			output[key] = append(output[key], e.Output)
		case e.Action == "fail" && e.Test != "":
			failed = true
			failures = append(failures, listed{e.Package, e.Test, "failed"})
			printOutput(w, output[key])
			delete(output, key)
		case e.Action == "fail":
			failed = true
			// A test of the package still without an end did not finish:
			// the binary timed out or crashed while it ran.
			for k, lines := range output {
				if pkg, test, _ := strings.Cut(k, "\x00"); pkg == e.Package && test != "" {
					failures = append(failures, listed{pkg, test, unfinished})
					printOutput(w, lines)
					delete(output, k)
				}
			}
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, listed{e.Package, e.Test, reason(output[key])})
			delete(output, key)
		case e.Action == "pass":
			delete(output, key)
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	if len(skips) == 0 {
		fmt.Fprintln(w, "skipped: none")
	} else {
		list(w, "skipped", skips)
	}
	if len(failures) > 0 {
		list(w, "failed", failures)
	}
	return failed, nil
}

// printOutput prints a test's lines as a plain go test does.
func printOutput(w io.Writer, lines []string) {
	for _, line := range lines {
		if !strings.HasPrefix(line, "=== ") { // the runner's own lines, which a plain go test hides
			fmt.Fprint(w, line)
		}
	}
}

// list prints the tests under a heading with their count, in order.
func list(w io.Writer, heading string, tests []listed) {
	sort.Slice(tests, func(i, j int) bool {
		return tests[i].pkg+" "+tests[i].test < tests[j].pkg+" "+tests[j].test
	})
	plural := "s"
	if len(tests) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "%s: %d test%s\n", heading, len(tests), plural)
	for _, t := range tests {
		fmt.Fprintf(w, "  %s %s: %s\n", t.pkg, t.test, t.why)
	}
}

// reason is what a skipped test said: its output without the runner's
// "=== RUN" and "--- SKIP" lines and without the file:line prefix.
func reason(lines []string) string {
	var said []string
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--- ") {
			continue
		}
		if file, rest, ok := strings.Cut(line, ": "); ok && strings.Contains(file, ".go:") {
			line = rest
		}
		said = append(said, line)
	}
	if len(said) == 0 {
		return "(no reason given)"
	}
	return strings.Join(said, " / ")
}
