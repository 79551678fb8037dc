package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
)

// memory is a backend that keeps its groups in memory; it refuses a group
// holding the row refuse, when set.
type memory struct {
	mu     sync.Mutex
	rows   []string
	refuse string
}

func encode(dst []byte, bets []lottery.Bet) ([]byte, error) {
	for _, b := range bets {
		if b.FirstName == "" {
			return dst, errors.New("no name")
		}
		dst = fmt.Appendf(dst, "%d:%d;", b.Agency, b.Document)
	}
	return dst, nil
}

func (m *memory) write(rows [][]byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rows {
		if m.refuse != "" && string(r) == m.refuse {
			return errors.New("disk full")
		}
	}
	for _, r := range rows {
		m.rows = append(m.rows, string(r))
	}
	return nil
}

func (m *memory) stored() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.rows, "")
}

func bet(agency uint16, doc uint32) lottery.Bet {
	return lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Pérez", Document: doc, Birthdate: "1990-01-02", Number: 1}
}

var bg = context.Background()

func TestSubmittingMoreThanTheQueueHoldsWaitsForRoomInsteadOfGrowing(t *testing.T) {
	t.Parallel()
	const budget = 1 << 10
	m := &memory{}
	gate := make(chan struct{})
	q := New(budget, encode, func(rows [][]byte) error { <-gate; return m.write(rows) })
	defer q.Close(bg)
	batch := make([]lottery.Bet, 10)
	for i := range batch {
		batch[i] = bet(1, uint32(100+i))
	}
	var pending []store.Pending
	for range 3 * budget / 70 { // three budgets' worth; the writer is held at the gate
		pending = append(pending, q.NewStream().Submit(context.Background(), batch))
		if queued := q.QueuedBytes(); queued > budget {
			t.Fatalf("%d bytes queued, more than the %d allowed", queued, budget)
		}
		if len(pending) == budget/70 {
			close(gate) // let the writer drain, or the next Submit would wait forever
		}
	}
	for _, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if st := q.Stats(); st.Bets != int64(len(pending)*10) || st.Groups >= st.Batches {
		t.Fatalf("stats %+v for %d batches", st, len(pending))
	}
}

func TestAWaitingSubmitGivesUpWhenItsContextEndsOrTheQueueCloses(t *testing.T) {
	t.Parallel()
	m := &memory{}
	q := New(1<<10, encode, m.write)
	// The queue is full: its whole budget is taken.
	if err := q.admission.Acquire(bg, 1<<10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := q.NewStream().Submit(ctx, []lottery.Bet{bet(1, 1)}).Wait(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a Submit whose context ended: %v, want DeadlineExceeded", err)
	}
	refused := make(chan error, 1)
	go func() { refused <- q.NewStream().Submit(bg, []lottery.Bet{bet(1, 2)}).Wait() }()
	if err := q.Close(bg); err != nil {
		t.Fatal(err)
	}
	if err := <-refused; !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a Submit waiting when the queue closed: %v, want ErrClosed", err)
	}
	if got := m.stored(); got != "" {
		t.Fatalf("refused batches were stored: %q", got)
	}
}

func TestAFailedGroupBreaksTheStreamsInItAndNoOthers(t *testing.T) {
	t.Parallel()
	m := &memory{refuse: "1:1;"}
	entered, gate := make(chan struct{}), make(chan struct{})
	first := true
	q := New(1<<20, encode, func(rows [][]byte) error {
		if first {
			first = false
			close(entered)
			<-gate
		}
		return m.write(rows)
	})
	defer q.Close(bg)
	// The writer holds a group of one batch at the gate; the next two queue
	// behind it and fail together.
	held := q.NewStream()
	p0 := held.Submit(bg, []lottery.Bet{bet(9, 1)})
	<-entered
	a, b := q.NewStream(), q.NewStream()
	pa := a.Submit(bg, []lottery.Bet{bet(1, 1)})
	pb := b.Submit(bg, []lottery.Bet{bet(2, 1)})
	close(gate)
	if err := p0.Wait(); err != nil {
		t.Fatal(err)
	}
	if pa.Wait() == nil || pb.Wait() == nil {
		t.Fatal("the batches of a failed group were acknowledged")
	}
	if err := a.Submit(bg, []lottery.Bet{bet(1, 2)}).Wait(); !errors.Is(err, store.ErrBroken) {
		t.Fatalf("a later batch of a stream whose batch failed: %v, want ErrBroken", err)
	}
	if err := held.Submit(bg, []lottery.Bet{bet(9, 2)}).Wait(); err != nil {
		t.Fatalf("another stream's batch: %v", err)
	}
	if got := m.stored(); got != "9:1;9:2;" {
		t.Fatalf("stored %q", got)
	}
}

func TestAnEncodingErrorRefusesTheBatchWholeAndBreaksItsStream(t *testing.T) {
	t.Parallel()
	m := &memory{}
	q := New(1<<20, encode, m.write)
	defer q.Close(bg)
	st := q.NewStream()
	nameless := bet(1, 2)
	nameless.FirstName = ""
	if err := st.Submit(bg, []lottery.Bet{bet(1, 1), nameless}).Wait(); err == nil || !strings.Contains(err.Error(), "no name") {
		t.Fatalf("got %v", err)
	}
	if err := st.Submit(bg, []lottery.Bet{bet(1, 3)}).Wait(); !errors.Is(err, store.ErrBroken) {
		t.Fatalf("the next batch: %v, want ErrBroken", err)
	}
	if got := m.stored(); got != "" {
		t.Fatalf("stored %q", got)
	}
}

func TestCloseAnswersEveryQueuedBatchInOrder(t *testing.T) {
	t.Parallel()
	m := &memory{}
	q := New(1<<20, encode, m.write)
	st := q.NewStream()
	var pending []store.Pending
	var want []string
	for i := range 100 {
		pending = append(pending, st.Submit(bg, []lottery.Bet{bet(1, uint32(i))}))
		want = append(want, fmt.Sprintf("1:%d;", i))
	}
	if err := q.Close(bg); err != nil {
		t.Fatal(err)
	}
	for _, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := m.stored(); got != strings.Join(want, "") {
		t.Fatalf("stored %q", got)
	}
	if !q.Closed() {
		t.Fatal("not closed")
	}
	if err := st.Submit(bg, []lottery.Bet{bet(1, 1000)}).Wait(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
