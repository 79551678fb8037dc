package protocol

import (
	"encoding/binary"
	"fmt"
	"io"
	"unsafe"

	"quiniela/lottery"
)

// Request is one decoded request frame. Body aliases the Reader's buffer and
// is valid only until the next ReadRequest.
type Request struct {
	Header
	Body []byte
}

// Reader reads request frames from a stream into one reused buffer of
// MaxFrameSize bytes: reading never allocates, whatever the peer claims.
type Reader struct {
	r   io.Reader
	buf [MaxFrameSize]byte
}

// NewReader returns a Reader of the requests on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// ReadRequest reads the next whole frame. A clean end of stream before a
// frame is io.EOF; an end inside a frame is io.ErrUnexpectedEOF. A header
// whose action is unknown or whose count is out of range is an error
// (ErrUnknownAction, ErrCount) returned before reading any body: the stream
// cannot be resynchronised after it.
func (r *Reader) ReadRequest() (Request, error) {
	head := r.buf[:HeaderSize]
	if _, err := io.ReadFull(r.r, head); err != nil {
		return Request{}, fmt.Errorf("reading header: %w", err)
	}
	h, err := DecodeHeader(head)
	if err != nil {
		return Request{Header: Header{Action: Action(head[0])}}, fmt.Errorf("reading header: %w", err)
	}
	size, _ := h.BodySize() // checked by DecodeHeader
	body := r.buf[HeaderSize : HeaderSize+size]
	if _, err := io.ReadFull(r.r, body); err != nil {
		return Request{}, fmt.Errorf("reading %s body of %d bytes: %w", h.Action, size, unexpected(err))
	}
	return Request{Header: h, Body: body}, nil
}

// DecodeBatch appends the bets of a batch body to dst. On a malformed
// record it returns the bets decoded so far and an error naming the record
// (counted from 1).
func DecodeBatch(dst []lottery.Bet, body []byte) ([]lottery.Bet, error) {
	// The batch's names and birthdates are checked and copied side by
	// side, then made one string that every bet's text is a part of: one
	// allocation per batch instead of three per bet.
	var texts [maxBatchText]byte
	packed, n, err := packBatch(texts[:0], body)
	return appendBets(dst, body[:n*BetSize], string(packed)), err
}

// maxBatchText is the most text (names and birthdates) a batch holds.
const maxBatchText = MaxBatchCount * (BetSize - offFirstName)

// BatchDecoder decodes batches as DecodeBatch does into memory of its own,
// reused by every Decode: the bets it returns, and their text, are valid
// only until the next Decode. A central's session decodes a batch, checks
// it and hands it to the store, which copies what it keeps; a batch
// allocating its text, 1,252 times in a round of 79,000 bets, made the
// heap grow, and fresh memory is faulted in a page at a time.
type BatchDecoder struct {
	bets []lottery.Bet
	text []byte
}

// Decode decodes a batch body, as DecodeBatch does.
func (d *BatchDecoder) Decode(body []byte) ([]lottery.Bet, error) {
	if d.text == nil {
		d.text = make([]byte, 0, maxBatchText)
		d.bets = make([]lottery.Bet, 0, MaxBatchCount)
	}
	packed, n, err := packBatch(d.text[:0], body)
	// The bytes behind the string change only at the next Decode, which
	// the caller has promised not to reach while it holds these bets.
	text := unsafe.String(unsafe.SliceData(packed), len(packed))
	d.bets = appendBets(d.bets[:0], body[:n*BetSize], text)
	return d.bets, err
}

// packBatch checks the records of body and appends their text to packed,
// each bet's first name, last name and birthdate in turn. It returns how
// many records it read before the first malformed one, and that one's
// error.
func packBatch(packed, body []byte) ([]byte, int, error) {
	if len(body)%BetSize != 0 {
		return packed, 0, fmt.Errorf("%w: batch body of %d bytes is not a whole number of records", ErrRecord, len(body))
	}
	n := 0
	for ; n*BetSize < len(body); n++ {
		rec := body[n*BetSize : (n+1)*BetSize]
		if err := checkBet(rec); err != nil {
			return packed, n, fmt.Errorf("bet %d: %w", n+1, err)
		}
		first, last := nameLen(rec, offFirstLen), nameLen(rec, offLastLen)
		packed = append(packed, rec[offFirstName:offFirstName+first]...)
		packed = append(packed, rec[offLastName:offLastName+last]...)
		packed = append(packed, rec[offBirthdate:offNumber]...)
	}
	return packed, n, nil
}

