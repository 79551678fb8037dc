package tlsfiles

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// validity of every certificate Generate writes.
const validity = 365 * 24 * time.Hour

// Generate writes into out a new CA (ca.crt), the central's certificate
// and key (server.crt, server.key: valid for server, localhost, 127.0.0.1
// and hosts), and agency-N.crt, agency-N.key for N = 1..agencies, whose
// common name names the agency. Keys are readable by their owner only.
// Every file is replaced whole.
func Generate(out string, agencies int, hosts string) error {
	return generate(out, agencies, hosts, time.Now())
}

// generate writes as Generate does, every certificate valid from an hour
// before now.
func generate(out string, agencies int, hosts string, now time.Time) error {
	if agencies < 1 || agencies > 65535 {
		return fmt.Errorf("-agencies %d is not within 1..65535", agencies)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	ca := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "Quiniela lottery CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caKey, caDER, err := issue(ca, nil, nil)
	if err != nil {
		return err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	if err := write(filepath.Join(out, "ca.crt"), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}

	server := leaf(now, "server", x509.ExtKeyUsageServerAuth)
	server.DNSNames = []string{"server", "localhost"}
	server.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h == "" {
			continue
		}
		if ip := net.ParseIP(h); ip != nil {
			server.IPAddresses = append(server.IPAddresses, ip)
		} else {
			server.DNSNames = append(server.DNSNames, h)
		}
	}
	if err := writePair(out, "server", server, caCert, caKey); err != nil {
		return err
	}
	for i := 1; i <= agencies; i++ {
		name := fmt.Sprintf("%s%d", AgencyPrefix, i)
		if err := writePair(out, name, leaf(now, name, x509.ExtKeyUsageClientAuth), caCert, caKey); err != nil {
			return err
		}
	}
	return nil
}

func leaf(now time.Time, name string, usage x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
}

// issue makes a key for tmpl and signs it with parent's key (itself when
// parent is nil).
func issue(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	return key, der, err
}

func writePair(out, name string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, der, err := issue(tmpl, ca, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := write(filepath.Join(out, name+".crt"), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return write(filepath.Join(out, name+".key"), "PRIVATE KEY", keyDER, 0o600)
}

// write writes one PEM block through a temporary file, so that a reader
// never sees half a file.
func write(path, kind string, der []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := pem.Encode(tmp, &pem.Block{Type: kind, Bytes: der}); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
