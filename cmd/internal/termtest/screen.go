// Package termtest is a terminal screen for tests: what a terminal would
// show of the bytes written to it.
package termtest

import (
	"strings"
	"sync"
)

// Screen is what a terminal shows of what is written to it: enough of one
// to see whether a line was cut or overwritten (\r, \n as a terminal's
// output processing makes it, and ESC [ K, which erases to the line's end).
type Screen struct {
	mu    sync.Mutex
	lines [][]rune
	col   int
}

func (s *Screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lines == nil {
		s.lines = [][]rune{nil}
	}
	text := string(p)
	for text != "" {
		cur := &s.lines[len(s.lines)-1]
		switch {
		case strings.HasPrefix(text, "\x1b[K"):
			*cur = (*cur)[:min(s.col, len(*cur))]
			text = text[3:]
			continue
		case text[0] == '\r':
			s.col = 0
		case text[0] == '\n':
			s.lines, s.col = append(s.lines, nil), 0
		default:
			r := []rune(text)[0]
			for len(*cur) <= s.col {
				*cur = append(*cur, ' ')
			}
			(*cur)[s.col] = r
			s.col++
			text = text[len(string(r)):]
			continue
		}
		text = text[1:]
	}
	return len(p), nil
}

// Shown is the screen's lines, without the empty one after a last newline.
func (s *Screen) Shown() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, l := range s.lines {
		out = append(out, string(l))
	}
	if len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// Last is the screen's last line.
func (s *Screen) Last() string {
	lines := s.Shown()
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}
