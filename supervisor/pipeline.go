package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store"
)

// ack is one reply in the making, in request order: a batch being stored,
// a ready reply, or a barrier that the reader waits on so that a request
// that reads the agency's state sees every earlier batch settled.
type ack struct {
	pending store.Pending
	round   *round          // the round the batch was submitted to
	read    time.Time       // when the batch was read, for the acknowledgement's latency
	batch   protocol.Header // of the batch being stored
	winners []uint32        // documents of its winning bets, recorded once stored
	logged  []lottery.Bet   // its bets, kept only when DEBUG logs each one
	reply   []byte
	barrier chan struct{}
}

// panicked carries a panic out of the reader goroutine, which suture does
// not watch, back to Serve's goroutine, which it does.
type panicked struct{ value any }

func (p *panicked) Error() string { return fmt.Sprint("panic: ", p.value) }

// logPanic logs a recovered panic with its stack and the session's agency:
// suture sees only where it was raised again.
func (s *session) logPanic(goroutine string, value any) {
	s.logger().Error(logattr.SessionPanic, logattr.ResultKey, logattr.Fail, "goroutine", goroutine, "panic", fmt.Sprint(value), "stack", string(debug.Stack()))
}

// pipeline serves the connection with two goroutines that finish together:
// the reader reads, checks and submits frames without waiting for the disk,
// and the acker writes each reply in order once its batch is stored, so an
// agency can keep several batches in flight and they share fsyncs.
func (s *session) pipeline(ctx context.Context) error {
	// Pointers, not the replies in the making themselves: the channel's
	// buffer is allocated once a connection sends its first frame, and a
	// pointer is a sixteenth of an ack, which is allocated as its frame
	// is read.
	acks := make(chan *ack, protocol.MaxInFlight)
	var g errgroup.Group
	g.Go(func() (err error) {
		defer close(acks)
		defer func() {
			if r := recover(); r != nil {
				s.logPanic("reader", r)
				err = &panicked{r}
			}
		}()
		for {
			if err := s.readFrame(ctx, acks); err != nil {
				return err
			}
		}
	})
	var ackErr error
	g.Go(func() error { ackErr = s.writeAcks(acks); return ackErr })
	err := g.Wait()
	if _, crashed := err.(*panicked); !crashed && ackErr != nil {
		return ackErr // the reader stopped because the acker failed: say why
	}
	return err
}

// errAckerPanicked ends a session whose acker panicked: replies in flight
// are lost, so the agency must reconnect and resume from its status.
var errAckerPanicked = errors.New("the reply writer panicked")

// writeAcks writes the replies in order. Every stored batch is counted even
// after a write has failed, or the acker has panicked, so that the
// agency's status stays exact for its next connection.
func (s *session) writeAcks(acks <-chan *ack) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.logPanic("acker", r)
			s.interrupt(0) // stop the reader: nobody answers it now
			for a := range acks {
				s.settleSilently(a)
			}
			err = errAckerPanicked
		}
	}()
	w := bufio.NewWriterSize(s.conn, 512)
	var writeErr error
	for a := range acks {
		var reply []byte
		switch {
		case a.barrier != nil:
			close(a.barrier)
			continue
		case a.pending != nil:
			reply = protocol.AppendCode(s.out[:0], s.settleBatch(a))
			if s.srv.beforeReply != nil {
				s.srv.beforeReply(a.batch.Agency)
			}
		default:
			reply = a.reply
		}
		if writeErr != nil {
			continue
		}
		// A fresh deadline before every write: a reply larger than the
		// buffer goes out inside Write, and an idle session's last deadline
		// is long past. A peer that does not read is cut off after it.
		s.armWrite()
		if _, err := w.Write(reply); err != nil {
			writeErr = fmt.Errorf("writing reply: %w", err)
			s.interrupt(0)
			continue
		}
		if len(acks) == 0 { // nothing else ready: send what we have
			if err := w.Flush(); err != nil {
				writeErr = fmt.Errorf("writing reply: %w", err)
				s.interrupt(0) // stop the reader: nobody hears us
			}
		}
	}
	if writeErr == nil && w.Buffered() > 0 {
		s.armWrite()
		if err := w.Flush(); err != nil {
			writeErr = fmt.Errorf("writing reply: %w", err)
		}
	}
	return writeErr
}

