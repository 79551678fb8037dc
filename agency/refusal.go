// The central's refusals, and which failures a new session may mend
// (retryable) and which it never will (refusedForGood).

package agency

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"syscall"

	"quiniela/protocol"
)

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

// bettingClosed tells a refusal because betting closed at the central's
// closing time: final for the bets, but the draw still has this agency's
// stored bets, so its winners are still asked for.
func bettingClosed(err error) bool {
	var re *RefusedError
	return errors.As(err, &re) && re.Code == protocol.CodeBettingClosed
}
