// Command certs writes what mutual TLS needs (docs/operations.md), as `make certs`
// does: a CA, the central's certificate and key (valid for server,
// localhost, 127.0.0.1 and any extra host names), and one certificate and
// key per agency, whose common name agency-N names its agency. All PEM,
// keys readable by their owner only. Running it again replaces them all:
// rotation is a new set and a SIGHUP to the central, which reads its files
// again.
package main

import (
	"flag"
	"fmt"
	"os"

	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/tlsfiles"
)

func main() {
	out := flag.String("out", ".certs", "folder to write ca.crt, server.crt, server.key, agency-N.crt and agency-N.key into")
	agencies := flag.Int("agencies", 5, "agencies 1..N to write a certificate for")
	hosts := flag.String("hosts", "", "extra host names or IP addresses of the central, comma-separated (server, localhost and 127.0.0.1 are always in)")
	cli.Parse("certs: writes a CA and the certificates of mutual TLS (docs/operations.md).", nil)
	if err := tlsfiles.Generate(*out, *agencies, *hosts); err != nil {
		fmt.Fprintln(os.Stderr, "certs:", err)
		os.Exit(1)
	}
	names := "server, localhost, 127.0.0.1"
	if *hosts != "" {
		names += ", " + *hosts
	}
	fmt.Printf("wrote %s: ca.crt, server.crt and .key (%s), agency-1..%d .crt and .key\n", *out, names, *agencies)
}
