package logline

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"quiniela/lottery/logattr"
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
			t.Errorf("line does not follow the course's format: %q", l)
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

func TestValuesNeverChangeWhatTheCoursesParserReadsAsKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		value any
		want  string
	}{
		{"an error chain reads with dashes", errors.New("invalid document: must be a number"), "invalid document - must be a number"},
		{"an address inside a text reads host.port", "127.0.0.1:12345", "127.0.0.1.12345"},
		{"a dial error keeps its words", errors.New("dial tcp 127.0.0.1:1: connect: connection refused"), "dial tcp 127.0.0.1.1 - connect - connection refused"},
		{"a trailing colon becomes a dash", "error:", "error -"},
		{"a bar and line breaks are replaced", "a|b\r\nc", "a/b  c"},
		{"accents are kept", "Fornerón: Álvarez", "Fornerón - Álvarez"},
		{"invalid UTF-8 is replaced, not dropped", "Jos\xe9", "Jos\uFFFD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			slog.New(New(&out, slog.LevelInfo)).Info("apuesta_invalida", "result", "fail", "error", tt.value, "line", 7)
			l, err := Parse(strings.TrimSuffix(out.String(), "\n"))
			if err != nil {
				t.Fatalf("%v in %q", err, out.String())
			}
			if got := l.Values["error"]; got != tt.want || l.Values["line"] != "7" {
				t.Fatalf("error %q line %q, want %q and 7", got, l.Values["line"], tt.want)
			}
		})
	}
}

func TestAddressesDurationsAndURLsReadRightInTheLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		attr slog.Attr
		want map[string]string
	}{
		{"a peer is its IP and its port", logattr.Addr("peer", "127.0.0.1:49004"), map[string]string{"peer_ip": "127.0.0.1", "peer_port": "49004"}},
		{"every IPv4 address", logattr.Addr("", "0.0.0.0:9100"), map[string]string{"ip": "0.0.0.0", "port": "9100"}},
		{"every IPv6 address reads --", logattr.Addr("", "[::]:12345"), map[string]string{"ip": "--", "port": "12345"}},
		{"an IPv6 peer has dashes for colons", logattr.Addr("peer", "[2001:db8::7]:40000"), map[string]string{"peer_ip": "2001-db8--7", "peer_port": "40000"}},
		{"a configured central may be a name", logattr.Host("", "server:12345"), map[string]string{"host": "server", "port": "12345"}},
		{"a duration is its milliseconds", logattr.Millis("waited_ms", 1250*time.Millisecond), map[string]string{"waited_ms": "1250"}},
		{"a database URL is a connection string without its password", slog.Any("storage_url", logattr.DatabaseURL("postgres://lottery:s3cret@db:5432/quiniela")),
			map[string]string{"storage_url": "host=db port=5432 user=lottery password=xxxxx dbname=quiniela"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			slog.New(New(&out, slog.LevelInfo)).Info("listen", "result", "success", tt.attr)
			l, err := Parse(strings.TrimSuffix(out.String(), "\n"))
			if err != nil {
				t.Fatalf("%v in %q", err, out.String())
			}
			for k, want := range tt.want {
				if got := l.Values[k]; got != want {
					t.Errorf("%s: got %q, want %q in %q", k, got, want, out.String())
				}
			}
			if len(l.Keys) != 1+len(tt.want) {
				t.Errorf("keys %v, want result and %d more", l.Keys, len(tt.want))
			}
		})
	}
}

func TestParseRefusesWhatTheCoursesParserWouldMisread(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"2026-11-28 20:20:33 WARNING  action: apuesta_invalida | result: fail | error: invalid document: must be",
		"2026-11-28 20:20:33 INFO     action: connect | result: success | address: 127.0.0.1:12345",
		"2026-11-28 20:20:33 INFO     action: sorteo | result: done",
		"2026-11-28 20:20:33 INFO     action: sorteo | ganadores: 3 | result: success",
		"2026-11-28 20:20:33 INFO     action: sorteo | result: success | free text",
		"2026-11-28 20:20:33 NOTICE   action: sorteo | result: success",
		"2026-11-28 20:20:33 INFO     action: sorteo | result: success | n: 1 | n: 2",
	} {
		if _, err := Parse(line); err == nil {
			t.Errorf("accepted %q", line)
		}
	}
}

