package logline

import (
	"bytes"
	"errors"
	"log/slog"
	"regexp"
	"testing"
)

var linePattern = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) +action: [^|]+ \| result: (success|fail|in_progress)( \| [^|:]+: [^|]*)*$`)

func TestLinesFollowTheContract(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log := slog.New(New(&out, slog.LevelDebug)).With("agency", 3)
	log.Debug("apuesta_almacenada", "result", "success", "dni", 30904465, "numero", 7574)
	log.Info("apuesta_recibida", "cantidad", 63, "result", "fail", "error", errors.New("bad | name\nhere"))
	got := out.String()
	lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), got)
	}
	for _, l := range lines {
		if !linePattern.Match(l) {
			t.Errorf("line does not follow SPEC §3: %q", l)
		}
	}
	if want := "DEBUG    action: apuesta_almacenada | result: success | dni: 30904465 | numero: 7574 | agency: 3"; !bytes.HasSuffix(lines[0], []byte(want)) {
		t.Errorf("got %q, want suffix %q", lines[0], want)
	}
	if want := "INFO     action: apuesta_recibida | result: fail | cantidad: 63 | error: bad / name here | agency: 3"; !bytes.HasSuffix(lines[1], []byte(want)) {
		t.Errorf("got %q, want suffix %q", lines[1], want)
	}
}

func TestRecordsBelowTheLevelAreDropped(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	log := slog.New(New(&out, slog.LevelInfo))
	log.Debug("apuesta_almacenada", "result", "success")
	log.Warn("store_recover", "result", "success")
	if got := out.String(); !regexp.MustCompile(`^\S+ \S+ WARNING  action: store_recover \| result: success\n$`).MatchString(got) {
		t.Fatalf("got %q", got)
	}
}
