// Waiting for the draw: the winners query asked again, with backoff, until
// the central answers or Config.WinnersTimeout passes.

package agency

import (
	"context"
	"fmt"
	"time"

	"quiniela/protocol"
)

// awaitWinners asks for the winners until the draw has happened, backing
// off with jitter between "not yet" answers, for at most WinnersTimeout.
// When asked, a first query is already on its way: its reply comes first.
func (a *Agency) awaitWinners(ctx context.Context, c *client, r *round, asked bool) ([]uint32, error) {
	wait := minBackoff
	for {
		query := c.winners
		if asked {
			query, asked = c.readWinners, false
		}
		code, docs, err := query()
		if err != nil {
			return nil, err
		}
		r.progress = time.Now()
		switch code {
		case protocol.CodeOK:
			return docs, nil
		case protocol.CodeDrawPending:
		default:
			return nil, refusal("winners query", code)
		}
		left := time.Until(r.winnersDeadline)
		if left <= 0 {
			return nil, fmt.Errorf("the draw did not happen within %s", a.cfg.WinnersTimeout)
		}
		if !sleep(ctx, min(jitter(wait), left)) {
			return nil, ctx.Err()
		}
		wait = min(2*wait, maxBackoff)
	}
}
