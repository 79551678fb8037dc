package supervisor

import (
	"testing"
	"time"
	"unsafe"
)

func TestTheRateHistoryKeepsTheWholeRoundInBoundedMemory(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 28, 21, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for _, c := range []struct {
		name     string
		bets     map[time.Duration]int // stored at each offset from the first bet
		end      time.Duration
		closed   bool
		interval float64
		want     []float64 // bets per second, a prefix of the series when long
		length   int
	}{
		{
			name: "bets in the first seconds count in their own seconds",
			bets: map[time.Duration]int{0: 10, 500 * time.Millisecond: 5, 1500 * time.Millisecond: 7, 3 * time.Second: 1},
			end:  3500 * time.Millisecond, interval: 1, want: []float64{15, 7, 0}, length: 3,
		},
		{
			name: "the interval under way is shown once the round is closed",
			bets: map[time.Duration]int{0: 10, 3 * time.Second: 4},
			end:  3500 * time.Millisecond, closed: true, interval: 1, want: []float64{10, 0, 0, 4}, length: 4,
		},
		{
			name: "a round longer than the slots merges intervals in pairs and loses no bet",
			bets: map[time.Duration]int{0: 100, time.Second: 60, 239 * time.Second: 8, 240 * time.Second: 6},
			end:  241 * time.Second, interval: 2, want: []float64{80, 0}, length: 120,
		},
		{
			name: "a day-long round still fits in the slots",
			bets: map[time.Duration]int{0: 480, 24 * time.Hour: 1},
			end:  24*time.Hour + time.Second, interval: 512, want: []float64{480.0 / 512}, length: 168,
		},
		{
			name: "a central that stored no bet has no series",
			end:  time.Hour, interval: 1, want: []float64{}, length: 0,
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h rateHistory
			offsets := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond, 3 * time.Second,
				239 * time.Second, 240 * time.Second, 24 * time.Hour}
			total := 0
			for _, d := range offsets {
				if n, ok := c.bets[d]; ok {
					h.add(at(d), n)
					total += n
				}
			}
			got := h.series(at(c.end), c.closed)
			if got.IntervalSeconds != c.interval || len(got.BetsPerSecond) != c.length {
				t.Fatalf("interval %v s and %d intervals, want %v s and %d", got.IntervalSeconds, len(got.BetsPerSecond), c.interval, c.length)
			}
			for i, want := range c.want {
				if d := got.BetsPerSecond[i] - want; d > 0.05 || d < -0.05 {
					t.Errorf("interval %d: %v bets/s, want %v (series %v)", i, got.BetsPerSecond[i], want, got.BetsPerSecond[:len(c.want)])
				}
			}
			var counted uint64
			for _, n := range h.slots {
				counted += n
			}
			if counted != uint64(total) {
				t.Errorf("the slots hold %d bets, %d were stored", counted, total)
			}
		})
	}
	if size := unsafe.Sizeof(rateHistory{}); size > 2048 {
		t.Errorf("the rate history takes %d bytes, want at most 2 KiB", size)
	}
}
