package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// echoServer answers each connection with everything it sent, once the
// peer half-closes.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				all, _ := io.ReadAll(c)
				c.Write(all)
			}()
		}
	}()
	return ln.Addr().String()
}

func TestTheProxyRelaysEveryByteInOrderBothWaysAndPassesOnTheEnd(t *testing.T) {
	for _, oneWay := range []time.Duration{0, 5 * time.Millisecond} {
		p, err := startProxy(echoServer(t), oneWay)
		if err != nil {
			t.Fatal(err)
		}
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		sent := make([]byte, 3<<20)
		for i := range sent {
			sent[i] = byte(rand.IntN(256))
		}
		start := time.Now()
		go func() {
			for rest := sent; len(rest) > 0; { // in writes of many sizes
				n := min(len(rest), 1+rand.IntN(100<<10))
				c.Write(rest[:n])
				rest = rest[n:]
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, sent) {
			t.Fatalf("one way %v: %d bytes came back, not the %d sent in order", oneWay, len(got), len(sent))
		}
		// A lower bound only: every byte crossed the proxy twice.
		if took := time.Since(start); took < 2*oneWay {
			t.Fatalf("one way %v: the echo came back after %v, before two delays", oneWay, took)
		}
		c.Close()
		p.Close()
	}
}
