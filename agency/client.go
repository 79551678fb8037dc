package agency

import (
	"fmt"
	"net"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

// client speaks the wire protocol over one connection, each request and its
// reply bounded by timeout.
type client struct {
	conn    net.Conn
	agency  uint16
	timeout time.Duration
	buf     []byte
}

func (c *client) send(frame []byte) error {
	c.conn.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.conn.Write(frame); err != nil {
		return fmt.Errorf("sending to the central: %w", err)
	}
	return nil
}

func (c *client) batch(bets []lottery.Bet) (protocol.Code, error) {
	frame, err := protocol.AppendBatch(c.buf[:0], c.agency, bets)
	if err != nil {
		return 0, err
	}
	c.buf = frame
	if err := c.send(frame); err != nil {
		return 0, err
	}
	return protocol.ReadCode(c.conn)
}

func (c *client) end() error {
	if err := c.send(protocol.AppendEnd(c.buf[:0], c.agency)); err != nil {
		return err
	}
	code, err := protocol.ReadCode(c.conn)
	if err != nil {
		return err
	}
	if code != protocol.CodeOK {
		return refusal("end", code)
	}
	return nil
}

func (c *client) status() (protocol.Status, error) {
	if err := c.send(protocol.AppendStatusQuery(c.buf[:0], c.agency)); err != nil {
		return protocol.Status{}, err
	}
	code, st, err := protocol.ReadStatus(c.conn)
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
	return protocol.ReadWinners(c.conn)
}
