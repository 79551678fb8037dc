package supervisor

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
	"quiniela/store"
	"quiniela/store/csvfile"
)

// heldStore holds the answer of every batch until release is closed, as a
// store whose disk or database hangs would; the batches are stored all the
// same.
type heldStore struct {
	store.Store
	release chan struct{}
}

func (h *heldStore) NewStream() store.Stream { return heldStream{h.Store.NewStream(), h.release} }

type heldStream struct {
	store.Stream
	release chan struct{}
}

func (s heldStream) Submit(ctx context.Context, bets []lottery.Bet) store.Pending {
	return heldPending{s.Stream.Submit(ctx, bets), s.release}
}

type heldPending struct {
	store.Pending
	release chan struct{}
}

func (p heldPending) Wait() error {
	<-p.release
	return p.Pending.Wait()
}

func TestAStatusCountsTheBatchesAnOlderConnectionLeftInTheStoresHands(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), log)
	if err != nil {
		t.Fatal(err)
	}
	held := &heldStore{Store: st, release: make(chan struct{})}
	cfg := testConfig()
	cfg.FrameTimeout, cfg.ShutdownTimeout = 200*time.Millisecond, 400*time.Millisecond
	ts := startServerWith(t, cfg, held, log, logs, nil)

	// The agency's first connection sends a batch; the store holds it.
	first := dial(t, ts.addr)
	frame, err := protocol.AppendBatch(nil, 1, bets(1, 1, 10))
	if err != nil {
		t.Fatal(err)
	}
	first.send(frame)
	// It reconnects and asks what is stored: the older connection cannot
	// finish while its batch is in the store's hands, so replacing it times
	// out, and the answer must not be a count without that batch.
	second := dial(t, ts.addr)
	if code, st := second.status(1); code != protocol.CodeStorage {
		t.Fatalf("status with a batch of an older connection still in flight: code %v, stored %d; want -8, come back", code, st.Stored)
	}
	close(held.release)
	third := dial(t, ts.addr)
	if code, st := third.status(1); code != protocol.CodeOK || st.Stored != 10 {
		t.Fatalf("status once the batch was stored: code %v, stored %d; want 0 and 10", code, st.Stored)
	}
}
