package datagen

import (
	"bytes"
	"testing"
	"time"

	"quiniela/lottery"
)

func generate(t *testing.T, seed uint64) ([]byte, [][]lottery.Bet) {
	t.Helper()
	g := New(seed)
	var out []byte
	var all [][]lottery.Bet
	for a := uint16(1); a <= 3; a++ {
		bets, err := g.Bets(a, 2000, int(a))
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := Write(&buf, bets, true); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes()...)
		all = append(all, bets)
	}
	return out, all
}

func TestTheSameSeedWritesTheSameFiles(t *testing.T) {
	t.Parallel()
	a, _ := generate(t, 42)
	b, _ := generate(t, 42)
	c, _ := generate(t, 43)
	if !bytes.Equal(a, b) {
		t.Fatal("one seed wrote two different data sets")
	}
	if bytes.Equal(a, c) {
		t.Fatal("two seeds wrote the same data set")
	}
}

func TestBetsAreValidUniqueAndWinExactlyAsAsked(t *testing.T) {
	t.Parallel()
	raw, all := generate(t, 1)
	docs := map[uint32]bool{}
	for i, bets := range all {
		winners := 0
		for _, b := range bets {
			if err := b.Validate(3, lottery.DayOf(time.Now())); err != nil {
				t.Fatalf("invalid generated bet %+v: %v", b, err)
			}
			if docs[b.Document] {
				t.Fatalf("document %d generated twice", b.Document)
			}
			docs[b.Document] = true
			if b.Won() {
				winners++
			}
		}
		if winners != i+1 {
			t.Fatalf("agency %d has %d winners, want %d", i+1, winners, i+1)
		}
	}
	if n := bytes.Count(raw, []byte("\r\n")); n != 6000 {
		t.Fatalf("%d CRLF line ends, want 6000", n)
	}
	if !bytes.ContainsAny(raw, "áéíóúñÁ") {
		t.Fatal("no accented names generated")
	}
}

func TestMoreWinnersThanBetsIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := New(1).Bets(1, 3, 4); err == nil {
		t.Fatal("4 winners among 3 bets accepted")
	}
}
