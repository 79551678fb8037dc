package protocol

import (
	"bytes"
	"testing"

	"quiniela/lottery"
)

func fullBatch() []lottery.Bet {
	bets := make([]lottery.Bet, MaxBatchCount)
	for i := range bets {
		bets[i] = santiago
		bets[i].Document = uint32(i + 1)
	}
	return bets
}

func BenchmarkEncodeFullBatch(b *testing.B) {
	bets := fullBatch()
	buf := make([]byte, 0, MaxFrameSize)
	b.SetBytes(int64(HeaderSize + len(bets)*BetSize))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendBatch(buf[:0], 1, bets); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFullBatch(b *testing.B) {
	frame, err := AppendBatch(nil, 1, fullBatch())
	if err != nil {
		b.Fatal(err)
	}
	var d BatchDecoder
	bets := make([]lottery.Bet, 0, MaxBatchCount)
	for _, decoder := range []struct {
		name   string
		decode func(body []byte) ([]lottery.Bet, error)
	}{
		{"text allocated per batch", func(body []byte) ([]lottery.Bet, error) { return DecodeBatch(bets[:0], body) }},
		{"text reused by the central's decoder", d.Decode},
	} {
		b.Run(decoder.name, func(b *testing.B) {
			src := bytes.NewReader(frame)
			r := NewReader(src)
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(frame)
				req, err := r.ReadRequest()
				if err != nil {
					b.Fatal(err)
				}
				if got, err := decoder.decode(req.Body); err != nil || len(got) != MaxBatchCount {
					b.Fatal(err)
				}
			}
		})
	}
}
