// The wire protocol over one connection: requests written, replies read,
// each bounded by a timeout, and a kill that wakes them all.

package agency

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"time"

	"quiniela/protocol"
)

// client speaks the wire protocol over one connection, each request and its
// reply bounded by timeout. Replies are read through a buffer: the central
// sends the acknowledgements of batches in flight together, and one read
// takes them all.
type client struct {
	conn    net.Conn
	replies *bufio.Reader
	agency  uint16
	timeout time.Duration
	buf     []byte

	mu     sync.Mutex
	killed bool // every later deadline is in the past
}

// kill wakes every read and write in progress and fails every later one:
// the connection is given up (cancelled, or broken in one direction).
func (c *client) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.killed = true
	c.conn.SetDeadline(time.Unix(1, 0))
}

// arm sets the deadline of the next read or write (set), unless killed.
func (c *client) arm(set func(time.Time) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killed {
		return
	}
	set(time.Now().Add(c.timeout))
}

func newClient(conn net.Conn, agency uint16, timeout time.Duration) *client {
	return &client{conn: conn, replies: bufio.NewReaderSize(conn, replyBuffer), agency: agency, timeout: timeout}
}

func (c *client) send(frame []byte) error {
	c.arm(c.conn.SetDeadline)
	if _, err := c.conn.Write(frame); err != nil {
		return fmt.Errorf("sending to the central: %w", err)
	}
	return nil
}

// write writes frames without waiting for their replies (see pipeline).
func (c *client) write(frames []byte) error {
	c.arm(c.conn.SetWriteDeadline)
	if _, err := c.conn.Write(frames); err != nil {
		return fmt.Errorf("sending to the central: %w", err)
	}
	return nil
}

// readCode reads one reply code, bounded by the timeout.
func (c *client) readCode() (protocol.Code, error) {
	c.arm(c.conn.SetReadDeadline)
	return protocol.ReadCode(c.replies)
}

// endAndAsk sends the end and, in the same write, the winners query, whose
// reply readWinners reads: the central answers them in order, so the query
// sees the end, and the draw's news is not one more round trip away.
func (c *client) endAndAsk() error {
	if err := c.send(protocol.AppendWinnersQuery(protocol.AppendEnd(c.buf[:0], c.agency), c.agency)); err != nil {
		return err
	}
	code, err := protocol.ReadCode(c.replies)
	if err != nil {
		return err
	}
	if code != protocol.CodeOK {
		return refusal("end", code)
	}
	return nil
}

// status asks what the central holds of this agency in round (0: the open
// round, which a new run joins); the reply names the round.
func (c *client) status(round uint32) (protocol.Status, error) {
	if err := c.send(protocol.AppendRoundStatusQuery(c.buf[:0], c.agency, round)); err != nil {
		return protocol.Status{}, err
	}
	code, st, err := protocol.ReadRoundStatus(c.replies)
	if err != nil {
		return st, err
	}
	if code != protocol.CodeOK {
		return st, refusal("status query", code)
	}
	return st, nil
}

func (c *client) winners() (protocol.Code, []uint32, error) {
	if err := c.send(protocol.AppendWinnersQuery(c.buf[:0], c.agency)); err != nil {
		return 0, nil, err
	}
	return c.readWinners()
}

// readWinners reads the reply of a winners query already sent.
func (c *client) readWinners() (protocol.Code, []uint32, error) {
	c.arm(c.conn.SetReadDeadline)
	return protocol.ReadWinners(c.replies)
}
