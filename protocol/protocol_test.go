package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"quiniela/lottery"
)

var santiago = lottery.Bet{
	Agency: 1, FirstName: "Santiago Lionel", LastName: "Lorca",
	Document: 30904465, Birthdate: "1999-03-17", Number: 7574,
}

// unhex decodes hex written with spaces and line breaks for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func zeros(n int) string { return strings.Repeat("00", n) }

// santiagoRecord is the record of santiago, written out field by field.
func santiagoRecord(t testing.TB) []byte {
	return unhex(t, "42"+ // 'B'
		"0001"+ // agency 1
		"000f"+"53616e746961676f204c696f6e656c"+zeros(53-15)+ // "Santiago Lionel"
		"0005"+"4c6f726361"+zeros(52-5)+ // "Lorca"
		"01d79091"+ // document 30904465
		"313939392d30332d3137"+ // "1999-03-17"
		"1d96") // number 7574
}

// courseRecord is the first bet of the course's own test files: document
// 00000000, which is document 0.
func courseRecord(t testing.TB) []byte {
	return unhex(t, "42"+ // 'B'
		"0001"+ // agency 1
		"0004"+"4e616d65"+zeros(53-4)+ // "Name"
		"0007"+"5375726e616d65"+zeros(52-7)+ // "Surname"
		"00000000"+ // document 0
		"323030302d30312d3031"+ // "2000-01-01"
		"1d96") // number 7574
}

func TestDocumentZeroTravelsAsFourZeroBytes(t *testing.T) {
	t.Parallel()
	b := lottery.Bet{Agency: 1, FirstName: "Name", LastName: "Surname", Document: 0, Birthdate: "2000-01-01", Number: 7574}
	got, err := AppendBet(nil, b)
	if err != nil || !bytes.Equal(got, courseRecord(t)) {
		t.Fatalf("encoded %x, %v", got, err)
	}
	back, err := DecodeBet(got)
	if err != nil || back != b {
		t.Fatalf("decoded %+v, %v", back, err)
	}
}

func TestBetRecordGoldenBytes(t *testing.T) {
	t.Parallel()
	want := santiagoRecord(t)
	got, err := AppendBet(nil, santiago)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoded\n%x\nwant\n%x", got, want)
	}
	back, err := DecodeBet(want)
	if err != nil {
		t.Fatal(err)
	}
	if back != santiago {
		t.Fatalf("decoded %+v, want %+v", back, santiago)
	}
}

func TestAccentedNamesRoundTrip(t *testing.T) {
	t.Parallel()
	b := lottery.Bet{Agency: 3, FirstName: "Ñandú José", LastName: "Álvarez Fornerón", Document: 1, Birthdate: "2000-02-29", Number: 0}
	rec, err := AppendBet(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeBet(rec)
	if err != nil || back != b {
		t.Fatalf("got %+v, %v; want %+v", back, err, b)
	}
}

func TestFrameGoldenBytes(t *testing.T) {
	t.Parallel()
	batch, err := AppendBatch(nil, 1, []lottery.Bet{santiago})
	if err != nil {
		t.Fatal(err)
	}
	echo, err := AppendEcho(nil, 0, []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	winners, err := AppendWinners(nil, []uint32{30904465, 7})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  []byte
		want []byte
	}{
		{"a batch of one bet is its header then its record", batch, append(unhex(t, "42 0001 0001"), santiagoRecord(t)...)},
		{"an end request is a bare header with count zero", AppendEnd(nil, 4), unhex(t, "45 0004 0000")},
		{"a winners query is a bare header with count zero", AppendWinnersQuery(nil, 65535), unhex(t, "57 ffff 0000")},
		{"an echo carries its payload length as count", echo, unhex(t, "48 0000 0002 6869")},
		{"ok is a zero i16", AppendCode(nil, CodeOK), unhex(t, "0000")},
		{"draw pending is minus one", AppendCode(nil, CodeDrawPending), unhex(t, "ffff")},
		{"storage failure is minus eight", AppendCode(nil, CodeStorage), unhex(t, "fff8")},
		{"winners are code, u16 count and u32 documents", winners, unhex(t, "0000 0002 01d79091 00000007")},
		{"a status query is a bare header with count zero", AppendStatusQuery(nil, 2), unhex(t, "53 0002 0000")},
		{"a status is code, u32 stored and an ended byte", AppendStatus(nil, Status{Stored: 27000, Ended: true}), unhex(t, "0000 00006978 01")},
		{"a round status query carries the round's u32 as its body", AppendRoundStatusQuery(nil, 2, 3), unhex(t, "53 0002 0004 00000003")},
		{"a round status is a status then the round's u32", AppendRoundStatus(nil, Status{Stored: 27000, Round: 2}), unhex(t, "0000 00006978 00 00000002")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Equal(tt.got, tt.want) {
				t.Fatalf("got %x, want %x", tt.got, tt.want)
			}
		})
	}
}

