// Sending and resuming: the single bet or the file's bets after those the
// central holds, in batches, and what a refusal for good leaves unstored.

package agency

import (
	"context"
	"errors"
	"fmt"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// sendAll sends what the central does not hold yet: the single bet, or the
// file's bets after the first `stored`. It returns how many valid bets
// there are to hold, and when the central refuses some for good, an error
// that says how many it does not hold (also in res.NotStored).
func (a *Agency) sendAll(ctx context.Context, c *client, r *round, stored int, res *Result) (int, error) {
	if r.single == nil {
		return a.sendFile(ctx, c, r, stored, res)
	}
	if stored == 0 {
		p := a.startPipeline(c, res)
		defer p.close() // on the early return; a second close returns the first's result
		err := p.send([]lottery.Bet{*r.single})
		if err == nil {
			err = p.close()
		}
		if refusedForGood(err) {
			return 1, a.notStored(1, res, err)
		}
		if err != nil {
			return 1, err
		}
	}
	a.log.Info(logattr.ApuestaEnviada, logattr.ResultKey, logattr.Success, logattr.DNIKey, r.single.Document, logattr.NumeroKey, r.single.Number)
	return 1, nil
}

// notStored sets res.NotStored, from the valid bets there are to hold and
// what the central holds, and returns the error that says so.
func (a *Agency) notStored(valid int, res *Result, refused error) error {
	res.NotStored = max(0, valid-res.Held-res.Sent)
	err := fmt.Errorf("%d of the agency's %d valid bets were not stored: %w", res.NotStored, valid, refused)
	if re := (*RefusedError)(nil); errors.As(refused, &re) && re.Code == protocol.CodeAfterEnd {
		err = fmt.Errorf("%w; the central already held an end of agency %d that this run did not send, from an earlier run or from another process with its number", err, a.cfg.ID)
	}
	if bettingClosed(refused) {
		err = fmt.Errorf("%w; betting closed at the central's closing time before they were sent", err)
	}
	return err
}

// sendFile streams the file from its start, skips the first `stored` valid
// bets (the central holds them), and sends the rest in batches. After a
// refusal for good it sends nothing more and reads on, to count the bets
// the central does not hold. It returns how many valid bets the file has.
func (a *Agency) sendFile(ctx context.Context, c *client, r *round, stored int, res *Result) (int, error) {
	p := a.startPipeline(c, res)
	defer p.close() // on the early returns; a second close returns the first's result
	var read, size int64
	var refused error
	// A bet is encoded as it is read: its text is the file reader's, and
	// gone with the next line.
	endBatch := func() error {
		n := p.building()
		if err := p.endBatch(); refusedForGood(err) {
			refused = err
			return nil
		} else if err != nil {
			return err
		}
		r.report.sent += n
		return nil
	}
	valid, err := a.eachBet(ctx, r, res, func(n int, b lottery.Bet, at, of int64) error {
		read, size = at, of
		if n <= stored || refused != nil {
			return nil // the central holds it already, or takes no more
		}
		if err := p.add(b); err != nil {
			return err
		}
		if p.building() == a.cfg.BatchMaxAmount {
			if err := endBatch(); err != nil {
				return err
			}
			r.report.update(read, size, false)
		}
		return nil
	})
	if err != nil {
		return valid, err
	}
	if refused == nil {
		if err := endBatch(); err != nil {
			return valid, err
		}
	}
	if refused == nil {
		r.report.update(size, size, true)
		refused = p.close()
		if !refusedForGood(refused) {
			return valid, refused
		}
	}
	return valid, a.notStored(valid, res, refused)
}
