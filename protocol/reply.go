package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// AppendCode appends the i16 reply to a batch or end request (and the
// failure reply to any request).
func AppendCode(dst []byte, c Code) []byte {
	return binary.BigEndian.AppendUint16(dst, uint16(c))
}

// AppendWinners appends the successful reply to a winners query: code 0,
// u16 count, then each winner's u32 document.
func AppendWinners(dst []byte, documents []uint32) ([]byte, error) {
	if len(documents) > MaxWinners {
		return dst, fmt.Errorf("%w: %d winners, at most %d fit in a reply", ErrWinners, len(documents), MaxWinners)
	}
	dst = AppendCode(dst, CodeOK)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(documents)))
	for _, d := range documents {
		dst = binary.BigEndian.AppendUint32(dst, d)
	}
	return dst, nil
}

// ReadCode reads an i16 reply code.
func ReadCode(r io.Reader) (Code, error) {
	var b [CodeSize]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, fmt.Errorf("reading reply code: %w", err)
	}
	return Code(binary.BigEndian.Uint16(b[:])), nil
}

// ReadWinners reads the reply to a winners query. On CodeOK it returns the
// documents of the agency's winners; on any other code, none.
func ReadWinners(r io.Reader) (Code, []uint32, error) {
	c, err := ReadCode(r)
	if err != nil || c != CodeOK {
		return c, nil, err
	}
	var nb [2]byte
	if _, err := io.ReadFull(r, nb[:]); err != nil {
		return c, nil, fmt.Errorf("reading winners count: %w", unexpected(err))
	}
	n := int(binary.BigEndian.Uint16(nb[:])) // at most MaxWinners: bounded allocation
	raw := make([]byte, n*documentSize)
	if _, err := io.ReadFull(r, raw); err != nil {
		return c, nil, fmt.Errorf("reading %d winners: %w", n, unexpected(err))
	}
	docs := make([]uint32, n)
	for i := range docs {
		docs[i] = binary.BigEndian.Uint32(raw[i*documentSize:])
	}
	return c, docs, nil
}

// ReadEcho reads the reply to an echo request: the same header and payload.
// The payload is returned in a new slice; its length is bounded by
// MaxEchoPayload.
func ReadEcho(r io.Reader) (Header, []byte, error) {
	var head [HeaderSize]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return Header{}, nil, fmt.Errorf("reading echo header: %w", err)
	}
	h, err := DecodeHeader(head[:])
	if err != nil {
		return Header{}, nil, fmt.Errorf("reading echo header: %w", err)
	}
	if h.Action != ActionEcho {
		return h, nil, fmt.Errorf("reading echo header: %w: got %s", ErrUnknownAction, h.Action)
	}
	payload := make([]byte, h.Count)
	if _, err := io.ReadFull(r, payload); err != nil {
		return h, nil, fmt.Errorf("reading echo payload: %w", unexpected(err))
	}
	return h, payload, nil
}

// unexpected turns an io.EOF inside a frame into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
