package logline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"quiniela/lottery/logattr"
)

// Line is one log line read back the course's way.
type Line struct {
	Time, Level string
	Action      logattr.Action
	Result      logattr.Result
	Keys        []logattr.Key          // the details' keys, in order
	Values      map[logattr.Key]string // each detail's value by key
}

// The patterns are compiled on first use: the binaries log through this
// package and never parse, and a regexp compiled at start-up is paid by
// every agency process.
var (
	headPattern = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (DEBUG|INFO|WARNING|ERROR) +action: (\S+)$`)
	})
	keyPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_.]*$`) })
)

// Parse reads a line as the course's parser does: split on '|', the first
// part is the time, level and action, and each detail's key is the text
// before its LAST ':'. It fails where that reading differs from what the
// handler wrote: a key that is not a plain lower-case name (a value held a
// ':'), a detail without one, a result other than success, fail or
// in_progress, or a key given twice.
func Parse(line string) (Line, error) {
	parts := strings.Split(line, "|")
	head := headPattern().FindStringSubmatch(strings.TrimSpace(parts[0]))
	if head == nil {
		return Line{}, fmt.Errorf("not `DATE TIME LEVEL action: NAME`: %q", parts[0])
	}
	l := Line{Time: head[1], Level: head[2], Action: head[3], Values: map[string]string{}}
	for _, p := range parts[1:] {
		i := strings.LastIndex(p, ":")
		if i < 0 {
			return l, fmt.Errorf("detail %q has no key", p)
		}
		key, value := strings.TrimSpace(p[:i]), strings.TrimSpace(p[i+1:])
		if !keyPattern().MatchString(key) {
			return l, fmt.Errorf("detail %q reads as the key %q", p, key)
		}
		if _, twice := l.Values[key]; twice {
			return l, fmt.Errorf("key %q given twice", key)
		}
		l.Keys = append(l.Keys, key)
		l.Values[key] = value
	}
	if len(l.Keys) == 0 || l.Keys[0] != logattr.ResultKey {
		return l, fmt.Errorf("the first detail is not the result")
	}
	switch l.Result = l.Values[logattr.ResultKey]; l.Result {
	case logattr.Success, logattr.Fail, logattr.InProgress:
	default:
		return l, fmt.Errorf("result %q is not success, fail or in_progress", l.Result)
	}
	return l, nil
}

// Shapes checks that every success line of one action carries the same
// keys, as a parser reading e.g. cant_ganadores from each of them needs.
// It returns one problem per action whose success lines differ.
func Shapes(lines []Line) []string {
	first := map[string]Line{}
	var problems []string
	for _, l := range lines {
		if l.Result != logattr.Success {
			continue
		}
		f, seen := first[l.Action]
		if !seen {
			first[l.Action] = l
			continue
		}
		if !slices.Equal(sorted(f.Keys), sorted(l.Keys)) {
			problems = append(problems, fmt.Sprintf("%s success lines differ: keys %v and %v", l.Action, f.Keys, l.Keys))
			first[l.Action] = l // report each new shape once
		}
	}
	return problems
}

func sorted(keys []string) []string { return slices.Sorted(slices.Values(keys)) }

// Is reports whether l is a line of action with result whose details
// include each key and value of pairs (key, value, key, value, ...): the
// one way tests pick a line.
func (l Line) Is(action logattr.Action, result logattr.Result, pairs ...string) bool {
	if l.Action != action || l.Result != result {
		return false
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		if v, ok := l.Values[pairs[i]]; !ok || v != pairs[i+1] {
			return false
		}
	}
	return true
}

// Find is the lines of lines that are action with result and pairs (as
// Is), in order.
func Find(lines []Line, action logattr.Action, result logattr.Result, pairs ...string) []Line {
	var out []Line
	for _, l := range lines {
		if l.Is(action, result, pairs...) {
			out = append(out, l)
		}
	}
	return out
}

// Pattern is a regular expression matching a raw line of action with
// result and, in that order after them, the details of pairs (key, value,
// ...; a value is matched as written), for waiting on a process's output
// before it can be parsed.
func Pattern(action logattr.Action, result logattr.Result, pairs ...string) string {
	p := `action: ` + regexp.QuoteMeta(action) + ` \| result: ` + regexp.QuoteMeta(result)
	for i := 0; i+1 < len(pairs); i += 2 {
		p += `(?: \|[^|]*)*? \| ` + regexp.QuoteMeta(pairs[i]) + `: ` + regexp.QuoteMeta(pairs[i+1])
	}
	p += `(?: \||$)`
	return p
}
