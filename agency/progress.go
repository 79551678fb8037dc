// How far an agency is through its file in this run, and the pacing of
// its reports (a callback or an INFO line).

package agency

import (
	"time"

	"quiniela/lottery/logattr"
)

// Progress is how far an agency is through its bets file in this run.
type Progress struct {
	Sent       int           // bets handed to the central in this run
	Read, Size int64         // bytes of the file read, and its size
	Elapsed    time.Duration // since this run began sending
}

// Share is the part of the file read, 0..1.
func (p Progress) Share() float64 {
	if p.Size <= 0 {
		return 1
	}
	return min(1, float64(p.Read)/float64(p.Size))
}

// Rate is bets sent per second.
func (p Progress) Rate() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Sent) / p.Elapsed.Seconds()
}

// Left is the time the rest of the file should take at this pace.
func (p Progress) Left() time.Duration {
	share := p.Share()
	if share <= 0 {
		return 0
	}
	return time.Duration(float64(p.Elapsed) * (1 - share) / share)
}

// progressReport paces the progress reports of one run.
type progressReport struct {
	a                 *Agency
	start             time.Time
	lastCall, lastLog time.Time
	sent              int
}

// update reports p if it is time to: the callback every tenth of a
// second, the INFO line every ProgressEvery; final reports always.
func (pr *progressReport) update(read, size int64, final bool) {
	now := time.Now()
	p := Progress{Sent: pr.sent, Read: read, Size: size, Elapsed: now.Sub(pr.start)}
	if pr.a.cfg.OnProgress != nil {
		if final || now.Sub(pr.lastCall) >= progressCallEvery {
			pr.lastCall = now
			pr.a.cfg.OnProgress(p)
		}
		return
	}
	every := pr.a.cfg.ProgressEvery
	if every <= 0 {
		every = defaultProgressEvery
	}
	if now.Sub(pr.lastLog) >= every && !final {
		pr.lastLog = now
		pr.a.log.Info(logattr.Progreso, logattr.ResultKey, logattr.InProgress, "enviadas", p.Sent, "leido_pct", int(100*p.Share()),
			"apuestas_por_seg", int(p.Rate()), logattr.Millis("restante_ms", p.Left().Round(time.Millisecond)))
	}
}
