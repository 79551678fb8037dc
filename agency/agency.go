// Package agency is the client side of the lottery: what one betting agency
// does in a round. It streams its bets file (or sends one bet), in batches
// that each must be acknowledged, says it is done, and asks for its winners
// until the draw has happened. It shares only the wire protocol and the bet
// domain with the central, and is handed its settings.
package agency

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// Config holds one agency's settings.
type Config struct {
	ID uint16
	// ServerAddresses are the centrals (host:port), tried in turn: one
	// active and its standbys. A failed connection or session moves the
	// agency on to the next.
	ServerAddresses []string
	BatchMaxAmount  int
	DataFile        string
	// SingleBet, when set, holds the five fields of the one bet to send
	// instead of the file.
	SingleBet      []string
	ConnectTimeout time.Duration // keep retrying to connect this long
	WinnersTimeout time.Duration // keep asking for winners this long
	IOTimeout      time.Duration // longest wait for one reply
	// TLS, when set, is the agency's mutual TLS with the central: its
	// certificate, and the CA of the central's.
	TLS *tls.Config
	// OnProgress, when set, is told how far the file is sent, at most every
	// tenth of a second (a progress bar on a terminal); otherwise an INFO
	// progreso line says so every ProgressEvery (0: 5 s).
	OnProgress    func(Progress)
	ProgressEvery time.Duration
}

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
		if final || now.Sub(pr.lastCall) >= 100*time.Millisecond {
			pr.lastCall = now
			pr.a.cfg.OnProgress(p)
		}
		return
	}
	every := pr.a.cfg.ProgressEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	if now.Sub(pr.lastLog) >= every && !final {
		pr.lastLog = now
		pr.a.log.Info("progreso", "result", "in_progress", "enviadas", p.Sent, "leido_pct", int(100*p.Share()),
			"apuestas_por_seg", int(p.Rate()), logattr.Millis("restante_ms", p.Left().Round(time.Millisecond)))
	}
}

// Result sums up a round.
type Result struct {
	Held     int // bets the central already held when this run began
	Sent     int // bets this run had stored (acknowledged, or found stored on reconnecting)
	Rejected int // bets of batches the central refused
	// NotStored is, when the central refused bets for good (after this
	// agency's end, say), how many valid bets of the file it does not hold.
	NotStored int
	Skipped   int      // malformed or invalid lines of the file
	Winners   []uint32 // documents of this agency's winners

	latencies []time.Duration // from sending each batch to its acknowledgement
}

// Latency returns the q-quantile (0..1) of the batch acknowledgement
// latency, 0 when no batch was sent.
func (r Result) Latency(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return l[min(int(q*float64(len(l))), len(l)-1)]
}

// anyAgency bounds the agency number when an agency validates its own bets:
// only the central knows AGENCIES.
const anyAgency = math.MaxUint16

// ErrRefused is wrapped by Run's error when the central refuses a request.
var ErrRefused = errors.New("refused by the central")

// RefusedError is a request the central refused, with its reply code. It
// wraps ErrRefused.
type RefusedError struct {
	What string // the request: "end", "a batch of 63 bets", …
	Code protocol.Code
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%v: %s: %v (code %d)", ErrRefused, e.What, e.Code, int16(e.Code))
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Backoff between connection attempts and between winners queries.
const (
	minBackoff = 10 * time.Millisecond
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
		log.Warn("cap_batch_max_amount", "result", "success", "cli_batch_max_amount", cfg.BatchMaxAmount,
			"capped_to", protocol.MaxBatchCount, "reason", "a larger batch would exceed the 8 KiB frame")
		cfg.BatchMaxAmount = protocol.MaxBatchCount
	}
	return &Agency{cfg: cfg, log: log, now: time.Now}
}

// Run plays the agency's round: send every bet, end, get the winners. A
// broken connection is not the end: the agency reconnects with backoff,
// asks the central what it already holds, and resumes right after it, so
// no bet is lost or stored twice. It gives up when ConnectTimeout passes
// without hearing from the central. On cancellation it stops at once, closing the
// connection and the file, and returns ctx's error.
func (a *Agency) Run(ctx context.Context) (Result, error) {
	var res Result
	if len(a.cfg.ServerAddresses) == 0 {
		return res, errors.New("no central's address to connect to")
	}
	var single *lottery.Bet
	if a.cfg.SingleBet != nil {
		b, err := lottery.ParseAgencyRecord(a.cfg.ID, a.cfg.SingleBet)
		if err == nil {
			err = b.Validate(anyAgency, lottery.DayOf(a.now()))
		}
		if err != nil {
			return res, fmt.Errorf("the single bet is invalid: %w", err)
		}
		single = &b
	} else if f, err := os.Open(a.cfg.DataFile); err != nil {
		return res, fmt.Errorf("opening the bets file: %w", err)
	} else {
		f.Close() // checked early; each session streams it anew
	}

	r := &round{single: single, progress: time.Now(), first: true}
	r.report = progressReport{a: a, start: time.Now(), lastLog: time.Now()}
	wait := minBackoff
	for {
		before := r.progress
		err := a.session(ctx, r, &res)
		switch {
		case err == nil:
			return res, nil
		case ctx.Err() != nil:
			return res, ctx.Err()
		case !retryable(err):
			return res, err
		}
		// Back off between sessions that get nowhere (a central that cannot
		// store, say), and not after one that moved the round on.
		if r.progress != before {
			wait = minBackoff
		}
		pause := jitter(wait)
		if time.Since(r.progress)+pause > a.cfg.ConnectTimeout {
			return res, fmt.Errorf("no progress with the central for %s: %w", a.cfg.ConnectTimeout, err)
		}
		r.central = (r.central + 1) % len(a.cfg.ServerAddresses)
		a.log.Warn("reconnect", "result", "in_progress", "error", err)
		if !sleep(ctx, pause) {
			return res, ctx.Err()
		}
		wait = min(2*wait, maxBackoff)
	}
}