func TestReadRequestDecodesEveryActionFromOneByteReads(t *testing.T) {
	t.Parallel()
	var stream []byte
	stream, _ = AppendBatch(stream, 1, []lottery.Bet{santiago, santiago})
	stream = AppendEnd(stream, 1)
	stream = AppendWinnersQuery(stream, 1)
	stream, _ = AppendEcho(stream, 1, []byte("ping"))

	r := NewReader(iotest.OneByteReader(bytes.NewReader(stream)))
	want := []Header{
		{ActionBatch, 1, 2}, {ActionEnd, 1, 0}, {ActionWinners, 1, 0}, {ActionEcho, 1, 4},
	}
	for _, w := range want {
		req, err := r.ReadRequest()
		if err != nil {
			t.Fatalf("%s: %v", w.Action, err)
		}
		if req.Header != w {
			t.Fatalf("header %+v, want %+v", req.Header, w)
		}
		switch w.Action {
		case ActionBatch:
			bets, err := DecodeBatch(nil, req.Body)
			if err != nil || len(bets) != 2 || bets[1] != santiago {
				t.Fatalf("batch decoded to %+v, %v", bets, err)
			}
		case ActionEcho:
			if string(req.Body) != "ping" {
				t.Fatalf("echo body %q", req.Body)
			}
		}
	}
	if _, err := r.ReadRequest(); !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the last frame: %v, want a clean io.EOF", err)
	}
}

func TestReadRequestRejectsBadFrames(t *testing.T) {
	t.Parallel()
	fullBatch, _ := AppendBatch(nil, 1, []lottery.Bet{santiago})
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"an unknown action is refused", unhex(t, "5a 0001 0000"), ErrUnknownAction},
		{"a batch of 64 bets would exceed 8 KiB", unhex(t, "42 0001 0040"), ErrCount},
		{"an empty batch is refused", unhex(t, "42 0001 0000"), ErrCount},
		{"an end with a count is refused", unhex(t, "45 0001 0001"), ErrCount},
		{"a winners query with a count is refused", unhex(t, "57 0001 0003"), ErrCount},
		{"an echo over 8187 bytes is refused", unhex(t, "48 0001 1ffc"), ErrCount},
		{"a frame cut inside its header is truncated", unhex(t, "42 00"), io.ErrUnexpectedEOF},
		{"a batch cut inside its record is truncated", fullBatch[:len(fullBatch)-1], io.ErrUnexpectedEOF},
		{"an echo missing its payload is truncated", unhex(t, "48 0001 0004 6869"), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tt.frame)).ReadRequest()
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeBetRejectsMalformedRecords(t *testing.T) {
	t.Parallel()
	mutate := func(f func(rec []byte)) []byte {
		rec := santiagoRecord(t)
		f(rec)
		return rec
	}
	tests := []struct {
		name string
		rec  []byte
	}{
		{"a record without the B marker", mutate(func(r []byte) { r[0] = 'X' })},
		{"a first-name length beyond its 53-byte field", mutate(func(r []byte) { r[offFirstLen+1] = 54 })},
		{"a last-name length beyond its 52-byte field", mutate(func(r []byte) { r[offLastLen+1] = 53 })},
		{"a first name that is not UTF-8", mutate(func(r []byte) { r[offFirstName] = 0xff })},
		{"a name with bytes in its padding", mutate(func(r []byte) { r[offLastLen-1] = 'x' })},
		{"a birthdate that is not ASCII", mutate(func(r []byte) { r[offBirthdate] = 0xc3 })},
		{"a record one byte short", santiagoRecord(t)[:BetSize-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeBet(tt.rec); !errors.Is(err, ErrRecord) {
				t.Fatalf("got %v, want ErrRecord", err)
			}
		})
	}
}

