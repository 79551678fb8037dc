package pgcluster

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestAClusterPortIsChosenOutsideTheKernelsEphemeralRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name              string
		ephLow, ephHigh   int
		wantLow, wantHigh int
		wantErrMentioning string
	}{
		{"the kernel's default range leaves the ports above it", 32768, 60999, 61000, 65535, ""},
		{"a range ending near the top leaves the ports below it", 32768, 65500, 1024, 32767, ""},
		{"a range starting low still leaves the ports above it", 10000, 65000, 65001, 65535, ""},
		{"a range taking every port leaves none", 1024, 65535, 0, 0, "leaves no room"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high, err := portBand(tt.ephLow, tt.ephHigh)
			if tt.wantErrMentioning != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrMentioning) {
					t.Fatalf("portBand(%d, %d) = %d-%d, %v; want an error saying %q", tt.ephLow, tt.ephHigh, low, high, err, tt.wantErrMentioning)
				}
				return
			}
			if err != nil || low != tt.wantLow || high != tt.wantHigh {
				t.Fatalf("portBand(%d, %d) = %d-%d, %v; want %d-%d", tt.ephLow, tt.ephHigh, low, high, err, tt.wantLow, tt.wantHigh)
			}
		})
	}
}

func TestReservedPortsAreOutsideTheEphemeralRangeAndNeverHandedOutTwice(t *testing.T) {
	t.Parallel()
	ephLow, ephHigh := ephemeralRange()
	seen := map[int]bool{}
	for range 200 {
		port, err := reservePort()
		if err != nil {
			t.Fatal(err)
		}
		defer releasePort(port)
		if port >= ephLow && port <= ephHigh {
			t.Fatalf("port %d is in the kernel's ephemeral range %d-%d", port, ephLow, ephHigh)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice while reserved", port)
		}
		seen[port] = true
	}
}

func answers(t *testing.T, c *Cluster) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), c.URL("postgres"))
	if err != nil {
		t.Fatalf("the cluster on port %d: %v", c.Port, err)
	}
	conn.Close(context.Background())
}

// holdPort listens on the loopback port, as a process that binds it on
// purpose would, until the returned function is called.
func holdPort(t *testing.T, port int) (release func()) {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("holding port %d: %v", port, err)
	}
	var once sync.Once
	release = func() { once.Do(func() { ln.Close() }) }
	t.Cleanup(release)
	return release
}

func TestRestartWaitsForItsPortWhenAnotherProcessHeldItWhileTheServerWasDown(t *testing.T) {
	t.Parallel()
	c := Own(t)
	port := c.Port
	var release func()
	c.afterStop = func() { release = holdPort(t, port) }
	taken := 0
	c.portTaken = func() {
		taken++
		release() // let go once the restart has found the port taken
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if taken == 0 {
		t.Fatal("the restart never found its port taken: the test tested nothing")
	}
	if c.Port != port {
		t.Fatalf("the cluster moved from port %d to %d", port, c.Port)
	}
	answers(t, c)
}

func TestRestartMovesToAnotherPortAndSaysSoWhenItsPortStaysTaken(t *testing.T) {
	t.Parallel()
	c := Own(t)
	old := c.Port
	c.afterStop = func() { holdPort(t, old) }
	c.portRetries = 1
	err := c.Restart()
	if !errors.Is(err, ErrPortMoved) {
		t.Fatalf("a restart whose port stayed taken: %v, want ErrPortMoved", err)
	}
	if c.Port == old {
		t.Fatal("the cluster says it moved but kept its port")
	}
	for _, port := range []int{old, c.Port} {
		if !strings.Contains(err.Error(), strconv.Itoa(port)) {
			t.Fatalf("the error does not name port %d: %v", port, err)
		}
	}
	answers(t, c)
}