// settleSilently settles what is left after the acker panicked, without a
// reply: batches are counted, barriers opened.
func (s *session) settleSilently(a *ack) {
	switch {
	case a.barrier != nil:
		close(a.barrier)
	case a.pending != nil:
		s.settleBatch(a)
	}
}

// settleBatch waits for a submitted batch, counts it once stored, and
// returns its reply code.
func (s *session) settleBatch(a *ack) protocol.Code {
	log := s.logger()
	defer s.inFlightWinners.Add(-int64(len(a.winners)))
	defer a.round.answered(a.batch.Agency) // after record has counted it
	if err := a.pending.Wait(); err != nil {
		if errors.Is(err, store.ErrInDoubt) {
			// Before answered: no status may count without it.
			a.round.doubt(a.batch.Agency)
		}
		code := protocol.CodeStorage
		if errors.Is(err, store.ErrClosed) || errors.Is(err, context.Canceled) {
			code = protocol.CodeShuttingDown
		}
		s.srv.metrics.batch(code)
		s.warn(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Fail, logattr.CantidadKey, int(a.batch.Count), logattr.CodeKey, int(code), logattr.ErrorKey, err)
		return code
	}
	a.round.record(a.batch.Agency, int(a.batch.Count), a.winners)
	s.srv.metrics.betsStored.WithLabelValues(strconv.Itoa(int(a.batch.Agency))).Add(float64(a.batch.Count))
	s.srv.metrics.batch(protocol.CodeOK)
	s.srv.metrics.batchAckDelay.Observe(time.Since(a.read).Seconds())
	for _, b := range a.logged {
		log.Debug(logattr.ApuestaAlmacenada, logattr.ResultKey, logattr.Success, logattr.DNIKey, b.Document, logattr.NumeroKey, b.Number)
	}
	log.Info(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Success, logattr.CantidadKey, int(a.batch.Count))
	return protocol.CodeOK
}

// readFrame reads one frame, handles it, and queues its reply.
func (s *session) readFrame(ctx context.Context, acks chan<- *ack) error {
	if err := s.waitForFrame(s.br); err != nil {
		return err
	}
	s.armRead()
	req, err := s.rd.ReadRequest()
	if err != nil {
		if errors.Is(err, protocol.ErrUnknownAction) || errors.Is(err, protocol.ErrCount) {
			// The stream cannot be resynchronised: say why, then hang up.
			s.warn(logattr.Request, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(protocol.CodeMalformed), logattr.ErrorKey, err)
			acks <- &ack{reply: protocol.AppendCode(nil, protocol.CodeMalformed)}
			return err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			if s.stoppingNow() {
				return errShutdown
			}
			return fmt.Errorf("frame not completed within %s: %w", s.srv.cfg.FrameTimeout, err)
		}
		return err
	}
	s.srv.metrics.bytesIn.Add(float64(protocol.HeaderSize + len(req.Body)))
	h := req.Header
	s.handling = &h
	if s.srv.beforeHandle != nil {
		s.srv.beforeHandle(uint16(s.agency.Load()), req)
	}
	a := s.handle(ctx, req, acks)
	s.handling = nil
	acks <- &a
	if s.br == s.first && s.agency.Load() != 0 {
		// It speaks for an agency now: its batches come in large reads
		// (reading past the small reader, so no buffered byte is lost).
		// The request's body is no longer needed.
		s.br = bufio.NewReaderSize(s.first, readBuffer)
		s.rd = protocol.NewReader(s.br)
	}
	if s.stoppingNow() {
		return errShutdown
	}
	return nil
}

// settle waits until the acker has settled (and counted) every batch queued
// before it, so that what follows sees the agency's state whole.
func settle(acks chan<- *ack) {
	done := make(chan struct{})
	acks <- &ack{barrier: done}
	<-done
}
