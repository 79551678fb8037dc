package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"quiniela/lottery"
	"quiniela/protocol"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The churn the centrals run under: health checks, agencies that come and
// go, strangers, and admin scrapes.

// healthChecks runs the real health check binary, as Docker would.
func healthChecks(ctx context.Context, bin string, c *central) {
	every(ctx, healthEvery, func() {
		cmd := exec.Command(filepath.Join(bin, "healthcheck"), "--env-file", os.DevNull)
		cmd.Env = []string{"HEALTHCHECK_ADDRESS=" + c.addr}
		if c.healthCA != "" {
			cmd.Env = append(cmd.Env, "HEALTHCHECK_TLS_CA="+c.healthCA)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			if ctx.Err() == nil {
				c.fail("health check: %v: %s", err, strings.TrimSpace(string(out)))
			}
			return
		}
		c.healthOK.Add(1)
	})
}

// betOf is bet i of an agency: deterministic, one in 97 a winner.
func betOf(agency, i int) lottery.Bet {
	doc := uint32(agency*10_000_000 + i)
	number := uint16(i % 10000)
	if i%97 == 0 {
		number = lottery.WinningNumber
	} else if number == lottery.WinningNumber {
		number++
	}
	return lottery.Bet{Agency: uint16(agency), FirstName: "Soak " + strconv.Itoa(i), LastName: "Fornerón",
		Document: doc, Birthdate: "1990-05-17", Number: number}
}

// playAgencies visits agencies w+1, w+1+workers, … in turn until ctx ends.
func playAgencies(ctx context.Context, c *central, agencies, w, total, perVisit int) {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(len(c.name))))
	for agency := w + 1; ctx.Err() == nil; agency += workers {
		if agency > agencies {
			agency = w + 1
		}
		if err := visit(ctx, c, agency, total, perVisit, rng); err != nil && ctx.Err() == nil {
			c.fail("agency %d: %v", agency, err)
		}
		c.visits.Add(1)
		select {
		case <-ctx.Done():
		case <-time.After(visitEvery):
		}
	}
}

// visit is one connection of an agency: its status, then either the next
// bets (sometimes hanging up mid-batch, as a crashed agency does), its end
// once all are sent, or, once ended, its winners.
func visit(ctx context.Context, c *central, agency, total, perVisit int, rng *rand.Rand) error {
	conn, err := dialAgency(c, agency)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := conn.Write(protocol.AppendStatusQuery(nil, uint16(agency))); err != nil {
		return err
	}
	code, st, err := protocol.ReadStatus(conn)
	if err != nil || code != protocol.CodeOK {
		return fmt.Errorf("status: %v %v", code, err)
	}
	if st.Ended {
		if _, err := conn.Write(protocol.AppendWinnersQuery(nil, uint16(agency))); err != nil {
			return err
		}
		code, docs, err := protocol.ReadWinners(conn)
		switch {
		case err != nil:
			return fmt.Errorf("winners: %w", err)
		case code == protocol.CodeDrawPending:
			return nil
		case code != protocol.CodeOK:
			return fmt.Errorf("winners: %v", code)
		}
		var want []uint32
		for i := range total {
			if b := betOf(agency, i); b.Won() {
				want = append(want, b.Document)
			}
		}
		if !slices.Equal(docs, want) {
			return fmt.Errorf("%d winners, want %d", len(docs), len(want))
		}
		return nil
	}
	next := int(st.Stored)
	if next >= total {
		if _, err := conn.Write(protocol.AppendEnd(nil, uint16(agency))); err != nil {
			return err
		}
		if code, err := protocol.ReadCode(conn); err != nil || code != protocol.CodeOK {
			return fmt.Errorf("end: %v %v", code, err)
		}
		return nil
	}
	hangUp := rng.IntN(10) == 0 // a crashed agency: its batch half-sent
	for sent := 0; sent < perVisit && next < total; {
		n := min(protocol.MaxBatchCount, perVisit-sent, total-next)
		batch := make([]lottery.Bet, n)
		for i := range batch {
			batch[i] = betOf(agency, next+i)
		}
		frame, err := protocol.AppendBatch(nil, uint16(agency), batch)
		if err != nil {
			return err
		}
		if hangUp {
			conn.Write(frame[:len(frame)/2])
			return nil
		}
		if _, err := conn.Write(frame); err != nil {
			return err
		}
		if code, err := protocol.ReadCode(conn); err != nil || code != protocol.CodeOK {
			return fmt.Errorf("batch at %d: %v %v", next, code, err)
		}
		sent, next = sent+n, next+n
	}
	return nil
}

func dialAgency(c *central, agency int) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if c.tls == nil {
		return d.Dial("tcp", c.addr)
	}
	cfg := c.tls(agency)
	if cfg == nil {
		return nil, errors.New("no TLS configuration")
	}
	return tls.DialWithDialer(d, "tcp", c.addr, cfg)
}

// strangers connects without speaking for an agency: a silent socket held
// a while, or garbage. Enough of them are held at once to reach the
// central's connection bound, so that eviction runs too.
func strangers(ctx context.Context, c *central) {
	rng := rand.New(rand.NewPCG(7, uint64(len(c.name))))
	var held []net.Conn
	defer func() {
		for _, h := range held {
			h.Close()
		}
	}()
	every(ctx, 20*time.Millisecond, func() {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return // refused at the bound is fine
		}
		c.strangers.Add(1)
		if rng.IntN(3) == 0 {
			conn.Write([]byte("GET / HTTP/1.1\r\nHost: central\r\n\r\n"))
		}
		held = append(held, conn)
		if len(held) > 100 {
			held[0].Close()
			held = held[1:]
		}
	})
}

// scrape reads the admin endpoint as Prometheus and a browser would.
func scrape(ctx context.Context, c *central) {
	client := &http.Client{Timeout: 10 * time.Second}
	every(ctx, 250*time.Millisecond, func() {
		for _, path := range []string{"/metrics", "/status", "/"} {
			resp, err := client.Get("http://" + c.admin + path)
			if err != nil {
				if ctx.Err() == nil {
					c.fail("admin %s: %v", path, err)
				}
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			c.scrapes.Add(1)
		}
	})
}

// every calls fn every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, fn func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		fn()
	}
}
