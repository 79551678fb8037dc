package main

import (
	"bufio"
	"bytes"
	"os"

	"quiniela/cmd/internal/logline"
	"quiniela/lottery/logattr"
)

// Reading the processes' logs back: the lines of an action, the last
// failure, a file's lines.

// find returns the lines of a log with the given action and result.
func find(log string, action logattr.Action, result logattr.Result) []logline.Line {
	f, err := os.Open(log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var found []logline.Line
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l, err := logline.Parse(sc.Text()); err == nil && l.Action == action && l.Result == result {
			found = append(found, l)
		}
	}
	return found
}

// lastFailure is the last line of a log that says result: fail, or the
// last line when none does.
func lastFailure(log string) string {
	f, err := os.Open(log)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var last, failed string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		last = sc.Text()
		if l, err := logline.Parse(last); err == nil && l.Result == logattr.Fail {
			failed = last
		}
	}
	if failed != "" {
		return failed
	}
	if last == "" {
		return "(it printed nothing; log in " + log + ")"
	}
	return last
}

func countLines(path string) (int, error) {
	rows, err := os.ReadFile(path)
	return bytes.Count(rows, []byte{'\n'}), err
}
