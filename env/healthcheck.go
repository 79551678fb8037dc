package env

import (
	"net"
	"os"
	"quiniela/protocol"
	"time"
)

// Healthcheck holds the settings of the echo health check.
type Healthcheck struct {
	Address   string        `env:"HEALTHCHECK_ADDRESS" envDefault:"127.0.0.1:12345" help:"the central's host:port"`
	Message   string        `env:"HEALTHCHECK_MESSAGE" envDefault:"healthcheck" help:"the echo payload"`
	Timeout   time.Duration `env:"HEALTHCHECK_TIMEOUT" envDefault:"2s" help:"bound of one check"`
	LogFormat LogFormat     `env:"LOG_FORMAT" envDefault:"course" help:"course (one line per event, as the course's tools read them) or json (log/slog's JSON, the same keys)"`
	Interval  time.Duration `env:"HEALTHCHECK_INTERVAL" envDefault:"0s" help:"0 checks once; more keeps checking until SIGTERM"`
	// TLSCA, when set, makes the check speak TLS and verify the central's
	// certificate against this CA; it presents none, and may only echo.
	TLSCA string `env:"HEALTHCHECK_TLS_CA" help:"speak TLS, checking the central's certificate against this CA"`
}

// LoadHealthcheck loads the health check's settings from the .env file at
// path (or ./.env) and the environment.
func LoadHealthcheck(path string) (Healthcheck, error) {
	var h Healthcheck
	err := load(&h, path, os.Environ())
	return h, err
}

func (h *Healthcheck) validate(p *problems) {
	if _, _, err := net.SplitHostPort(h.Address); err != nil {
		p.addf("HEALTHCHECK_ADDRESS", h.Address, "want host:port")
	}
	if len(h.Message) > protocol.MaxEchoPayload {
		p.addf("HEALTHCHECK_MESSAGE", h.Message[:16]+"...", "longer than an echo frame holds (%d bytes)", protocol.MaxEchoPayload)
	}
	checkPositive(p, "HEALTHCHECK_TIMEOUT", h.Timeout)
	if h.Interval < 0 {
		p.addf("HEALTHCHECK_INTERVAL", h.Interval.String(), "must not be negative (0 checks once)")
	}
}
