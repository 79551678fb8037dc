package protocol

import (
	"bytes"
	"slices"
	"testing"

	"quiniela/lottery"
)

// FuzzReadRequest feeds arbitrary streams to the request reader: it must
// never panic, never return a body larger than a frame, and every batch it
// decodes must encode back to the very bytes it came from.
func FuzzReadRequest(f *testing.F) {
	batch, _ := AppendBatch(nil, 1, []lottery.Bet{santiago})
	echo, _ := AppendEcho(nil, 1, []byte("ping"))
	f.Add(batch)
	f.Add(AppendEnd(nil, 2))
	f.Add(AppendWinnersQuery(nil, 3))
	f.Add(AppendStatusQuery(nil, 4))
	f.Add(AppendRoundStatusQuery(nil, 4, 2))
	f.Add(echo)
	f.Add([]byte{'B', 0, 1, 0, 64})
	f.Add([]byte{'B', 0, 1})
	f.Fuzz(func(t *testing.T, stream []byte) {
		r := NewReader(bytes.NewReader(stream))
		var decoder BatchDecoder
		for {
			req, err := r.ReadRequest()
			if err != nil {
				return
			}
			if HeaderSize+len(req.Body) > MaxFrameSize {
				t.Fatalf("body of %d bytes exceeds the frame", len(req.Body))
			}
			if req.Action != ActionBatch {
				continue
			}
			bets, err := DecodeBatch(nil, req.Body)
			reused, rerr := decoder.Decode(req.Body)
			if !slices.Equal(bets, reused) || (err == nil) != (rerr == nil) {
				t.Fatalf("the reusing decoder read %d bets (%v), DecodeBatch %d (%v)", len(reused), rerr, len(bets), err)
			}
			if err != nil {
				continue
			}
			again, err := AppendBatch(nil, req.Agency, bets)
			if err != nil {
				t.Fatalf("decoded batch does not encode: %v", err)
			}
			if !bytes.Equal(again[HeaderSize:], req.Body) {
				t.Fatalf("batch re-encodes to other bytes")
			}
		}
	})
}

// FuzzDecodeBet checks that a record that decodes encodes back to itself.
func FuzzDecodeBet(f *testing.F) {
	f.Add(santiagoRecord(f))
	f.Add(courseRecord(f))
	f.Add(make([]byte, BetSize))
	f.Fuzz(func(t *testing.T, rec []byte) {
		b, err := DecodeBet(rec)
		if err != nil {
			return
		}
		again, err := AppendBet(nil, b)
		if err != nil {
			t.Fatalf("decoded bet %+v does not encode: %v", b, err)
		}
		if !bytes.Equal(again, rec) {
			t.Fatalf("record re-encodes to other bytes:\n%x\n%x", rec, again)
		}
	})
}

// FuzzReadWinners checks that a winners reply that decodes encodes back to
// its prefix, and that reading never panics.
func FuzzReadWinners(f *testing.F) {
	ok, _ := AppendWinners(nil, []uint32{1, 2, 3})
	f.Add(ok)
	f.Add(AppendCode(nil, CodeDrawPending))
	f.Add([]byte{0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, reply []byte) {
		c, docs, err := ReadWinners(bytes.NewReader(reply))
		if err != nil || c != CodeOK {
			return
		}
		again, err := AppendWinners(nil, docs)
		if err != nil || !bytes.HasPrefix(reply, again) {
			t.Fatalf("winners reply re-encodes to other bytes: %v", err)
		}
	})
}

// FuzzReadEcho checks that an echo reply that decodes encodes back to its
// prefix.
func FuzzReadEcho(f *testing.F) {
	echo, _ := AppendEcho(nil, 7, []byte("hola"))
	f.Add(echo)
	f.Add([]byte{'H', 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, reply []byte) {
		h, payload, err := ReadEcho(bytes.NewReader(reply))
		if err != nil {
			return
		}
		again, err := AppendEcho(nil, h.Agency, payload)
		if err != nil || !bytes.HasPrefix(reply, again) {
			t.Fatalf("echo re-encodes to other bytes: %v", err)
		}
	})
}

// FuzzReadStatus checks that a status reply that decodes encodes back to its
// prefix.
func FuzzReadStatus(f *testing.F) {
	f.Add(AppendStatus(nil, Status{Stored: 27000, Ended: true}))
	f.Add(AppendCode(nil, CodeUnknownAgency))
	f.Add([]byte{0, 0, 0, 0, 0, 1, 2})
	f.Fuzz(func(t *testing.T, reply []byte) {
		c, st, err := ReadStatus(bytes.NewReader(reply))
		if err != nil || c != CodeOK {
			return
		}
		if again := AppendStatus(nil, st); !bytes.HasPrefix(reply, again) {
			t.Fatalf("status reply re-encodes to other bytes")
		}
	})
}

// FuzzReadRoundStatus checks that a round status reply that decodes encodes
// back to its prefix, with a round numbered from 1.
func FuzzReadRoundStatus(f *testing.F) {
	f.Add(AppendRoundStatus(nil, Status{Stored: 27000, Ended: true, Round: 3}))
	f.Add(AppendCode(nil, CodeBettingClosed))
	f.Add([]byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, reply []byte) {
		c, st, err := ReadRoundStatus(bytes.NewReader(reply))
		if err != nil || c != CodeOK {
			return
		}
		if st.Round == 0 {
			t.Fatal("a round status decoded with round 0")
		}
		if again := AppendRoundStatus(nil, st); !bytes.HasPrefix(reply, again) {
			t.Fatalf("round status reply re-encodes to other bytes")
		}
	})
}
