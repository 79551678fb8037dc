package supervisor

import (
	"context"
	"log/slog"
	"quiniela/lottery/logattr"
	"sync"
	"time"
)

// logLimit lets at most burst lines through per interval and counts the
// rest, so that a peer sending garbage as fast as it can (or a flood of
// connections) cannot flood the log: the first line let through after some
// were held back is preceded by one saying how many (log_suppressed).
type logLimit struct {
	interval time.Duration
	burst    int

	mu         sync.Mutex
	start      time.Time // of the current interval
	n          int       // lines let through in it
	suppressed int       // lines held back since the last report
}

func newLogLimit() *logLimit { return &logLimit{interval: logInterval, burst: logBurst} }

// log writes the line if the limit allows it, after reporting what was
// held back, and otherwise counts it.
func (l *logLimit) log(log *slog.Logger, level slog.Level, action logattr.Action, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.start) >= l.interval {
		l.start, l.n = now, 0
	}
	if l.n >= l.burst {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.n++
	held := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if held > 0 {
		log.Warn(logattr.LogSuppressed, logattr.ResultKey, logattr.Success, "suppressed", held)
	}
	log.Log(context.Background(), level, action, args...)
}

// flush reports lines still held back, when the source goes away.
func (l *logLimit) flush(log *slog.Logger) {
	l.mu.Lock()
	held := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if held > 0 {
		log.Warn(logattr.LogSuppressed, logattr.ResultKey, logattr.Success, "suppressed", held)
	}
}
