package protocol

import (
	"encoding/binary"
	"fmt"
)

// Header starts every request: action · agency · count.
type Header struct {
	Action Action
	Agency uint16
	Count  uint16
}

// offCount is where a header's count begins.
const offCount = 3

// AppendHeader appends the 5 header bytes of h to dst.
func AppendHeader(dst []byte, h Header) []byte {
	dst = append(dst, byte(h.Action))
	dst = binary.BigEndian.AppendUint16(dst, h.Agency)
	return binary.BigEndian.AppendUint16(dst, h.Count)
}

// DecodeHeader decodes the first HeaderSize bytes of b and checks that the
// action is known and its count within the action's limit, so that the body
// size it implies is safe to read.
func DecodeHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("header: %d bytes, want %d", len(b), HeaderSize)
	}
	h := Header{
		Action: Action(b[0]),
		Agency: binary.BigEndian.Uint16(b[1:3]),
		Count:  binary.BigEndian.Uint16(b[3:5]),
	}
	if _, err := h.BodySize(); err != nil {
		return Header{}, err
	}
	return h, nil
}

// BodySize is the number of bytes that follow the header, or an error when
// the action is unknown or the count is out of its range.
func (h Header) BodySize() (int, error) {
	switch h.Action {
	case ActionBatch:
		if h.Count < 1 || h.Count > MaxBatchCount {
			return 0, fmt.Errorf("%w: batch of %d bets, want 1..%d", ErrCount, h.Count, MaxBatchCount)
		}
		return int(h.Count) * BetSize, nil
	case ActionStatus:
		if h.Count != 0 && h.Count != RoundSize {
			return 0, fmt.Errorf("%w: status request with count %d, want 0 or %d (a round's number)", ErrCount, h.Count, RoundSize)
		}
		return int(h.Count), nil
	case ActionEnd, ActionWinners:
		if h.Count != 0 {
			return 0, fmt.Errorf("%w: %s request with count %d, want 0", ErrCount, h.Action, h.Count)
		}
		return 0, nil
	case ActionEcho:
		if h.Count > MaxEchoPayload {
			return 0, fmt.Errorf("%w: echo of %d bytes, at most %d", ErrCount, h.Count, MaxEchoPayload)
		}
		return int(h.Count), nil
	}
	return 0, fmt.Errorf("%w: 0x%02x", ErrUnknownAction, byte(h.Action))
}
