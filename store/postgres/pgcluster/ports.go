package pgcluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// A cluster's port is never one the kernel may hand to an outgoing
// connection (its ephemeral range, /proc/sys/net/ipv4/ip_local_port_range):
// while a cluster restarts, its port is free, and any connect() on the
// machine could take it for its local end, so that the restart fails. The
// port comes from above that range (61000-65535 by default), which also
// keeps it apart from the central's test ports (proctest.FreePort takes
// them below the range); from below it only when the range leaves no room
// above.
const (
	lowestPort  = 1024 // below, ports are privileged
	highestPort = 65535
	minBand     = 100 // fewer ports than this on one side: use the other
)

// The kernel's default ephemeral range, when /proc cannot say.
const (
	defaultEphemeralLow  = 32768
	defaultEphemeralHigh = 60999
)

// ephemeralRange is the kernel's range of ports for outgoing connections.
func ephemeralRange() (low, high int) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	low, errLow := strconv.Atoi(f[0])
	high, errHigh := strconv.Atoi(f[1])
	if errLow != nil || errHigh != nil || low > high {
		return defaultEphemeralLow, defaultEphemeralHigh
	}
	return low, high
}

// portBand is the ports a cluster may take, [low, high], given the
// ephemeral range [ephLow, ephHigh]: above it when it leaves room, else
// below.
func portBand(ephLow, ephHigh int) (low, high int, err error) {
	if highestPort-ephHigh >= minBand {
		return max(ephHigh+1, lowestPort), highestPort, nil
	}
	if ephLow-lowestPort >= minBand {
		return lowestPort, ephLow - 1, nil
	}
	return 0, 0, fmt.Errorf("pgcluster: the kernel's ephemeral port range %d-%d leaves no room for a port that no outgoing connection can take", ephLow, ephHigh)
}

// reserved is the ports of this process's clusters, running or
// restarting: two clusters of one process never share one, even while one
// of them is down.
var reserved = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// reservePort picks a port of the band that no cluster of this process
// holds and nothing listens on, and reserves it until releasePort.
func reservePort() (int, error) {
	low, high, err := portBand(ephemeralRange())
	if err != nil {
		return 0, err
	}
	reserved.Lock()
	defer reserved.Unlock()
	for range 1000 {
		port := low + rand.IntN(high-low+1)
		if reserved.ports[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // taken by another process
		}
		ln.Close()
		reserved.ports[port] = true
		return port, nil
	}
	return 0, errors.New("pgcluster: no free port found in " + strconv.Itoa(low) + "-" + strconv.Itoa(high))
}

func releasePort(port int) {
	reserved.Lock()
	defer reserved.Unlock()
	delete(reserved.ports, port)
}

// ReservePort reserves a port of the band, as a cluster's is, for another
// throwaway server of this process (the etcd, Patroni and PostgreSQL ports
// of package hacluster): one band and one set of reservations for the
// whole process, so that no port is handed out twice. ReleasePort gives it
// back.
func ReservePort() (int, error) { return reservePort() }

// ReleasePort gives back a port of ReservePort.
func ReleasePort(port int) { releasePort(port) }
