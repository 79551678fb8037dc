package env

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ClosingTime is when betting closes: unset (the zero value: the round
// closes when every agency has ended, and only then), a fixed instant
// (RFC 3339, with its offset), or a daily time of day in the central's
// time zone (HH:MM, time.Local).
type ClosingTime struct {
	At    time.Time // the fixed instant, when set
	Daily bool      // a daily time: Clock after midnight
	Clock time.Duration
}

// Set reports whether a closing time was given.
func (c ClosingTime) Set() bool { return !c.At.IsZero() || c.Daily }

// UnmarshalText parses an RFC 3339 instant or a daily HH:MM; empty is
// unset.
func (c *ClosingTime) UnmarshalText(b []byte) error {
	s := string(b)
	*c = ClosingTime{}
	if s == "" {
		return nil
	}
	if strings.TrimSpace(s) != s {
		return errors.New("spaces around the time: write it alone, or leave the key empty for none")
	}
	if len(s) == len("21:00") {
		t, err := time.Parse("15:04", s)
		if err != nil {
			return errors.New("want a daily time HH:MM (00:00 to 23:59) or an RFC 3339 instant such as 2026-12-01T21:00:00-03:00")
		}
		c.Daily, c.Clock = true, time.Duration(t.Hour())*time.Hour+time.Duration(t.Minute())*time.Minute
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return errors.New("want an RFC 3339 instant with its offset, such as 2026-12-01T21:00:00-03:00, or a daily time HH:MM")
	}
	if t.IsZero() || t.Year() < 2000 {
		return errors.New("an instant before the year 2000 is surely a mistake")
	}
	c.At = t
	return nil
}

// String is the setting as given: the instant in RFC 3339, HH:MM, or
// empty when unset.
func (c ClosingTime) String() string {
	switch {
	case c.Daily:
		return fmt.Sprintf("%02d:%02d", int(c.Clock.Hours()), int(c.Clock.Minutes())%60)
	case !c.At.IsZero():
		return c.At.Format(time.RFC3339)
	}
	return ""
}

// Rounds is how many rounds a central serves: one per store (the
// course's), or continuous ones, the next opening as soon as a round is
// drawn.
type Rounds string

// The round modes.
const (
	RoundsOne        Rounds = "one"
	RoundsContinuous Rounds = "continuous"
)

// UnmarshalText parses a round mode.
func (r *Rounds) UnmarshalText(b []byte) error {
	switch Rounds(strings.ToLower(string(b))) {
	case RoundsOne:
		*r = RoundsOne
	case RoundsContinuous:
		*r = RoundsContinuous
	default:
		return errors.New("want one (a round per store, drawn once) or continuous (the next round opens after each draw)")
	}
	return nil
}
