// The closing time: when betting closes even if some agency has not ended
// (Config.Closing), fixed when the round opens, and the service that
// closes betting and runs the draw at it.

package supervisor

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"quiniela/lottery/logattr"
	"quiniela/store"
)

// Closing is when betting closes: a fixed instant (At), or a daily time of
// day (Daily, Clock after midnight in time.Local), whose instant is the
// first such time after the round opened. The zero Closing is none: the
// round closes when every agency has ended, and only then.
type Closing struct {
	At    time.Time
	Daily bool
	Clock time.Duration
}

func (c Closing) set() bool { return !c.At.IsZero() || c.Daily }

// after is the closing instant of a round opened at opened: At, or the
// first daily Clock strictly after opened, in the central's time zone.
func (c Closing) after(opened time.Time) time.Time {
	if !c.Daily {
		return c.At
	}
	local := opened.In(time.Local)
	y, m, d := local.Date()
	h, min := int(c.Clock.Hours()), int(c.Clock.Minutes())%60
	at := time.Date(y, m, d, h, min, 0, 0, time.Local)
	if !at.After(opened) {
		at = time.Date(y, m, d+1, h, min, 0, 0, time.Local)
	}
	return at
}

// closingForm writes an instant in the log lines without the `:` no value
// may hold: ISO 8601's basic time, 2026-12-01T210000-0300.
const closingForm = "2006-01-02T150405Z0700"

// closingInstant is the round's closing instant (zero for none). It is
// fixed in the store when the round opens (this central's first start on
// it, with a closing time set), and from then on it is the round's own: a
// restart, or a standby taking over, closes when the first central would
// have, whatever its own setting says (a warning says so when they
// differ). A round that would close before it opens (an instant already
// past) is refused: it is surely a mistake, and would draw at once.
func (s *Server) closingInstant(st store.Store, now time.Time) (time.Time, error) {
	fixed, err := st.FixedClosing()
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the round's closing instant: %w", err)
	}
	c := s.cfg.Closing
	if !fixed.IsZero() {
		if !c.agrees(fixed) {
			s.log.Warn(logattr.Cierre, logattr.ResultKey, logattr.InProgress, "hora_cierre", fixed.Format(closingForm),
				"aviso", "the round's closing time was fixed when it opened, and SERVER_CLOSING_TIME ("+c.String()+") does not move it")
		}
		return fixed, nil
	}
	if !c.set() || st.Drawn() {
		return time.Time{}, nil
	}
	closes := c.after(now)
	if !closes.After(now) {
		return time.Time{}, fmt.Errorf("SERVER_CLOSING_TIME %s has passed: the round would close before it opened (set a time ahead, a daily HH:MM, or none)", c)
	}
	if closes, err = st.FixClosing(closes); err != nil {
		return time.Time{}, fmt.Errorf("fixing the round's closing instant: %w", err)
	}
	return closes, nil
}

// agrees reports whether c is the setting that fixed the closing instant
// fixed: the same instant, or the same daily time of day.
func (c Closing) agrees(fixed time.Time) bool {
	switch {
	case c.Daily:
		h, m, _ := fixed.In(time.Local).Clock()
		return time.Duration(h)*time.Hour+time.Duration(m)*time.Minute == c.Clock
	case c.set():
		return c.At.Equal(fixed)
	}
	return false
}

// String is the setting as given, "none" when unset.
func (c Closing) String() string {
	switch {
	case c.Daily:
		return fmt.Sprintf("%02d:%02d", int(c.Clock.Hours()), int(c.Clock.Minutes())%60)
	case c.set():
		return c.At.Format(time.RFC3339)
	}
	return "none"
}

// closeAt waits for the end of round r: the barrier's draw, or its closing
// instant, when it closes betting, waits for every batch already handed to
// the store, and runs the draw if the barrier has not run it first. It
// returns ctx's error if ctx ends first (a restart draws from the store).
func (s *Server) closeAt(ctx context.Context, r *round) error {
	closes := r.closingInstant()
	var at <-chan time.Time
	if !closes.IsZero() {
		t := time.NewTimer(time.Until(closes))
		defer t.Stop()
		at = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-r.drawn:
		return nil // every agency ended first
	case <-at:
	}
	r.closeBetting()
	s.log.Info(logattr.Cierre, logattr.ResultKey, logattr.Success, "hora_cierre", closes.Format(closingForm), logattr.TrasReinicioKey, false)
	// A batch admitted before the close is part of the round: the draw
	// waits for the store's answer to each, so that what it counts is
	// what the store holds, and what a restarted central would count.
	if !r.awaitAllSettled(ctx) {
		return ctx.Err()
	}
	if r.drawAtClose(s.logDraw(r, false)) {
		s.recordDraw(r)
	}
	return nil
}

// absentList writes agencies as the sorteo line's ausentes: 4,5.
func absentList(agencies []uint16) string {
	out := make([]string, len(agencies))
	for i, a := range agencies {
		out[i] = strconv.Itoa(int(a))
	}
	return strings.Join(out, ",")
}
