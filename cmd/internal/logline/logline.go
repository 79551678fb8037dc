// Package logline is the slog handler that writes the course's log lines,
// which other tools parse:
//
//	YYYY-MM-DD HH:MM:SS LEVEL    action: NAME | result: RESULT | key: value | ...
//
// A record's message is the action; its "result" attribute comes first,
// then its other attributes, then those the logger was built With.
//
// The course's parser splits a line on '|' and takes each detail's key as
// the text before the detail's last ':'. So a value whose type has a
// LineText method (logattr's addresses and URLs: an IPv6 address with '-'
// for ':', a URL as a keyword=value connection string) is written as that
// text, and every value is sanitized to never hold '|', ':' or a control
// character: '|' becomes '/', a ':' before a space or at the end becomes
// " -" (so "invalid document: must be" reads "invalid document - must
// be"), any other ':' becomes '.', a control character becomes a space,
// and invalid UTF-8 becomes U+FFFD (a Python reader would fail on it).
// Addresses are never left to the sanitizer: logattr logs them as a host
// and a port. Parse reads a line back the course's way.
package logline

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"quiniela/lottery/logattr"
)

// Handler writes one line per record. It is safe for concurrent use.
type Handler struct {
	out   *output
	level slog.Leveler
	pre   []byte // formatted With attributes
	group string // prefix of With/record keys inside WithGroup
}

type output struct {
	mu sync.Mutex
	w  io.Writer
}

// New returns a handler writing records at level or above to w.
func New(w io.Writer, level slog.Leveler) *Handler {
	return &Handler{out: &output{w: w}, level: level}
}

// Enabled reports whether records at l are written.
func (h *Handler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

// Handle writes r as one line.
func (h *Handler) Handle(_ context.Context, r slog.Record) error {
	held := lineBuffers.Get().(*[]byte)
	buf := r.Time.AppendFormat((*held)[:0], time.DateTime)
	buf = append(buf, ' ')
	buf = appendPadded(buf, LevelName(r.Level), levelWidth)
	buf = append(buf, " action: "...)
	buf = appendValue(buf, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == logattr.ResultKey {
			buf = h.appendAttr(buf, a)
		}
		return true
	})
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != logattr.ResultKey {
			buf = h.appendAttr(buf, a)
		}
		return true
	})
	buf = append(buf, h.pre...)
	buf = append(buf, '\n')
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	_, err := h.out.w.Write(buf)
	if cap(buf) <= maxKeptLine {
		*held = buf
		lineBuffers.Put(held)
	}
	return err
}

// lineBuffers holds the buffers lines are built in: a central logs a line
// per batch stored, and a buffer of its own for each was a page of fresh
// memory every sixteen lines, which this machine's kernel took about 12 µs
// to fault in. A writer never keeps what it is given (io.Writer).
var lineBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// maxKeptLine bounds the buffers kept: a rare long line (a panic's stack)
// is not held on to.
const maxKeptLine = 4 << 10

// levelWidth is the level's column: "WARNING " and "INFO    " line up.
const levelWidth = 8

// appendPadded appends s and spaces up to width bytes.
func appendPadded(buf []byte, s string, width int) []byte {
	buf = append(buf, s...)
	for n := len(s); n < width; n++ {
		buf = append(buf, ' ')
	}
	return buf
}

// WithAttrs returns a handler that adds attrs to every line.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h2 := *h
	h2.pre = append([]byte(nil), h.pre...)
	for _, a := range attrs {
		h2.pre = h2.appendAttr(h2.pre, a)
	}
	return &h2
}

// WithGroup returns a handler whose keys are prefixed with name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.group = h.group + name + "."
	return &h2
}

func (h *Handler) appendAttr(buf []byte, a slog.Attr) []byte {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return buf
	}
	if a.Value.Kind() == slog.KindGroup {
		sub := *h
		if a.Key != "" {
			sub.group = h.group + a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			buf = sub.appendAttr(buf, ga)
		}
		return buf
	}
	buf = append(buf, " | "...)
	buf = appendValue(buf, h.group+a.Key)
	buf = append(buf, ": "...)
	if t, ok := a.Value.Any().(logattr.LineTexter); ok && a.Value.Kind() == slog.KindAny {
		return appendValue(buf, t.LineText())
	}
	return appendValue(buf, a.Value.String())
}

// appendValue appends s sanitized (see the package comment), so that a
// value can never break the line's structure or be misread as a key.
func appendValue(buf []byte, s string) []byte {
	if !strings.ContainsFunc(s, unsafe) && utf8.ValidString(s) {
		return append(buf, s...)
	}
	for i, r := range s {
		switch {
		case r == '|':
			r = '/'
		case r == ':' && (i+1 == len(s) || s[i+1] == ' '):
			buf = append(buf, " -"...)
			continue
		case r == ':':
			r = '.'
		case unsafe(r):
			r = ' '
		}
		buf = utf8.AppendRune(buf, r)
	}
	return buf
}

func unsafe(r rune) bool { return r == '|' || r == ':' || r < 0x20 || r == 0x7f }

// LevelName is a level as the lines name it: DEBUG, INFO, WARNING, ERROR.
func LevelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "DEBUG"
	case l < slog.LevelWarn:
		return "INFO"
	case l < slog.LevelError:
		return "WARNING"
	}
	return "ERROR"
}
