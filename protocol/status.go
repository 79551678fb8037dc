package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Status is what the central holds of one agency in a round: how many of
// its bets are stored, and whether its end was recorded. An agency asks for
// it on every (re)connection and resumes right after the bets already
// stored, so that a batch whose acknowledgement was lost is neither lost
// nor stored twice.
//
// Round is the round's number (a round status only): a central running
// one round after another numbers them 1, 2, …, and an agency that
// reconnects asks for the round it joined, not the one open by then, so
// that it never sends its bets again into the next one.
type Status struct {
	Stored uint32
	Ended  bool
	Round  uint32
}

// AppendStatusQuery appends the request for the agency's status in the
// open round: a bare header. Its reply has no round (ReadStatus).
func AppendStatusQuery(dst []byte, agency uint16) []byte {
	return AppendHeader(dst, Header{Action: ActionStatus, Agency: agency})
}

// AppendRoundStatusQuery appends the request for the agency's status in
// round (0: the open round, the one a new run joins): a header of count
// RoundSize and the round's u32. Its reply carries the round's number
// (ReadRoundStatus).
func AppendRoundStatusQuery(dst []byte, agency uint16, round uint32) []byte {
	dst = AppendHeader(dst, Header{Action: ActionStatus, Agency: agency, Count: RoundSize})
	return binary.BigEndian.AppendUint32(dst, round)
}

// StatusRound is the round a status request's body asks for: 0 for a bare
// query (the open round), else the round status query's u32. The body's
// size was checked with the header.
func StatusRound(body []byte) uint32 {
	if len(body) < RoundSize {
		return 0
	}
	return binary.BigEndian.Uint32(body)
}

// AppendStatus appends the successful reply to a bare status query: code
// 0, stored u32, ended u8 (0 or 1).
func AppendStatus(dst []byte, st Status) []byte {
	dst = AppendCode(dst, CodeOK)
	dst = binary.BigEndian.AppendUint32(dst, st.Stored)
	ended := byte(0)
	if st.Ended {
		ended = 1
	}
	return append(dst, ended)
}

// AppendRoundStatus appends the successful reply to a round status query:
// a status reply, then the round's u32.
func AppendRoundStatus(dst []byte, st Status) []byte {
	return binary.BigEndian.AppendUint32(AppendStatus(dst, st), st.Round)
}

// ReadStatus reads the reply to a bare status query. On a code other than
// CodeOK only the code is read.
func ReadStatus(r io.Reader) (Code, Status, error) {
	return readStatus(r, false)
}

// ReadRoundStatus reads the reply to a round status query. On a code other
// than CodeOK only the code is read.
func ReadRoundStatus(r io.Reader) (Code, Status, error) {
	return readStatus(r, true)
}

func readStatus(r io.Reader, withRound bool) (Code, Status, error) {
	c, err := ReadCode(r)
	if err != nil || c != CodeOK {
		return c, Status{}, err
	}
	var b [RoundStatusSize - CodeSize]byte
	body := b[:StatusSize-CodeSize]
	if withRound {
		body = b[:]
	}
	if _, err := io.ReadFull(r, body); err != nil {
		return c, Status{}, fmt.Errorf("reading status: %w", unexpected(err))
	}
	if b[4] > 1 {
		return c, Status{}, fmt.Errorf("%w: ended flag %d, want 0 or 1", ErrStatus, b[4])
	}
	st := Status{Stored: binary.BigEndian.Uint32(b[:4]), Ended: b[4] == 1}
	if withRound {
		st.Round = binary.BigEndian.Uint32(b[5:])
		if st.Round == 0 {
			return c, Status{}, fmt.Errorf("%w: round 0, rounds are numbered from 1", ErrStatus)
		}
	}
	return c, st, nil
}