func TestAppendRefusesWhatCannotBeEncoded(t *testing.T) {
	t.Parallel()
	long := santiago
	long.FirstName = strings.Repeat("a", lottery.MaxFirstNameBytes+1)
	if out, err := AppendBet([]byte("x"), long); !errors.Is(err, ErrRecord) || string(out) != "x" {
		t.Fatalf("long name: %q, %v", out, err)
	}
	if out, err := AppendBatch([]byte("x"), 1, []lottery.Bet{santiago, long}); err == nil || string(out) != "x" {
		t.Fatalf("batch with a long name: %q, %v", out, err)
	}
	if _, err := AppendBatch(nil, 1, make([]lottery.Bet, MaxBatchCount+1)); !errors.Is(err, ErrCount) {
		t.Fatalf("oversized batch: %v", err)
	}
	if _, err := AppendEcho(nil, 1, make([]byte, MaxEchoPayload+1)); !errors.Is(err, ErrCount) {
		t.Fatalf("oversized echo: %v", err)
	}
}

func TestMaxBatchFillsButNeverExceedsTheFrame(t *testing.T) {
	t.Parallel()
	if MaxBatchCount != 63 {
		t.Fatalf("MaxBatchCount = %d, want 63", MaxBatchCount)
	}
	bets := make([]lottery.Bet, MaxBatchCount)
	for i := range bets {
		bets[i] = santiago
	}
	frame, err := AppendBatch(nil, 1, bets)
	if err != nil {
		t.Fatal(err)
	}
	if len(frame) > MaxFrameSize || len(frame)+BetSize <= MaxFrameSize {
		t.Fatalf("a full batch is %d bytes; want the most bets within %d", len(frame), MaxFrameSize)
	}
}

func TestReadWinnersAndEchoReplies(t *testing.T) {
	t.Parallel()
	reply, _ := AppendWinners(nil, []uint32{5, 4000000000})
	c, docs, err := ReadWinners(iotest.OneByteReader(bytes.NewReader(reply)))
	if err != nil || c != CodeOK || len(docs) != 2 || docs[0] != 5 || docs[1] != 4000000000 {
		t.Fatalf("winners: %v %v %v", c, docs, err)
	}
	c, docs, err = ReadWinners(bytes.NewReader(AppendCode(nil, CodeDrawPending)))
	if err != nil || c != CodeDrawPending || docs != nil {
		t.Fatalf("pending: %v %v %v", c, docs, err)
	}
	if _, _, err := ReadWinners(bytes.NewReader(reply[:len(reply)-2])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated winners: %v", err)
	}
	echo, _ := AppendEcho(nil, 2, []byte("hola"))
	h, p, err := ReadEcho(iotest.OneByteReader(bytes.NewReader(echo)))
	if err != nil || h != (Header{ActionEcho, 2, 4}) || string(p) != "hola" {
		t.Fatalf("echo: %+v %q %v", h, p, err)
	}
	if _, _, err := ReadEcho(bytes.NewReader(AppendEnd(nil, 2))); err == nil {
		t.Fatal("an end frame was taken for an echo")
	}
}

func TestReadRoundStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		reply string
		want  Status
		err   error
	}{
		{"a round status reads its round", "0000 00000005 01 00000007", Status{Stored: 5, Ended: true, Round: 7}, nil},
		{"round zero is refused: rounds are numbered from 1", "0000 00000005 00 00000000", Status{}, ErrStatus},
		{"a reply cut inside its round is an unexpected end", "0000 00000005 00 0000", Status{}, io.ErrUnexpectedEOF},
		{"an ended flag other than 0 or 1 is refused", "0000 00000005 02 00000001", Status{}, ErrStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, st, err := ReadRoundStatus(iotest.OneByteReader(bytes.NewReader(unhex(t, tt.reply))))
			if !errors.Is(err, tt.err) || st != tt.want {
				t.Fatalf("got %+v, %v; want %+v, %v", st, err, tt.want, tt.err)
			}
		})
	}
}

func TestAStatusRequestTakesABareHeaderOrARoundAndNothingElse(t *testing.T) {
	t.Parallel()
	for count, ok := range map[uint16]bool{0: true, RoundSize: true, 1: false, 3: false, 5: false, 63: false} {
		_, err := DecodeHeader(AppendHeader(nil, Header{Action: ActionStatus, Agency: 1, Count: count}))
		if (err == nil) != ok {
			t.Errorf("status with count %d: error %v, want accepted %v", count, err, ok)
		}
	}
	req, err := NewReader(bytes.NewReader(AppendRoundStatusQuery(nil, 1, 9))).ReadRequest()
	if err != nil || StatusRound(req.Body) != 9 {
		t.Fatalf("round status query read back as round %d, %v", StatusRound(req.Body), err)
	}
	if StatusRound(nil) != 0 {
		t.Fatal("a bare status query must ask for the open round (0)")
	}
}

