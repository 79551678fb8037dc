package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
)

// Status is what the central holds of one agency: how many of its bets are
// stored, and whether its end was recorded. An agency asks for it on every
// (re)connection and resumes right after the bets already stored, so that
// a batch whose acknowledgement was lost is neither lost nor stored twice.
type Status struct {
	Stored uint32
	Ended  bool
}

// AppendStatusQuery appends the request for the agency's status.
func AppendStatusQuery(dst []byte, agency uint16) []byte {
	return AppendHeader(dst, Header{Action: ActionStatus, Agency: agency})
}

// AppendStatus appends the successful reply to a status query: code 0,
// stored u32, ended u8 (0 or 1).
func AppendStatus(dst []byte, st Status) []byte {
	dst = AppendCode(dst, CodeOK)
	dst = binary.BigEndian.AppendUint32(dst, st.Stored)
	ended := byte(0)
	if st.Ended {
		ended = 1
	}
	return append(dst, ended)
}

// ReadStatus reads the reply to a status query. On a code other than
// CodeOK only the code is read.
func ReadStatus(r io.Reader) (Code, Status, error) {
	c, err := ReadCode(r)
	if err != nil || c != CodeOK {
		return c, Status{}, err
	}
	var b [StatusSize - CodeSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return c, Status{}, fmt.Errorf("reading status: %w", unexpected(err))
	}
	if b[4] > 1 {
		return c, Status{}, fmt.Errorf("%w: ended flag %d, want 0 or 1", ErrStatus, b[4])
	}
	return c, Status{Stored: binary.BigEndian.Uint32(b[:4]), Ended: b[4] == 1}, nil
}
