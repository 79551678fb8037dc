package agency

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

// A pipeline closed while a batch is half built (its run cancelled, or a
// bet that failed to encode) sends the whole batches before it and
// nothing of the half one: its frame has no count yet, and a central
// would read it as malformed.
func TestAPipelineClosedMidBatchSendsOnlyItsWholeBatches(t *testing.T) {
	t.Parallel()
	agencySide, centralSide := net.Pipe()
	defer centralSide.Close()
	type frame struct {
		header protocol.Header
		bets   []lottery.Bet
	}
	frames := make(chan frame, 4)
	ended := make(chan error, 1)
	go func() { // the central: an OK for every batch, until the stream ends
		r := protocol.NewReader(centralSide)
		for {
			req, err := r.ReadRequest()
			if err != nil {
				ended <- err
				return
			}
			bets, err := protocol.DecodeBatch(nil, req.Body)
			if err != nil {
				ended <- err
				return
			}
			frames <- frame{req.Header, bets}
			if _, err := centralSide.Write(protocol.AppendCode(nil, protocol.CodeOK)); err != nil {
				ended <- err
				return
			}
		}
	}()

	log, _ := quiet()
	a := New(Config{ID: 2, BatchMaxAmount: 63}, log)
	var res Result
	p := a.startPipeline(newClient(agencySide, 2, 5*time.Second), &res)
	bet := func(doc uint32) lottery.Bet {
		return lottery.Bet{Agency: 2, FirstName: "Ana", LastName: "Paz", Document: doc, Birthdate: "1990-01-02", Number: 1}
	}
	for doc := uint32(1); doc <= 3; doc++ {
		if err := p.add(bet(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.endBatch(); err != nil {
		t.Fatal(err)
	}
	for doc := uint32(4); doc <= 5; doc++ { // the half batch
		if err := p.add(bet(doc)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.close(); err != nil {
		t.Fatalf("closing the pipeline: %v", err)
	}
	agencySide.Close()

	got := <-frames
	if got.header.Count != 3 || len(got.bets) != 3 || got.bets[2].Document != 3 {
		t.Fatalf("the central got a batch of %d bets (header says %d), want the whole one of 3: %+v", len(got.bets), got.header.Count, got.bets)
	}
	if err := <-ended; !errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("after the whole batch the central read %v, want the stream's clean end", err)
	}
	if res.Sent != 3 {
		t.Fatalf("%d bets counted as sent, want the 3 acknowledged", res.Sent)
	}
}