// appendBets appends the bets of the checked records of body, their text
// parts of text, as packBatch laid it out.
func appendBets(dst []lottery.Bet, body []byte, text string) []lottery.Bet {
	for i := 0; i*BetSize < len(body); i++ {
		rec := body[i*BetSize : (i+1)*BetSize]
		first, last := nameLen(rec, offFirstLen), nameLen(rec, offLastLen)
		dst = append(dst, betOf(rec, text[:first], text[first:first+last], text[first+last:first+last+lottery.DateLen]))
		text = text[first+last+lottery.DateLen:]
	}
	return dst
}

// AppendBatch appends a whole batch request of the agency's bets to dst.
func AppendBatch(dst []byte, agency uint16, bets []lottery.Bet) ([]byte, error) {
	if len(bets) < 1 || len(bets) > MaxBatchCount {
		return dst, fmt.Errorf("%w: batch of %d bets, want 1..%d", ErrCount, len(bets), MaxBatchCount)
	}
	start := len(dst)
	dst = AppendHeader(dst, Header{Action: ActionBatch, Agency: agency, Count: uint16(len(bets))})
	for i, b := range bets {
		var err error
		if dst, err = AppendBet(dst, b); err != nil {
			return dst[:start], fmt.Errorf("bet %d: %w", i+1, err)
		}
	}
	return dst, nil
}

// BatchBuilder appends a batch request to a buffer a bet at a time, so
// that a bet's text need live only until it is added: an agency reads a
// bet from its file and encodes it before reading the next line, whose
// bytes replace it. The zero BatchBuilder is ready; Add begins a frame,
// Finish ends it.
type BatchBuilder struct {
	start int // where the frame begins in the buffer
	count int // bets added to it
}

// Add appends b's record to the batch in dst, beginning the batch's frame
// for the agency when it holds none. It fails, appending nothing, when b
// cannot be represented (AppendBet) or the batch is full.
func (bb *BatchBuilder) Add(dst []byte, agency uint16, b lottery.Bet) ([]byte, error) {
	if bb.count == MaxBatchCount {
		return dst, fmt.Errorf("%w: a batch holds at most %d bets", ErrCount, MaxBatchCount)
	}
	start := len(dst)
	if bb.count == 0 {
		dst = AppendHeader(dst, Header{Action: ActionBatch, Agency: agency})
	}
	dst, err := AppendBet(dst, b)
	if err != nil {
		return dst[:start], err
	}
	if bb.count == 0 {
		bb.start = start
	}
	bb.count++
	return dst, nil
}

// Count is how many bets the batch being built holds.
func (bb *BatchBuilder) Count() int { return bb.count }

// Finish writes the batch's count into its header in dst and readies the
// builder for the next batch.
func (bb *BatchBuilder) Finish(dst []byte) {
	if bb.count > 0 {
		binary.BigEndian.PutUint16(dst[bb.start+offCount:], uint16(bb.count))
	}
	*bb = BatchBuilder{}
}

// AppendEnd appends the request that says the agency has sent all its bets.
func AppendEnd(dst []byte, agency uint16) []byte {
	return AppendHeader(dst, Header{Action: ActionEnd, Agency: agency})
}

// AppendWinnersQuery appends the request for the agency's winners.
func AppendWinnersQuery(dst []byte, agency uint16) []byte {
	return AppendHeader(dst, Header{Action: ActionWinners, Agency: agency})
}

// AppendEcho appends an echo request carrying payload.
func AppendEcho(dst []byte, agency uint16, payload []byte) ([]byte, error) {
	if len(payload) > MaxEchoPayload {
		return dst, fmt.Errorf("%w: echo of %d bytes, at most %d", ErrCount, len(payload), MaxEchoPayload)
	}
	dst = AppendHeader(dst, Header{Action: ActionEcho, Agency: agency, Count: uint16(len(payload))})
	return append(dst, payload...), nil
}
