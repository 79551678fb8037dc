package agency

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestACentralWhoseNameResolvesToNothingIsExplained(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"a name with no address asks whether the central runs, and where to look", fmt.Errorf("dial tcp: %w",
			&net.DNSError{Err: "no such host", Name: "server", IsNotFound: true}), "no address for server - is the central running? In Docker a stopped container's name resolves to nothing, and docker logs server says why it stopped"},
		{"a failing name server is not explained away", &net.DNSError{Err: "server misbehaving", Name: "server", IsTemporary: true}, ""},
		{"a refused connection is not a name's fault", errors.New("connect: connection refused"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.TrimSpace(unknownHost(tc.err))
			if got != "" {
				got = strings.TrimSuffix(strings.TrimPrefix(got, "("), ")")
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
