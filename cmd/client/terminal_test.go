package main

import (
	"log/slog"
	"quiniela/cmd/internal/termtest"
	"strings"
	"sync"
	"testing"
	"time"

	"quiniela/agency"
)

// onScreen is a status line and a logger that share a screen of width
// columns, as the agency's stderr and stdout share a terminal.
func onScreen(width int) (*statusLine, *slog.Logger, *termtest.Screen) {
	scr := &termtest.Screen{}
	s := &statusLine{out: scr, width: func() int { return width }, file: "agency-1.csv", spin: time.Millisecond, stop: make(chan struct{})}
	log := slog.New(slog.NewTextHandler(scr, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	return s, s.logger(log), scr
}

func sending(share float64) agency.Progress {
	return agency.Progress{Sent: int(1000 * share), Read: int64(100 * share), Size: 100, Elapsed: time.Second}
}

func TestTheStatusLineAndTheLogShareATerminalWithoutCuttingEachOther(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		play func(s *statusLine, log *slog.Logger)
		want []string // the screen's lines, the last one's beginning only
	}{
		{
			name: "a log line while the bar is drawn is whole on a line of its own, with the bar below it",
			play: func(s *statusLine, log *slog.Logger) {
				s.update(sending(0.5))
				log.Info("connect", "result", "success")
				log.With("agency", 1).Warn("reconnect", "result", "in_progress")
			},
			want: []string{"level=INFO msg=connect result=success", "level=WARN msg=reconnect agency=1 result=in_progress",
				"[##########..........]  50% agency-1.csv: 500 bets, 500/s, 1s left"},
		},
		{
			name: "log lines before the first progress draw no bar",
			play: func(s *statusLine, log *slog.Logger) { log.Info("config") },
			want: []string{"level=INFO msg=config"},
		},
		{
			name: "a file sent turns the bar into a wait for the draw",
			play: func(s *statusLine, log *slog.Logger) {
				s.update(sending(0.5))
				s.update(sending(1))
				log.Info("end")
			},
			want: []string{"level=INFO msg=end", "agency-1.csv: 1000 bets sent, waiting for the draw"},
		},
		{
			name: "an agency that sends again after a reconnection shows its bar again",
			play: func(s *statusLine, log *slog.Logger) {
				s.update(sending(1))
				s.update(sending(0.25))
			},
			want: []string{"[#####...............]  25%"},
		},
		{
			name: "once closed the status line is erased and log lines stand alone",
			play: func(s *statusLine, log *slog.Logger) {
				s.update(sending(1))
				s.close()
				s.update(sending(1))
				log.Info("resumen", "result", "success")
			},
			want: []string{"level=INFO msg=resumen result=success"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, log, scr := onScreen(100)
			defer s.close()
			c.play(s, log)
			s.mu.Lock() // the spinner may be drawing
			got := scr.Shown()
			s.mu.Unlock()
			if len(got) != len(c.want) {
				t.Fatalf("the screen shows %q, want %q", got, c.want)
			}
			for i, want := range c.want {
				if i == len(c.want)-1 && !strings.HasPrefix(strings.TrimLeft(got[i], `|/-\ `), want) || i < len(c.want)-1 && got[i] != want {
					t.Errorf("line %d shows %q, want %q", i+1, got[i], want)
				}
			}
		})
	}
}

func TestTheSpinnerTurnsWhileTheAgencyWaitsForTheDraw(t *testing.T) {
	t.Parallel()
	s, _, scr := onScreen(100)
	s.update(sending(1))
	seen := map[byte]bool{}
	for deadline := time.Now().Add(10 * time.Second); len(seen) < 4 && time.Now().Before(deadline); {
		if line := scr.Last(); strings.Contains(line, "waiting for the draw") {
			seen[line[0]] = true
		}
		time.Sleep(time.Millisecond)
	}
	s.close()
	if len(seen) < 4 {
		t.Errorf("the spinner showed %d of its 4 frames", len(seen))
	}
	if last := scr.Last(); last != "" {
		t.Errorf("the closed status line left %q", last)
	}
}

func TestTheStatusLineNeverWrapsPastTheTerminalsWidth(t *testing.T) {
	t.Parallel()
	for _, width := range []int{1, 20, 40} {
		s, _, scr := onScreen(width)
		s.update(sending(0.5))
		if got := len([]rune(scr.Last())); got >= width && got > 0 {
			t.Errorf("at %d columns the status line takes %d: %q", width, got, scr.Last())
		}
		s.close()
	}
}

func TestLogLinesFromManyGoroutinesAreNeverCutByTheBar(t *testing.T) {
	t.Parallel()
	s, log, scr := onScreen(100)
	defer s.close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				log.Info("batch", "goroutine", g, "i", i)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			s.update(sending(float64(i) / 400))
		}
	})
	wg.Wait()
	lines := scr.Shown()
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasPrefix(l, "level=INFO msg=batch goroutine=") || strings.Contains(l, "%") {
			t.Fatalf("a log line was cut or overwritten: %q", l)
		}
	}
	if len(lines) != 401 || !strings.HasPrefix(lines[400], "[") {
		t.Errorf("%d lines, the last %q: want 400 log lines and the bar below them", len(lines), lines[len(lines)-1])
	}
}

func TestWithoutATerminalThereIsNoStatusLine(t *testing.T) {
	t.Parallel()
	var s *statusLine
	log := slog.Default()
	if s.logger(log) != log || s.onProgress() != nil {
		t.Error("no status line still wraps the log or takes the progress")
	}
	s.close()
}
