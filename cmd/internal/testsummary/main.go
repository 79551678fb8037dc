// Command testsummary reads `go test -json` on standard input and prints
// what a plain `go test` prints (a line per package, and the whole output
// of every test that failed), then every skipped test with the reason it
// gave, so that a test skipped for a missing tool is said out loud at the
// end of `make test`. It exits 1 when a test or a package failed.
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

// skip is one skipped test and why.
type skip struct{ pkg, test, why string }

// summarize copies the package lines and failed tests' output from r to w,
// then the skipped tests, and reports whether anything failed.
func summarize(r io.Reader, w io.Writer) (failed bool, err error) {
	output := map[string][]string{} // "pkg\x00test" → its lines so far
	var skips []skip
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
			for _, line := range output[key] {
				if !strings.HasPrefix(line, "=== ") { // the runner's own lines, which a plain go test hides
					fmt.Fprint(w, line)
				}
			}
			delete(output, key)
		case e.Action == "fail":
			failed = true
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, skip{e.Package, e.Test, reason(output[key])})
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
		return failed, nil
	}
	sort.Slice(skips, func(i, j int) bool {
		return skips[i].pkg+" "+skips[i].test < skips[j].pkg+" "+skips[j].test
	})
	plural := "s"
	if len(skips) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "skipped: %d test%s\n", len(skips), plural)
	for _, s := range skips {
		fmt.Fprintf(w, "  %s %s: %s\n", s.pkg, s.test, s.why)
	}
	return failed, nil
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
