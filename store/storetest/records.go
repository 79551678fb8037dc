package storetest

import (
	"fmt"
	"testing"
	"time"
)

// The records' tests: each agency's end, the draw's announcement and its
// time, and the closing instant, recorded once and read back after a
// restart.

func endsRestored(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	if got := s.Ended(); len(got) != 0 {
		t.Fatalf("a new store lists ends %v", got)
	}
	for _, a := range []uint16{3, 1, 3, 65535} {
		if err := s.RecordEnd(a); err != nil {
			t.Fatal(err)
		}
	}
	if got := fmt.Sprint(s.Ended()); got != "[1 3 65535]" {
		t.Fatalf("ended %s, want [1 3 65535]", got)
	}
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got := fmt.Sprint(again.Ended()); got != "[1 3 65535]" {
		t.Fatalf("after a restart, ended %s, want [1 3 65535]", got)
	}
}

func drawRestored(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	if s.Drawn() {
		t.Fatal("a new store says the draw was announced")
	}
	for _, record := range []func() error{func() error { return s.RecordEnd(1) }, s.RecordDraw, s.RecordDraw} {
		if err := record(); err != nil {
			t.Fatal(err)
		}
	}
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if !again.Drawn() || fmt.Sprint(again.Ended()) != "[1]" {
		t.Fatalf("after a restart: drawn %v, ended %v", again.Drawn(), again.Ended())
	}
}

func drawTimeKept(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	if at := s.DrawTime(); !at.IsZero() {
		t.Fatalf("a new store's draw time is %v, want none", at)
	}
	before := time.Now()
	if err := s.RecordDraw(); err != nil {
		t.Fatal(err)
	}
	at := s.DrawTime()
	// A database's clock may be another than this process's: a minute's
	// leeway tells a time recorded now from none or a wrong one.
	if at.Before(before.Add(-time.Minute)) || at.After(time.Now().Add(time.Minute)) {
		t.Fatalf("the draw recorded at %v, not about now (%v)", at, before)
	}
	if err := s.RecordDraw(); err != nil || !s.DrawTime().Equal(at) {
		t.Fatalf("a second announcement (%v) moved the draw time from %v to %v", err, at, s.DrawTime())
	}
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got := again.DrawTime(); !got.Equal(at) {
		t.Fatalf("after a restart the draw time is %v, want %v", got, at)
	}
}

func closingFixed(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	first := time.Date(2026, 12, 1, 21, 0, 0, 0, time.FixedZone("", -3*3600))
	if got, err := s.FixedClosing(); err != nil || !got.IsZero() {
		t.Fatalf("a new store's closing instant is %v, %v; want none", got, err)
	}
	if got, err := s.FixClosing(first); err != nil || !got.Equal(first) {
		t.Fatalf("a new store fixes %v, %v; want %v", got, err, first)
	}
	if got, err := s.FixClosing(first.Add(24 * time.Hour)); err != nil || !got.Equal(first) {
		t.Fatalf("a second closing instant gives %v, %v; want the first, %v", got, err, first)
	}
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got, err := again.FixedClosing(); err != nil || !got.Equal(first) {
		t.Fatalf("after a restart the fixed closing instant reads %v, %v; want %v", got, err, first)
	}
	if got, err := again.FixClosing(first.Add(48 * time.Hour)); err != nil || !got.Equal(first) {
		t.Fatalf("after a restart the closing instant is %v, %v; want %v", got, err, first)
	}
}
