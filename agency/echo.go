// The health check of a central: an echo frame sent and checked, and the
// dialing (TCP, and TLS when set) the agency shares.

package agency

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"quiniela/protocol"
)

// CheckEcho sends message to the central at address as an echo request and
// checks that the identical frame comes back, all within timeout, over TLS
// when tlsConfig is set. It is the health check of a central.
func CheckEcho(ctx context.Context, address string, tlsConfig *tls.Config, message []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := dial(ctx, address, tlsConfig)
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", address, err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	frame, err := protocol.AppendEcho(nil, 0, message)
	if err != nil {
		return err
	}
	if _, err := conn.Write(frame); err != nil {
		return fmt.Errorf("sending the echo: %w", err)
	}
	h, payload, err := protocol.ReadEcho(conn)
	if err != nil {
		return err
	}
	if h.Agency != 0 || !bytes.Equal(payload, message) {
		return fmt.Errorf("the echo came back different: %d bytes %q, sent %d bytes", len(payload), truncate(payload), len(message))
	}
	return nil
}

// dial connects to the central at address, and completes a TLS handshake
// when tlsConfig is set, checking the central's certificate against the
// address's host name, all within ctx.
func dial(ctx context.Context, address string, tlsConfig *tls.Config) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", address)
	if err != nil || tlsConfig == nil {
		return conn, err
	}
	cfg := tlsConfig
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(address)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", address, err)
	}
	return tc, nil
}

func truncate(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
