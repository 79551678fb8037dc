package tlsfiles

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"slices"
	"sync/atomic"
	"time"
)

// Rotating is the central's TLS configuration, whose files can be read
// again while it serves (certificate rotation): the configuration Config
// returns hands every new handshake the files in force at that moment, and
// a connection already established keeps the ones it was made with.
type Rotating struct {
	current atomic.Pointer[tls.Config]
}

// Change says what a Reload replaced.
type Change struct {
	Certificate bool // the central's certificate (and its key)
	ClientCA    bool // the CA of the agencies' certificates
}

// NewRotating reads the central's certificate, key and client CA, as
// Server does.
func NewRotating(certFile, keyFile, clientCAFile string) (*Rotating, error) {
	cfg, err := Server(certFile, keyFile, clientCAFile)
	if err != nil {
		return nil, err
	}
	r := &Rotating{}
	r.current.Store(cfg)
	return r, nil
}

// Config is the configuration to serve with: each handshake takes the
// files in force when it starts.
func (r *Rotating) Config() *tls.Config {
	return &tls.Config{
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { return r.current.Load(), nil },
		MinVersion:         tls.VersionTLS13,
	}
}

// Reload reads the files again (from these paths, which may be new) and
// makes the next handshakes use them, reporting what differs from the
// files in force. Files that do not load, or a certificate outside its
// validity, leave the files in force as they are: a rotation gone wrong
// never takes the central's TLS down.
func (r *Rotating) Reload(certFile, keyFile, clientCAFile string) (Change, error) {
	next, err := Server(certFile, keyFile, clientCAFile)
	if err != nil {
		return Change{}, err
	}
	cert := next.Certificates[0]
	if now := time.Now(); now.Before(cert.Leaf.NotBefore) || now.After(cert.Leaf.NotAfter) {
		return Change{}, fmt.Errorf("the central's certificate %s is valid from %s to %s, not now",
			certFile, cert.Leaf.NotBefore.UTC().Format(time.DateOnly), cert.Leaf.NotAfter.UTC().Format(time.DateOnly))
	}
	old := r.current.Swap(next)
	return Change{
		Certificate: !slices.EqualFunc(old.Certificates[0].Certificate, cert.Certificate, bytes.Equal),
		ClientCA:    !old.ClientCAs.Equal(next.ClientCAs),
	}, nil
}

// NotAfter is when the central's certificate in force expires.
func (r *Rotating) NotAfter() time.Time {
	return r.current.Load().Certificates[0].Leaf.NotAfter
}
