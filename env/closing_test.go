package env

import (
	"strings"
	"testing"
	"time"
)

func TestTheClosingTimeIsAnInstantOrADailyTime(t *testing.T) {
	t.Parallel()
	argentina := time.FixedZone("", -3*3600)
	tests := []struct {
		name  string
		value string
		want  ClosingTime
		fail  string // what the error says, "" when it loads
	}{
		{"unset keeps the barrier alone", "", ClosingTime{}, ""},
		{"an instant with its offset is that instant", "2026-12-01T21:00:00-03:00",
			ClosingTime{At: time.Date(2026, 12, 1, 21, 0, 0, 0, argentina)}, ""},
		{"an instant in UTC is that instant", "2026-12-02T00:00:00Z",
			ClosingTime{At: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)}, ""},
		{"a daily time is minutes after midnight", "21:00", ClosingTime{Daily: true, Clock: 21 * time.Hour}, ""},
		{"midnight is a daily time", "00:00", ClosingTime{Daily: true}, ""},
		{"a minute before midnight is a daily time", "23:59", ClosingTime{Daily: true, Clock: 23*time.Hour + 59*time.Minute}, ""},
		{"an hour past 23 is refused", "24:00", ClosingTime{}, `SERVER_CLOSING_TIME="24:00": want a daily time HH:MM`},
		{"a minute past 59 is refused", "21:60", ClosingTime{}, `SERVER_CLOSING_TIME="21:60": want a daily time HH:MM`},
		{"an hour without its leading zero is refused", "9:00", ClosingTime{}, `SERVER_CLOSING_TIME="9:00": want an RFC 3339 instant`},
		{"an instant without its offset is refused", "2026-12-01T21:00:00", ClosingTime{}, `SERVER_CLOSING_TIME="2026-12-01T21:00:00": want an RFC 3339 instant with its offset`},
		{"a date alone is refused", "2026-12-01", ClosingTime{}, `SERVER_CLOSING_TIME="2026-12-01": want an RFC 3339 instant`},
		{"words are refused", "tonight", ClosingTime{}, `SERVER_CLOSING_TIME="tonight": want an RFC 3339 instant`},
		{"spaces alone are refused, not taken for none", " ", ClosingTime{}, `SERVER_CLOSING_TIME=" ": spaces around the time`},
		{"spaces around a time are refused", " 21:00", ClosingTime{}, `SERVER_CLOSING_TIME=" 21:00": spaces around the time`},
		{"the zero instant is refused, not taken for none", "0001-01-01T00:00:00Z", ClosingTime{}, `SERVER_CLOSING_TIME="0001-01-01T00:00:00Z": an instant before the year 2000`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Server
			err := load(&s, writeFile(t, ""), []string{"SERVER_CLOSING_TIME=" + tt.value})
			switch {
			case tt.fail == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.fail != "" && (err == nil || !strings.Contains(err.Error(), tt.fail)):
				t.Fatalf("got %v, want it to say %q", err, tt.fail)
			case tt.fail == "" && (!s.ClosingTime.At.Equal(tt.want.At) || s.ClosingTime.Daily != tt.want.Daily || s.ClosingTime.Clock != tt.want.Clock):
				t.Fatalf("got %+v, want %+v", s.ClosingTime, tt.want)
			case tt.fail == "" && s.ClosingTime.String() != tt.value:
				t.Fatalf("prints %q, want %q as given", s.ClosingTime.String(), tt.value)
			}
		})
	}
}

func TestRoundsAreOneOrContinuousAndContinuousRoundsCloseDaily(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want Rounds
		fail string
	}{
		{"unset is one round per store", nil, RoundsOne, ""},
		{"continuous is taken", []string{"SERVER_ROUNDS=continuous"}, RoundsContinuous, ""},
		{"the mode's case does not matter", []string{"SERVER_ROUNDS=Continuous"}, RoundsContinuous, ""},
		{"another word is refused with the two choices", []string{"SERVER_ROUNDS=daily"}, "", `SERVER_ROUNDS="daily": want one`},
		{"continuous rounds with a daily close are taken", []string{"SERVER_ROUNDS=continuous", "SERVER_CLOSING_TIME=21:00"}, RoundsContinuous, ""},
		{"continuous rounds with an instant are refused", []string{"SERVER_ROUNDS=continuous", "SERVER_CLOSING_TIME=2030-12-01T21:00:00-03:00"},
			"", "an instant closes one round only"},
		{"one round with an instant is taken", []string{"SERVER_CLOSING_TIME=2030-12-01T21:00:00-03:00"}, RoundsOne, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Server
			err := load(&s, writeFile(t, ""), tt.env)
			switch {
			case tt.fail == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.fail != "" && (err == nil || !strings.Contains(err.Error(), tt.fail)):
				t.Fatalf("got %v, want it to say %q", err, tt.fail)
			case tt.fail == "" && s.Rounds != tt.want:
				t.Fatalf("got %q, want %q", s.Rounds, tt.want)
			}
		})
	}
}
