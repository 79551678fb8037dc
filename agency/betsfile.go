// Reading the bets file: each valid bet in file order, with how far the
// file is read; malformed and invalid lines skipped and reported once.

package agency

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
)

// eachBet streams the bets file from its start and calls fn with each valid
// bet, its count among the valid ones (from 1), and the bytes of the file
// read so far and in all. The bet's text is the reader's buffer: valid
// until fn returns, never kept. A malformed or invalid line, one too long
// included, is logged with its number, once over all sessions, and
// skipped. Surrounding spaces of a field are dropped. It returns how many
// valid bets it saw.
func (a *Agency) eachBet(ctx context.Context, r *round, res *Result, fn func(n int, b lottery.Bet, read, size int64) error) (int, error) {
	f, err := os.Open(a.cfg.DataFile)
	if err != nil {
		return 0, fmt.Errorf("opening the bets file: %w", err)
	}
	defer a.closeFile(f)
	var size int64
	if info, err := f.Stat(); err == nil {
		size = info.Size()
	}
	lines := newLineReader(f)
	fields := newFieldReader()
	today := lottery.DayOf(a.now())
	valid := 0
	for {
		if ctx.Err() != nil {
			return valid, ctx.Err()
		}
		line, err := lines.next()
		if errors.Is(err, io.EOF) {
			return valid, nil
		}
		if errors.Is(err, errLineTooLong) {
			a.skip(r, res, lines.line, err)
			continue
		}
		if err != nil {
			return valid, fmt.Errorf("reading %s: %w", a.cfg.DataFile, err)
		}
		rec, err := fields.fields(line)
		if errors.Is(err, io.EOF) {
			continue // a blank line
		}
		if err != nil {
			a.skip(r, res, lines.line, err)
			continue
		}
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		b, err := lottery.ParseAgencyRecord(a.cfg.ID, rec)
		if err == nil {
			err = b.Validate(anyAgency, today)
		}
		if err != nil {
			a.skip(r, res, lines.line, err)
			continue
		}
		valid++
		if err := fn(valid, b, lines.read, size); err != nil {
			return valid, err
		}
	}
}

func (a *Agency) skip(r *round, res *Result, line int, err error) {
	if line <= r.reportedLine {
		return // reported by an earlier session
	}
	r.reportedLine = line
	res.Skipped++
	a.log.Warn(logattr.ApuestaInvalida, logattr.ResultKey, logattr.Fail, logattr.FileKey, a.cfg.DataFile, logattr.LineKey, line, logattr.ErrorKey, err)
}

func (a *Agency) closeFile(f *os.File) {
	if err := f.Close(); err != nil {
		a.log.Error(logattr.CloseFile, logattr.ResultKey, logattr.Fail, logattr.FileKey, a.cfg.DataFile, logattr.ErrorKey, err)
		return
	}
	a.log.Info(logattr.CloseFile, logattr.ResultKey, logattr.Success, logattr.FileKey, a.cfg.DataFile)
}