// round is what an agency keeps across its sessions.
type round struct {
	single          *lottery.Bet
	progress        time.Time // when the round last moved on: the start, more bets stored, the end, a winners answer
	stored          uint32    // the most bets the central has said it holds
	reportedLine    int       // malformed lines up to here were reported
	winnersDeadline time.Time // set by the first winners query
	first           bool      // no session has heard the central's status yet
	central         int       // the index of the central to try first
	report          progressReport
}

// retryable tells a broken connection or a central that is going away (a
// new session may succeed) from a refusal or a local failure (it will not).
func retryable(err error) bool {
	// The agency's own file failing (a folder, an I/O error) is not the
	// central's doing, and no new connection mends it; it must be told
	// apart first, as syscall.Errno passes for a net.Error.
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return false
	}
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, errCentralGoingAway) || errors.As(err, &ne)
}

// errCentralGoingAway wraps the refusals that a restarted central lifts.
var errCentralGoingAway = errors.New("the central is going away")

// refusal turns a code other than CodeOK into an error. A central that is
// stopping, recovered from a fault, or could not store a batch may take
// the rest on a new connection: the agency resumes from its status.
func refusal(what string, code protocol.Code) error {
	var err error = &RefusedError{What: what, Code: code}
	if code == protocol.CodeShuttingDown || code == protocol.CodeInternal || code == protocol.CodeStorage {
		err = fmt.Errorf("%w: %w", errCentralGoingAway, err)
	}
	return err
}

func isGoingAway(err error) bool { return errors.Is(err, errCentralGoingAway) }

// refusedForGood tells a refusal that no new session lifts (bets after
// the agency's end, an invalid bet…) from one a restarted central does.
func refusedForGood(err error) bool {
	var re *RefusedError
	return errors.As(err, &re) && !isGoingAway(err)
}

// session is one connection's share of the round: learn what the central
// holds, send the rest, end, and wait for the winners.
func (a *Agency) session(ctx context.Context, r *round, res *Result) error {
	conn, addr, err := a.connect(ctx, r, r.progress.Add(a.cfg.ConnectTimeout))
	if err != nil {
		return err
	}
	c := newClient(conn, a.cfg.ID, a.cfg.IOTimeout)
	stop := context.AfterFunc(ctx, c.kill)
	defer stop()
	defer a.closeConn(conn, addr)

	st, err := c.status()
	if err != nil {
		return err
	}
	if r.first || st.Stored > r.stored {
		r.progress, r.stored = time.Now(), st.Stored
	}
	endedBefore := false // the central held this agency's end before this run
	if r.first {
		r.first = false
		res.Held = int(st.Stored)
		endedBefore = st.Ended
	}
	// What the central holds beyond what it held at the start, this run sent
	// (a batch whose acknowledgement was lost included).
	res.Sent = int(st.Stored) - res.Held
	if st.Stored > 0 || st.Ended {
		a.log.Info("reanudar", "result", "success", "almacenadas", st.Stored, "finalizo", st.Ended)
	}
	// After the end too, the bets the central does not hold are sent: it
	// refuses them, and its refusal fails the round with how many bets it
	// lacks. An end the central holds and this run did not send (a stray
	// process with this agency's number, a hostile peer) is no success.
	valid, err := a.sendAll(ctx, c, r, int(st.Stored), res)
	if res.Held+res.Sent > int(st.Stored) {
		r.progress = time.Now() // acknowledgements came
	}
	if err != nil {
		return err
	}
	switch {
	case endedBefore:
		a.reportEarlierEnd(ctx, int(st.Stored), valid)
	case valid < int(st.Stored) && !st.Ended:
		a.log.Warn("ronda_anterior", "result", "fail", "almacenadas", st.Stored, "en_archivo", valid, "hint", freshRoundHint)
		return fmt.Errorf("the central holds %d bets of agency %d but %s has only %d valid ones: its store is from another round or file (%s)",
			st.Stored, a.cfg.ID, a.cfg.DataFile, valid, freshRoundHint)
	}
	if !st.Ended {
		if err := c.end(); err != nil {
			return err
		}
		r.progress = time.Now()
	}
	if r.winnersDeadline.IsZero() {
		r.winnersDeadline = time.Now().Add(a.cfg.WinnersTimeout)
	}
	winners, err := a.awaitWinners(ctx, c, r)
	if err != nil {
		return err
	}
	res.Winners = winners
	a.log.Info("consulta_ganadores", "result", "success", "cant_ganadores", len(winners))
	for _, doc := range winners {
		a.log.Debug("ganador", "result", "success", "dni", doc)
	}
	return nil
}

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
	a.log.Info("apuesta_enviada", "result", "success", "dni", r.single.Document, "numero", r.single.Number)
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
	return err
}

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
			a.log.Info("connect", "result", "success", logattr.Host("", addr), "attempts", attempt)
			return conn, addr, nil
		}
		level := slog.LevelDebug
		if now := time.Now(); now.Sub(reported) >= retryReport {
			level, reported = slog.LevelInfo, now
		}
		a.log.Log(ctx, level, "connect", "result", "in_progress", logattr.Host("", addr), "attempt", attempt,
			logattr.Millis("time_left_ms", time.Until(giveUp).Round(time.Millisecond)), "error", err)
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

