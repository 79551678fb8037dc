package proctest

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperLines, set in a child's environment, makes this test binary a
// process to collect: it prints that many lines "line N", then one line
// of helperLong bytes, then "the end", and exits.
const (
	helperLines = "PROCTEST_HELPER_LINES"
	helperLong  = "PROCTEST_HELPER_LONG"
)

func TestMain(m *testing.M) {
	if n := os.Getenv(helperLines); n != "" {
		os.Exit(helper(n, os.Getenv(helperLong)))
	}
	os.Exit(m.Run())
}

func helper(lines, long string) int {
	n, err := strconv.Atoi(lines)
	if err != nil {
		return 2
	}
	size, _ := strconv.Atoi(long)
	w := bufio.NewWriter(os.Stdout)
	for i := range n {
		fmt.Fprintf(w, "line %d\n", i)
	}
	fmt.Fprintf(w, "%s\nthe end\n", strings.Repeat("x", size))
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

func TestEveryLineIsKeptAndWaitedForHoweverManyAndLongTheyAre(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		lines, long int
	}{
		{"more than 65,536 lines", 70000, 0},
		{"a line longer than a bufio.Scanner's 64 KiB", 3, 200 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := Start(t, self, t.TempDir(), helperLines+"="+strconv.Itoa(tt.lines), helperLong+"="+strconv.Itoa(tt.long))
			// Nothing waits while the process writes: every line must
			// still be there to wait for once it has exited.
			if code, _ := p.Wait(t, time.Minute); code != 0 {
				t.Fatalf("the helper exited %d:\n%s", code, p.Log())
			}
			if got := p.WaitFor(t, `^line \d+$`); got != "line 0" {
				t.Fatalf("the first line waited for is %q, want line 0", got)
			}
			if tt.lines > 1 {
				last := fmt.Sprintf("line %d", tt.lines-1)
				if got := p.WaitFor(t, "^"+last+"$"); got != last {
					t.Fatalf("waited for %q, got %q", last, got)
				}
			}
			if got := p.WaitFor(t, `^x*$`); len(got) != tt.long {
				t.Fatalf("the long line came back with %d bytes, want %d", len(got), tt.long)
			}
			p.WaitFor(t, `^the end$`)
			if got, want := strings.Count(p.Log(), "\n")+1, tt.lines+2; got != want {
				t.Fatalf("Log holds %d lines, want %d", got, want)
			}
		})
	}
}

func TestALineWaitedPastIsNotFoundAgain(t *testing.T) {
	t.Parallel()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := Start(t, self, t.TempDir(), helperLines+"=3", helperLong+"=0")
	for _, want := range []string{"line 0", "line 1", "line 2"} {
		if got := p.WaitFor(t, `^line `); got != want {
			t.Fatalf("WaitFor returned %q, want %q", got, want)
		}
	}
}
