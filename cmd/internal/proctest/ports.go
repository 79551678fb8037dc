package proctest

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Free ports for the processes a test or a player starts.

// Ports handed out by FreePort come from below the kernel's ephemeral range
// (32768 and up by default), so that no connection's local port can take
// one while its central is down, as a restarting central's would be.
const (
	lowPort  = 20000
	highPort = 32000
)

var reserved = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a loopback port, as a string, that nothing listens on
// and that this test binary has not handed out before. Tests use it where
// a central must come up (or come back) on a port known in advance.
func FreePort(t testing.TB) string {
	t.Helper()
	port, err := Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Port returns a loopback port as FreePort does, or an error.
func Port() (string, error) {
	reserved.Lock()
	defer reserved.Unlock()
	for range 1000 {
		port := lowPort + rand.IntN(highPort-lowPort)
		if reserved.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken by someone else
		}
		ln.Close()
		reserved.ports[port] = true
		return strconv.Itoa(port), nil
	}
	return "", errors.New("no free port found")
}
