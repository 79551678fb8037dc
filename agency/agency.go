// Package agency is the client side of the lottery: what one betting agency
// does in a round. It streams its bets file (or sends one bet), in batches
// that each must be acknowledged, says it is done, and asks for its winners
// until the draw has happened. It shares only the wire protocol and the bet
// domain with the central, and is handed its settings.
package agency

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

// Config holds one agency's settings.
type Config struct {
	ID             uint16
	ServerAddress  string
	BatchMaxAmount int
	DataFile       string
	// SingleBet, when set, holds the five fields of the one bet to send
	// instead of the file.
	SingleBet      []string
	ConnectTimeout time.Duration // keep retrying to connect this long
	WinnersTimeout time.Duration // keep asking for winners this long
	IOTimeout      time.Duration // longest wait for one reply
}

// Result sums up a round.
type Result struct {
	Sent     int      // bets acknowledged by the central
	Rejected int      // bets of batches the central refused
	Skipped  int      // malformed or invalid lines of the file
	Winners  []uint32 // documents of this agency's winners
}

// anyAgency bounds the agency number when an agency validates its own bets:
// only the central knows AGENCIES.
const anyAgency = math.MaxUint16

// ErrRefused is wrapped by Run's error when the central refuses a request.
var ErrRefused = errors.New("refused by the central")

// Backoff between connection attempts and between winners queries.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// Agency runs one agency's round.
type Agency struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns an agency with the given settings, logging to log.
func New(cfg Config, log *slog.Logger) *Agency {
	if cfg.BatchMaxAmount > protocol.MaxBatchCount {
		log.Warn("config", "result", "success", "cli_batch_max_amount", cfg.BatchMaxAmount,
			"capped_to", protocol.MaxBatchCount, "reason", "a larger batch would exceed the 8 KiB frame")
		cfg.BatchMaxAmount = protocol.MaxBatchCount
	}
	return &Agency{cfg: cfg, log: log, now: time.Now}
}

// BatchMaxAmount is the effective batch size, after capping.
func (a *Agency) BatchMaxAmount() int { return a.cfg.BatchMaxAmount }

// Run plays the agency's round: send every bet, end, get the winners. On
// cancellation it stops at once, closing the connection and the file, and
// returns ctx's error.
func (a *Agency) Run(ctx context.Context) (Result, error) {
	var res Result
	var single lottery.Bet
	var file *os.File
	if a.cfg.SingleBet != nil {
		b, err := lottery.ParseAgencyRecord(a.cfg.ID, a.cfg.SingleBet)
		if err == nil {
			err = b.Validate(anyAgency, a.now())
		}
		if err != nil {
			return res, fmt.Errorf("the single bet is invalid: %w", err)
		}
		single = b
	} else {
		f, err := os.Open(a.cfg.DataFile)
		if err != nil {
			return res, fmt.Errorf("opening the bets file: %w", err)
		}
		file = f
		defer func() {
			if file != nil {
				a.closeFile(file)
			}
		}()
	}

	conn, err := a.connect(ctx)
	if err != nil {
		return res, err
	}
	c := &client{conn: conn, agency: a.cfg.ID, timeout: a.cfg.IOTimeout}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	defer a.closeConn(conn)

	if file != nil {
		err = a.sendFile(ctx, c, file, &res)
		a.closeFile(file) // every bet is sent: the file is not needed any more
		file = nil
	} else {
		err = a.sendBatch(c, []lottery.Bet{single}, &res)
		if err == nil {
			a.log.Info("apuesta_enviada", "result", "success", "dni", single.Document, "numero", single.Number)
		}
	}
	if err == nil {
		err = c.end()
	}
	if err == nil {
		res.Winners, err = a.awaitWinners(ctx, c)
	}
	if err == nil {
		a.log.Info("consulta_ganadores", "result", "success", "cant_ganadores", len(res.Winners))
		a.log.Debug("consulta_ganadores", "result", "success", "documentos", fmt.Sprint(res.Winners))
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	return res, err
}

// connect dials the central, retrying with backoff until ConnectTimeout:
// agencies may start before the central.
func (a *Agency) connect(ctx context.Context) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.ConnectTimeout)
	defer cancel()
	var d net.Dialer
	wait := minBackoff
	for attempt := 1; ; attempt++ {
		conn, err := d.DialContext(ctx, "tcp", a.cfg.ServerAddress)
		if err == nil {
			a.log.Info("connect", "result", "success", "address", a.cfg.ServerAddress, "attempts", attempt)
			return conn, nil
		}
		a.log.Debug("connect", "result", "in_progress", "address", a.cfg.ServerAddress, "attempt", attempt, "error", err)
		if !sleep(ctx, jitter(wait)) {
			if parent := context.Cause(ctx); errors.Is(parent, context.Canceled) {
				return nil, parent
			}
			return nil, fmt.Errorf("central unreachable at %s after %s (%d attempts): %w", a.cfg.ServerAddress, a.cfg.ConnectTimeout, attempt, err)
		}
		wait = min(2*wait, maxBackoff)
	}
}