// retryReport spaces the INFO lines of a connection being retried.
const retryReport = 5 * time.Second

// sendFile streams the file from its start, skips the first `stored` valid
// bets (the central holds them), and sends the rest in batches. After a
// refusal for good it sends nothing more and reads on, to count the bets
// the central does not hold. It returns how many valid bets the file has.
func (a *Agency) sendFile(ctx context.Context, c *client, r *round, stored int, res *Result) (int, error) {
	batch := make([]lottery.Bet, 0, a.cfg.BatchMaxAmount)
	p := a.startPipeline(c, res)
	defer p.close() // on the early returns; a second close returns the first's result
	var read, size int64
	var refused error
	valid, err := a.eachBet(ctx, r, res, func(n int, b lottery.Bet, at, of int64) error {
		read, size = at, of
		if n <= stored || refused != nil {
			return nil // the central holds it already, or takes no more
		}
		if batch = append(batch, b); len(batch) == a.cfg.BatchMaxAmount {
			if err := p.send(batch); refusedForGood(err) {
				refused = err
				return nil
			} else if err != nil {
				return err
			}
			r.report.sent += len(batch)
			r.report.update(read, size, false)
			batch = batch[:0]
		}
		return nil
	})
	if err != nil {
		return valid, err
	}
	if len(batch) > 0 && refused == nil {
		if err := p.send(batch); refusedForGood(err) {
			refused = err
		} else if err != nil {
			return valid, err
		} else {
			r.report.sent += len(batch)
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

// freshRoundHint tells an operator how to start a round afresh when the
// central's store holds an earlier one.
const freshRoundHint = "to start a new round, stop the central and empty its store (make docker-storage-reset in the Docker deployment, or remove its STORAGE_FILEPATH and the .ends file beside it)"

// reportEarlierEnd says so when the central held this agency's end before
// this run sent anything and holds all its bets: an agency restarted after
// its end, or a store left from an earlier round, whose winners are the
// ones that will be reported. A file with fewer valid bets than the central
// holds is warned about.
func (a *Agency) reportEarlierEnd(ctx context.Context, stored, valid int) {
	level := slog.LevelInfo
	if valid != stored {
		level = slog.LevelWarn
	}
	a.log.Log(ctx, level, "ronda_anterior", "result", "success", "almacenadas", stored, "en_archivo", valid,
		"aviso", "the central holds this agency's end from an earlier run, so the winners reported are of the round it holds",
		"hint", freshRoundHint)
}

// eachBet streams the bets file from its start and calls fn with each valid
// bet, its count among the valid ones (from 1), and the bytes of the file
// read so far and in all. A malformed or invalid line, one too long
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
	a.log.Warn("apuesta_invalida", "result", "fail", "file", a.cfg.DataFile, "line", line, "error", err)
}

// awaitWinners asks for the winners until the draw has happened, backing
// off with jitter between "not yet" answers, for at most WinnersTimeout.
func (a *Agency) awaitWinners(ctx context.Context, c *client, r *round) ([]uint32, error) {
	wait := minBackoff
	for {
		code, docs, err := c.winners()
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

func (a *Agency) closeConn(conn net.Conn, addr string) {
	if err := conn.Close(); err != nil {
		a.log.Error("close_connection", "result", "fail", logattr.Host("", addr), "error", err)
		return
	}
	a.log.Info("close_connection", "result", "success", logattr.Host("", addr))
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