func TestReadStatus(t *testing.T) {
	t.Parallel()
	c, st, err := ReadStatus(iotest.OneByteReader(bytes.NewReader(AppendStatus(nil, Status{Stored: 5}))))
	if err != nil || c != CodeOK || st != (Status{Stored: 5}) {
		t.Fatalf("got %v %+v %v", c, st, err)
	}
	if _, _, err := ReadStatus(bytes.NewReader(unhex(t, "0000 00000005 02"))); !errors.Is(err, ErrStatus) {
		t.Fatalf("ended flag 2: %v", err)
	}
	if _, _, err := ReadStatus(bytes.NewReader(unhex(t, "0000 0000"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated status: %v", err)
	}
	if c, _, err := ReadStatus(bytes.NewReader(AppendCode(nil, CodeUnknownAgency))); err != nil || c != CodeUnknownAgency {
		t.Fatalf("refusal: %v %v", c, err)
	}
}

func TestCodesHaveDistinctNames(t *testing.T) {
	t.Parallel()
	seen := map[string]Code{}
	for c := range codeNames {
		name := c.String()
		if other, dup := seen[name]; dup {
			t.Fatalf("codes %d and %d share the name %q", c, other, name)
		}
		seen[name] = c
	}
	if got := Code(-99).String(); got != "unknown code -99" {
		t.Fatalf("unknown code prints %q", got)
	}
}

func TestTheReusingDecoderReadsEachBatchAsDecodeBatchDoes(t *testing.T) {
	t.Parallel()
	course := lottery.Bet{Agency: 1, FirstName: "Name", LastName: "Surname", Document: 0, Birthdate: "2000-01-01", Number: 7574}
	malformed := santiagoRecord(t)
	malformed[offFirstLen+1] = 60 // a first name longer than its field
	tests := []struct {
		name    string
		records [][]byte
		want    []lottery.Bet
		wantErr bool
	}{
		{"a batch of two", [][]byte{santiagoRecord(t), courseRecord(t)}, []lottery.Bet{santiago, course}, false},
		{"a later, shorter batch, its text where the first one's was", [][]byte{courseRecord(t)}, []lottery.Bet{course}, false},
		{"a batch malformed in its second bet gives the first", [][]byte{santiagoRecord(t), malformed}, []lottery.Bet{santiago}, true},
		{"a body of part of a record gives none", [][]byte{santiagoRecord(t)[:BetSize-1]}, nil, true},
	}
	var d BatchDecoder
	for _, tt := range tests { // in order, through one decoder
		body := bytes.Join(tt.records, nil)
		got, err := d.Decode(body)
		if (err != nil) != tt.wantErr || !slices.Equal(got, tt.want) {
			t.Fatalf("%s: decoded %+v (%v), want %+v", tt.name, got, err, tt.want)
		}
		plain, perr := DecodeBatch(nil, body)
		if !slices.Equal(got, plain) || (err == nil) != (perr == nil) {
			t.Fatalf("%s: the decoder read %+v (%v), DecodeBatch %+v (%v)", tt.name, got, err, plain, perr)
		}
	}
}

func TestABatchBuiltABetAtATimeIsTheBatchAppendBatchWrites(t *testing.T) {
	t.Parallel()
	course := lottery.Bet{Agency: 1, FirstName: "Name", LastName: "Surname", Document: 0, Birthdate: "2000-01-01", Number: 7574}
	tooLong := santiago
	tooLong.FirstName = strings.Repeat("x", lottery.MaxFirstNameBytes+1)
	var bb BatchBuilder
	out := []byte("earlier frames")
	for _, b := range []lottery.Bet{santiago, tooLong, course} {
		var err error
		if out, err = bb.Add(out, 1, b); (err != nil) != (b == tooLong) {
			t.Fatalf("adding %q: %v", b.FirstName, err)
		}
	}
	if bb.Count() != 2 {
		t.Fatalf("the builder counts %d bets, want 2 (the one refused is not added)", bb.Count())
	}
	bb.Finish(out)
	want, err := AppendBatch([]byte("earlier frames"), 1, []lottery.Bet{santiago, course})
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("built %x\nwant  %x (%v)", out, want, err)
	}
	if bb.Count() != 0 {
		t.Fatalf("a finished builder counts %d bets", bb.Count())
	}
	for range MaxBatchCount {
		out, _ = bb.Add(out, 1, santiago)
	}
	if _, err := bb.Add(out, 1, santiago); !errors.Is(err, ErrCount) {
		t.Fatalf("a bet past %d in one batch was added (%v)", MaxBatchCount, err)
	}
}