// sendFile streams the file, batching valid bets; a malformed or invalid
// line is logged with its number and skipped.
func (a *Agency) sendFile(ctx context.Context, c *client, f io.Reader, res *Result) error {
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.ReuseRecord = true
	batch := make([]lottery.Bet, 0, a.cfg.BatchMaxAmount)
	today := a.now()
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			a.skip(res, perr.StartLine, perr.Err)
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", a.cfg.DataFile, err)
		}
		line, _ := r.FieldPos(0)
		b, err := lottery.ParseAgencyRecord(a.cfg.ID, rec)
		if err == nil {
			err = b.Validate(anyAgency, today)
		}
		if err != nil {
			a.skip(res, line, err)
			continue
		}
		if batch = append(batch, b); len(batch) == a.cfg.BatchMaxAmount {
			if err := a.sendBatch(c, batch, res); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		return a.sendBatch(c, batch, res)
	}
	return nil
}

func (a *Agency) skip(res *Result, line int, err error) {
	res.Skipped++
	a.log.Warn("apuesta_invalida", "result", "fail", "file", a.cfg.DataFile, "line", line, "error", err)
}

// sendBatch sends one batch; it counts as sent only once acknowledged.
func (a *Agency) sendBatch(c *client, batch []lottery.Bet, res *Result) error {
	code, err := c.batch(batch)
	if err != nil {
		return err
	}
	if code != protocol.CodeOK {
		res.Rejected += len(batch)
		return fmt.Errorf("%w: a batch of %d bets: %v (code %d)", ErrRefused, len(batch), code, int16(code))
	}
	res.Sent += len(batch)
	a.log.Debug("batch_enviado", "result", "success", "cantidad", len(batch))
	return nil
}

// awaitWinners asks for the winners until the draw has happened, backing
// off with jitter between "not yet" answers, for at most WinnersTimeout.
func (a *Agency) awaitWinners(ctx context.Context, c *client) ([]uint32, error) {
	deadline := time.Now().Add(a.cfg.WinnersTimeout)
	wait := minBackoff
	for {
		code, docs, err := c.winners()
		if err != nil {
			return nil, err
		}
		switch code {
		case protocol.CodeOK:
			return docs, nil
		case protocol.CodeDrawPending:
		default:
			return nil, fmt.Errorf("%w: winners query: %v (code %d)", ErrRefused, code, int16(code))
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("the draw did not happen within %s", a.cfg.WinnersTimeout)
		}
		if !sleep(ctx, min(jitter(wait), left)) {
			return nil, ctx.Err()
		}
		wait = min(2*wait, maxBackoff)
	}
}

func (a *Agency) closeConn(conn net.Conn) {
	if err := conn.Close(); err != nil {
		a.log.Error("close_connection", "result", "fail", "error", err)
		return
	}
	a.log.Info("close_connection", "result", "success", "address", a.cfg.ServerAddress)
}

func (a *Agency) closeFile(f *os.File) {
	if err := f.Close(); err != nil {
		a.log.Error("close_file", "result", "fail", "file", a.cfg.DataFile, "error", err)
		return
	}
	a.log.Info("close_file", "result", "success", "file", a.cfg.DataFile)
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
