// Reaching a central: dialing the centrals in turn with backoff, and the
// jittered waits every retry of the agency shares.

package agency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"quiniela/lottery/logattr"
)

// connect dials the centrals in turn, from r.central, until one answers,
// with backoff after each round of them, until giveUp: agencies may start
// before the central, it may be restarting, and a standby may be taking
// over. The wait is never silent: the first failure, and then one every
// retryReport, is logged at INFO with the address and the time left.
func (a *Agency) connect(ctx context.Context, r *round, giveUp time.Time) (net.Conn, string, error) {
	ctx, cancel := context.WithDeadline(ctx, giveUp)
	defer cancel()
	wait := minBackoff
	var reported time.Time
	centrals := a.cfg.ServerAddresses
	for attempt := 1; ; attempt++ {
		addr := centrals[r.central]
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, a.cfg.IOTimeout)
		conn, err := dial(attemptCtx, addr, a.cfg.TLS)
		cancelAttempt()
		if err == nil {
			a.log.Info(logattr.Connect, logattr.ResultKey, logattr.Success, logattr.Host("", addr), "attempts", attempt)
			return conn, addr, nil
		}
		level := slog.LevelDebug
		if now := time.Now(); now.Sub(reported) >= retryReport {
			level, reported = slog.LevelInfo, now
		}
		a.log.Log(ctx, level, logattr.Connect, logattr.ResultKey, logattr.InProgress, logattr.Host("", addr), "attempt", attempt,
			logattr.Millis("time_left_ms", time.Until(giveUp).Round(time.Millisecond)), logattr.ErrorKey, err)
		r.central = (r.central + 1) % len(centrals)
		if r.central != 0 && ctx.Err() == nil {
			continue // the next central at once; back off once all were tried
		}
		if !sleep(ctx, jitter(wait)) {
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return nil, "", parent
			}
			return nil, "", fmt.Errorf("central unreachable at %s after %s (%d attempts): %v%s", strings.Join(centrals, ","), a.cfg.ConnectTimeout, attempt, err, unknownHost(err))
		}
		wait = min(2*wait, maxBackoff)
	}
}

// unknownHost explains a central's name that resolves to nothing, which in a
// Compose deployment means its container is not running: Docker's DNS
// forgets a stopped container's name, so it is the central's own log, not
// the network, that says why.
func unknownHost(err error) string {
	var dns *net.DNSError
	if !errors.As(err, &dns) || !dns.IsNotFound {
		return ""
	}
	return fmt.Sprintf(" (no address for %s - is the central running? In Docker a stopped container's name resolves to nothing, and docker logs %s says why it stopped)", dns.Name, dns.Name)
}

// jitter spreads d over [d/2, d) so that agencies do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// sleep waits d, or less if ctx ends first; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