func TestShapesFindsAnActionWhoseSuccessLinesDiffer(t *testing.T) {
	t.Parallel()
	var lines []Line
	for _, s := range []string{
		"2026-11-28 20:20:33 INFO     action: consulta_ganadores | result: success | cant_ganadores: 2",
		"2026-11-28 20:20:33 DEBUG    action: consulta_ganadores | result: in_progress | code: -1",
		"2026-11-28 20:20:33 INFO     action: resumen | result: success | enviadas: 3",
	} {
		l, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if p := Shapes(lines); len(p) != 0 {
		t.Fatalf("one shape per action reported as %v", p)
	}
	odd, _ := Parse("2026-11-28 20:20:33 DEBUG    action: consulta_ganadores | result: success | documentos: [1 2]")
	if p := Shapes(append(lines, odd)); len(p) != 1 || !strings.Contains(p[0], "consulta_ganadores") {
		t.Fatalf("got %v", p)
	}
}

func TestPatternAndIsPickTheSameLines(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(New(&buf, slog.LevelInfo))
	log.Info(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Success, logattr.CantidadKey, 5, logattr.AgencyKey, 3)
	log.Info(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Success, logattr.CantidadKey, 50, logattr.AgencyKey, 3)
	log.Warn(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Fail, logattr.CantidadKey, 5, logattr.AgencyKey, 3)
	raw := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for _, c := range []struct {
		result logattr.Result
		pairs  []string
		want   []bool
	}{
		{logattr.Success, nil, []bool{true, true, false}},
		{logattr.Success, []string{logattr.CantidadKey, "5"}, []bool{true, false, false}},
		{logattr.Success, []string{logattr.CantidadKey, "5", logattr.AgencyKey, "3"}, []bool{true, false, false}},
		{logattr.Success, []string{logattr.AgencyKey, "3"}, []bool{true, true, false}},
		{logattr.Fail, []string{logattr.AgencyKey, "3"}, []bool{false, false, true}},
		{logattr.InProgress, nil, []bool{false, false, false}},
	} {
		re := regexp.MustCompile(Pattern(logattr.ApuestaRecibida, c.result, c.pairs...))
		for i, r := range raw {
			l, err := Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			if re.MatchString(r) != c.want[i] || l.Is(logattr.ApuestaRecibida, c.result, c.pairs...) != c.want[i] {
				t.Errorf("%s %v on %q: pattern %v, Is %v, want %v", c.result, c.pairs, r, re.MatchString(r), l.Is(logattr.ApuestaRecibida, c.result, c.pairs...), c.want[i])
			}
		}
	}
}

func TestEveryLevelNamesItselfInAColumnOfEight(t *testing.T) {
	t.Parallel()
	for level, want := range map[slog.Level]string{slog.LevelDebug: "DEBUG    action", slog.LevelInfo: "INFO     action", slog.LevelWarn: "WARNING  action", slog.LevelError: "ERROR    action"} {
		var out bytes.Buffer
		slog.New(New(&out, slog.LevelDebug)).Log(context.Background(), level, "x", "result", "success")
		if got := out.String()[len(time.DateTime)+1:]; !strings.HasPrefix(got, want+": x | result: success\n") {
			t.Errorf("a %v line reads %q, want it to begin %q", level, got, want)
		}
	}
}

// BenchmarkABatchStoredLine is the central's line per batch: built in a
// buffer used again, it allocates only its attributes' values.
func BenchmarkABatchStoredLine(b *testing.B) {
	log := slog.New(New(io.Discard, slog.LevelInfo)).With(logattr.AgencyKey, 3)
	b.ReportAllocs()
	for b.Loop() {
		log.Info(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Success, logattr.CantidadKey, 63)
	}
}
