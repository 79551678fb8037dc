package protocol

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"quiniela/lottery"
)

// Layout of the 128-byte bet record:
// 'B' · agency u16 · first-name length u16 · first name [53] ·
// last-name length u16 · last name [52] · document u32 · birthdate [10] ·
// number u16.
const (
	betMarker      = 'B'
	offAgency      = 1
	offFirstLen    = offAgency + 2
	offFirstName   = offFirstLen + 2
	offLastLen     = offFirstName + lottery.MaxFirstNameBytes
	offLastName    = offLastLen + 2
	offDocument    = offLastName + lottery.MaxLastNameBytes
	offBirthdate   = offDocument + 4
	offNumber      = offBirthdate + lottery.DateLen
	betRecordTotal = offNumber + 2
)

// The record layout must add up to BetSize; this fails to compile otherwise.
var _ = [1]struct{}{}[betRecordTotal-BetSize]

// AppendBet appends the 128-byte record of b to dst. It fails, appending
// nothing, when a field cannot be represented: a name longer than its field
// or a birthdate that is not 10 bytes long.
func AppendBet(dst []byte, b lottery.Bet) ([]byte, error) {
	if len(b.FirstName) > lottery.MaxFirstNameBytes {
		return dst, fmt.Errorf("%w: first name of %d bytes, at most %d", ErrRecord, len(b.FirstName), lottery.MaxFirstNameBytes)
	}
	if len(b.LastName) > lottery.MaxLastNameBytes {
		return dst, fmt.Errorf("%w: last name of %d bytes, at most %d", ErrRecord, len(b.LastName), lottery.MaxLastNameBytes)
	}
	if len(b.Birthdate) != lottery.DateLen {
		return dst, fmt.Errorf("%w: birthdate %q is not %d bytes", ErrRecord, b.Birthdate, lottery.DateLen)
	}
	start := len(dst)
	dst = append(dst, make([]byte, BetSize)...)
	rec := dst[start:]
	rec[0] = betMarker
	binary.BigEndian.PutUint16(rec[offAgency:], b.Agency)
	binary.BigEndian.PutUint16(rec[offFirstLen:], uint16(len(b.FirstName)))
	copy(rec[offFirstName:offLastLen], b.FirstName)
	binary.BigEndian.PutUint16(rec[offLastLen:], uint16(len(b.LastName)))
	copy(rec[offLastName:offDocument], b.LastName)
	binary.BigEndian.PutUint32(rec[offDocument:], b.Document)
	copy(rec[offBirthdate:offNumber], b.Birthdate)
	binary.BigEndian.PutUint16(rec[offNumber:], b.Number)
	return dst, nil
}

// DecodeBet decodes one record. It checks the record's own structure: the
// marker, each name length within its field, names in UTF-8, zero padding
// and an ASCII birthdate. The rules of a bet are lottery.Bet.Validate's.
func DecodeBet(rec []byte) (lottery.Bet, error) {
	if len(rec) != BetSize {
		return lottery.Bet{}, fmt.Errorf("%w: %d bytes, want %d", ErrRecord, len(rec), BetSize)
	}
	if err := checkBet(rec); err != nil {
		return lottery.Bet{}, err
	}
	first, last := nameLen(rec, offFirstLen), nameLen(rec, offLastLen)
	return betOf(rec, string(rec[offFirstName:offFirstName+first]), string(rec[offLastName:offLastName+last]), string(rec[offBirthdate:offNumber])), nil
}

// checkBet checks the structure of a record of BetSize bytes.
func checkBet(rec []byte) error {
	if rec[0] != betMarker {
		return fmt.Errorf("%w: marker 0x%02x, want 'B'", ErrRecord, rec[0])
	}
	if err := checkName("first name", rec[offFirstLen:offLastLen]); err != nil {
		return err
	}
	if err := checkName("last name", rec[offLastLen:offDocument]); err != nil {
		return err
	}
	for _, c := range rec[offBirthdate:offNumber] {
		if c >= utf8.RuneSelf {
			return fmt.Errorf("%w: birthdate is not ASCII", ErrRecord)
		}
	}
	return nil
}

// nameLen is the length of the name field at rec[at:], once checked.
func nameLen(rec []byte, at int) int { return int(binary.BigEndian.Uint16(rec[at:])) }

// betOf is the bet of a checked record, with its text given.
func betOf(rec []byte, first, last, birthdate string) lottery.Bet {
	return lottery.Bet{
		Agency:    binary.BigEndian.Uint16(rec[offAgency:]),
		FirstName: first,
		LastName:  last,
		Document:  binary.BigEndian.Uint32(rec[offDocument:]),
		Birthdate: birthdate,
		Number:    binary.BigEndian.Uint16(rec[offNumber:]),
	}
}

// checkName checks a length-prefixed, zero-padded name field.
func checkName(what string, field []byte) error {
	n := int(binary.BigEndian.Uint16(field))
	text := field[2:]
	if n > len(text) {
		return fmt.Errorf("%w: %s length %d exceeds its %d-byte field", ErrRecord, what, n, len(text))
	}
	if !allZero(text[n:]) {
		return fmt.Errorf("%w: %s padding is not zero", ErrRecord, what)
	}
	if !utf8.Valid(text[:n]) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrRecord, what)
	}
	return nil
}

// allZero says whether every byte of b is zero, eight at a time: the
// padding of a record's two names is most of its bytes.
func allZero(b []byte) bool {
	var or uint64
	for len(b) >= 8 {
		or |= binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	for _, c := range b {
		or |= uint64(c)
	}
	return or == 0
}
