package proctest

import (
	"fmt"
	"os"
	"quiniela/lottery"
	"slices"
	"strings"
	"testing"
)

// Agency files written the way the course's own checks write them.

// CourseFile writes an agency file the way the course's own checks do: LF
// line endings, `Name,Surname,DOCUMENT,2000-01-01,NUMBER` with 8-digit
// zero-padded documents from 00000000, the winning number (7574) on the
// lines (from 0) given, other numbers elsewhere.
func CourseFile(t testing.TB, path string, bets int, winning ...int) {
	t.Helper()
	var b strings.Builder
	for i := range bets {
		number := 1000 + i%6000
		if slices.Contains(winning, i) {
			number = lottery.WinningNumber
		}
		fmt.Fprintf(&b, "Name,Surname,%08d,2000-01-01,%d\n", i, number)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
