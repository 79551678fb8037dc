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
// same. submitted, when set, is told of each batch handed to it.
type heldStore struct {
	store.Store
	release   chan struct{}
	submitted chan struct{}
}

func (h *heldStore) NewStream() store.Stream { return heldStream{h.Store.NewStream(), h} }

type heldStream struct {
	store.Stream
	held *heldStore
}

func (s heldStream) Submit(ctx context.Context, bets []lottery.Bet) store.Pending {
	p := heldPending{s.Stream.Submit(ctx, bets), s.held.release}
	if s.held.submitted != nil {
		s.held.submitted <- struct{}{}
	}
	return p
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
	held := &heldStore{Store: st, release: make(chan struct{}), submitted: make(chan struct{}, 1)}
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
	<-held.submitted
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

// doubtingStore stores every batch and answers it store.ErrInDoubt, as a
// store that could not learn whether a commit whose reply was lost went
// through does.
type doubtingStore struct{ store.Store }

func (d doubtingStore) NewStream() store.Stream { return doubtingStream{d.Store.NewStream()} }

type doubtingStream struct{ store.Stream }

func (s doubtingStream) Submit(ctx context.Context, bets []lottery.Bet) store.Pending {
	return doubtingPending{s.Stream.Submit(ctx, bets)}
}

type doubtingPending struct{ store.Pending }

func (p doubtingPending) Wait() error {
	if err := p.Pending.Wait(); err != nil {
		return err
	}
	return store.ErrInDoubt
}

func TestAStatusIsRefusedOnceABatchOfTheAgencyIsInDoubt(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), log)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, testConfig(), doubtingStore{st}, log, logs, nil)
	first := dial(t, ts.addr)
	if code := first.batch(1, bets(1, 1, 10)); code == protocol.CodeOK {
		t.Fatal("a batch in doubt was acknowledged")
	}
	// The batch was stored; a count without it would have the agency send
	// it again. No count is given.
	second := dial(t, ts.addr)
	if code, st := second.status(1); code != protocol.CodeStorage {
		t.Fatalf("status of an agency with a batch in doubt: code %v, stored %d; want -8", code, st.Stored)
	}
	// Other agencies are not concerned.
	other := dial(t, ts.addr)
	if code, st := other.status(2); code != protocol.CodeOK || st.Stored != 0 {
		t.Fatalf("status of another agency: code %v, stored %d", code, st.Stored)
	}
}
