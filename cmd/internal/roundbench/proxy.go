package main

import (
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// A delaying TCP proxy: the round trip of a distant agency on a kernel
// without netem. Every chunk read is held for the one-way delay before it
// is written on, in each direction and in order, so that the link has that
// latency and loopback's bandwidth. It buffers whatever is in flight,
// without bound, as a long link does: the sender's window, not the proxy,
// decides how much that is.

// proxy accepts on a loopback port of its own and relays each connection
// to target, delaying each direction by oneWay.
type proxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool // open, either side
}

// startProxy listens on a free loopback port; Addr says which.
func startProxy(target string, oneWay time.Duration) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, oneWay: oneWay, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting, closes every connection still open, and waits
// for every relay to end.
func (p *proxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// track adds (or, with open false, removes) connections to close on Close.
func (p *proxy) track(open bool, conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		if open {
			p.conns[c] = true
		} else {
			delete(p.conns, c)
		}
	}
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.track(true, c, s)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var both sync.WaitGroup
			both.Add(2)
			go func() { defer both.Done(); p.relay(c.(*net.TCPConn), s.(*net.TCPConn)) }()
			go func() { defer both.Done(); p.relay(s.(*net.TCPConn), c.(*net.TCPConn)) }()
			both.Wait()
			p.track(false, c, s)
			c.Close()
			s.Close()
		}()
	}
}

// chunk is what one read returned, and when it may be written on.
type chunk struct {
	data []byte
	due  time.Time
	err  error // the read's error: io.EOF is passed on as a half-close
}

// relay copies from into to, each chunk held until oneWay after it was
// read. The reader never waits for the writer (the queue has no bound);
// the end of from is passed on as a half-close once its delay is over,
// and a failure on either side closes both.
func (p *proxy) relay(from, to *net.TCPConn) {
	if p.oneWay == 0 { // nothing to hold: one goroutine copies
		if _, err := io.CopyBuffer(onlyWriter{to}, from, make([]byte, 256<<10)); err != nil {
			to.Close()
			from.Close()
			return
		}
		to.CloseWrite()
		return
	}
	defer linkPriority()()
	q := &fifo{}
	q.more = sync.NewCond(&q.mu)
	go func() {
		defer linkPriority()()
		buf := make([]byte, 256<<10)
		for {
			n, err := from.Read(buf)
			due := time.Now().Add(p.oneWay)
			if n > 0 {
				q.push(chunk{data: append([]byte(nil), buf[:n]...), due: due})
			}
			if err != nil {
				q.push(chunk{due: due, err: err})
				return
			}
		}
	}()
	for {
		c := q.pop()
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if c.err == io.EOF {
			to.CloseWrite()
			return
		}
		if c.err != nil {
			to.Close()
			return
		}
		if _, err := to.Write(c.data); err != nil {
			from.Close() // the reader stops on it
			return
		}
	}
}

// fifo is the chunks in flight one way, in the order read.
type fifo struct {
	mu     sync.Mutex
	more   *sync.Cond
	chunks []chunk
}

func (q *fifo) push(c chunk) {
	q.mu.Lock()
	q.chunks = append(q.chunks, c)
	q.mu.Unlock()
	q.more.Signal()
}

func (q *fifo) pop() chunk {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.chunks) == 0 {
		q.more.Wait()
	}
	c := q.chunks[0]
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	return c
}

// onlyWriter hides the connection's ReadFrom, so that the copy goes
// through the proxy's own buffer, as a delayed chunk does, and not
// straight from socket to socket in the kernel.
type onlyWriter struct{ io.Writer }

// linkPriority keeps the calling goroutine on a thread of its own and
// raises that thread's priority (where the process may), so that on a busy
// machine a chunk is read and written on when due, as a link would, and
// not when the scheduler gets round to the proxy. The processes roundbench
// starts are started from other threads, and so keep the ordinary
// priority. The returned func puts the priority back: the thread ends
// with its goroutine, unless it is the process's first, which stays.
func linkPriority() (restore func()) {
	runtime.LockOSThread()
	tid := syscall.Gettid()
	syscall.Setpriority(syscall.PRIO_PROCESS, tid, -10)
	return func() { syscall.Setpriority(syscall.PRIO_PROCESS, tid, 0) }
}
