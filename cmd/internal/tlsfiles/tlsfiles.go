// Package tlsfiles turns the PEM files named by the settings into the
// tls.Config of each binary (docs/operations.md): the central asks agencies for a
// certificate signed by its CA and checks it when given (an unauthenticated
// peer may only echo), an agency presents its own and checks the central's,
// and the health check checks the central's. It also reads an agency's
// number from its certificate. It is wiring for cmd; supervisor and agency
// are handed the result.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// AgencyPrefix starts the common name of an agency's certificate:
// agency-3 is agency 3.
const AgencyPrefix = "agency-"

// Server is the central's TLS configuration: its certificate, and the CA
// that signs the agencies' certificates.
func Server(certFile, keyFile, clientCAFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the central's certificate %s and key %s: %w", certFile, keyFile, err)
	}
	if cert.Leaf == nil { // left unset under GODEBUG=x509keypairleaf=0
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("parsing the central's certificate %s: %w", certFile, err)
		}
	}
	pool, err := loadPool(clientCAFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		// A peer without a certificate gets in, but may only echo (the
		// health check); one with a certificate must have it signed by
		// the CA, and speaks for the agency it names.
		ClientAuth: tls.VerifyClientCertIfGiven,
		MinVersion: tls.VersionTLS13,
	}, nil
}

// Client is the TLS configuration of an agency (certFile and keyFile set)
// or of the health check (neither): the CA that signs the central's
// certificate, and the agency's own.
func Client(certFile, keyFile, caFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS13}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the agency's certificate %s and key %s: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(raw) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// AgencyOf reads the agency a verified certificate speaks for, from its
// common name (agency-N, N within 1..65535).
func AgencyOf(cert *x509.Certificate) (uint16, error) {
	name := cert.Subject.CommonName
	digits, ok := strings.CutPrefix(name, AgencyPrefix)
	n, err := strconv.ParseUint(digits, 10, 16)
	if !ok || err != nil || n == 0 || digits != strconv.FormatUint(n, 10) {
		return 0, fmt.Errorf("certificate %q does not name an agency (%sN, N within 1..65535)", name, AgencyPrefix)
	}
	return uint16(n), nil
}

// ErrNoCertificate is returned by PeerAgency for a peer that presented none.
var ErrNoCertificate = errors.New("the peer presented no certificate")

// PeerAgency reads the agency of a completed handshake's verified peer.
func PeerAgency(st tls.ConnectionState) (uint16, error) {
	if len(st.VerifiedChains) == 0 || len(st.VerifiedChains[0]) == 0 {
		return 0, ErrNoCertificate
	}
	return AgencyOf(st.VerifiedChains[0][0])
}
