package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"quiniela/agency"
)

// statusLine is the agency's progress on the last line of a terminal: a
// bar while it sends its file, then a spinner while it waits for the draw.
// The log lines go to the same terminal (stdout), so each one erases the
// status line first and draws it again after: a log line is never cut by
// the bar, and the bar stays below the last log line. It exists only when
// stderr is a terminal; in a container, a pipe or a log file the agency
// logs progreso lines instead, and no control character is written.
type statusLine struct {
	out   io.Writer     // the terminal (stderr)
	width func() int    // the terminal's columns
	file  string        // the file's name, without its folder
	spin  time.Duration // between two turns of the spinner

	mu        sync.Mutex
	drawn     bool // a status line is on the screen
	closed    bool
	progress  agency.Progress
	started   bool      // a progress has come
	waitSince time.Time // the file is sent: waiting for the draw since then
	turn      int
	stop      chan struct{} // closed to stop the spinner
	spinning  sync.WaitGroup
}

// newStatusLine returns the status line of the agency's file on stderr
// when stderr is a terminal that can draw one, else nil.
func newStatusLine(file string) *statusLine {
	fd := int(os.Stderr.Fd())
	if !term.IsTerminal(fd) || os.Getenv("TERM") == "dumb" {
		return nil
	}
	return &statusLine{out: os.Stderr, file: filepath.Base(file), spin: 100 * time.Millisecond, stop: make(chan struct{}),
		width: func() int {
			if w, _, err := term.GetSize(fd); err == nil && w > 0 {
				return w
			}
			return 80
		}}
}

// logger returns log with every line written around the status line.
func (s *statusLine) logger(log *slog.Logger) *slog.Logger {
	if s == nil {
		return log
	}
	return slog.New(aroundStatus{Handler: log.Handler(), s: s})
}

// onProgress is the agency's OnProgress: nil without a status line, so
// that the agency logs progreso lines instead.
func (s *statusLine) onProgress() func(agency.Progress) {
	if s == nil {
		return nil
	}
	return s.update
}

// update draws the progress; a file read to its end means the agency now
// waits for the draw, and the spinner starts.
func (s *statusLine) update(p agency.Progress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.progress, s.started = p, true
	switch {
	case p.Share() < 1:
		s.waitSince = time.Time{} // sending again, after a reconnection
	case s.waitSince.IsZero():
		s.waitSince = time.Now()
		s.spinning.Add(1)
		go s.spinner()
	}
	s.drawLocked()
}

func (s *statusLine) spinner() {
	defer s.spinning.Done()
	tick := time.NewTicker(s.spin)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		s.mu.Lock()
		if s.waitSince.IsZero() { // sending again: update draws
			s.mu.Unlock()
			return
		}
		s.turn++
		s.drawLocked()
		s.mu.Unlock()
	}
}

// close erases the status line for good: what follows is the agency's
// summary.
func (s *statusLine) close() {
	if s == nil {
		return
	}
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
		s.eraseLocked()
	}
	s.mu.Unlock()
	s.spinning.Wait()
}

// text is the status line, cut to the terminal's width so that it never
// wraps (a wrapped line could not be erased).
func (s *statusLine) text() string {
	p := s.progress
	var line string
	if !s.waitSince.IsZero() {
		spinner := `|/-\`
		line = fmt.Sprintf("%c %s: %d bets sent, waiting for the draw %s", spinner[s.turn%len(spinner)], s.file, p.Sent,
			time.Since(s.waitSince).Truncate(time.Second))
	} else {
		const size = 20
		filled := int(p.Share() * size)
		line = fmt.Sprintf("[%s%s] %3d%% %s: %d bets, %.0f/s, %s left", strings.Repeat("#", filled), strings.Repeat(".", size-filled),
			int(100*p.Share()), s.file, p.Sent, p.Rate(), p.Left().Round(time.Second))
	}
	if r := []rune(line); len(r) >= s.width() {
		line = string(r[:max(0, s.width()-1)])
	}
	return line
}

func (s *statusLine) drawLocked() {
	if s.closed || !s.started {
		return
	}
	io.WriteString(s.out, "\r"+s.text()+"\x1b[K")
	s.drawn = true
}

func (s *statusLine) eraseLocked() {
	if s.drawn {
		io.WriteString(s.out, "\r\x1b[K")
		s.drawn = false
	}
}

// aroundStatus writes each log line on a line of its own: the status line
// is erased before it and drawn again after it.
type aroundStatus struct {
	slog.Handler
	s *statusLine
}

func (h aroundStatus) Handle(ctx context.Context, r slog.Record) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	h.s.eraseLocked()
	err := h.Handler.Handle(ctx, r)
	h.s.drawLocked()
	return err
}

func (h aroundStatus) WithAttrs(attrs []slog.Attr) slog.Handler {
	return aroundStatus{Handler: h.Handler.WithAttrs(attrs), s: h.s}
}

func (h aroundStatus) WithGroup(name string) slog.Handler {
	return aroundStatus{Handler: h.Handler.WithGroup(name), s: h.s}
}
