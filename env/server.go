package env

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Server holds the central's settings.
type Server struct {
	IP              string        `env:"SERVER_IP" envDefault:"0.0.0.0"`
	Port            int           `env:"SERVER_PORT" envDefault:"12345"`
	ListenBacklog   int           `env:"SERVER_LISTEN_BACKLOG" envDefault:"5"`
	LogLevel        Level         `env:"LOGGING_LEVEL" envDefault:"INFO"`
	Agencies        int           `env:"AGENCIES" envDefault:"5"`
	StoragePath     string        `env:"STORAGE_FILEPATH" envDefault:"./bets.csv"`
	FrameTimeout    time.Duration `env:"SERVER_FRAME_TIMEOUT" envDefault:"5s"`
	ShutdownTimeout time.Duration `env:"SERVER_SHUTDOWN_TIMEOUT" envDefault:"1500ms"`
	IdleTimeout     time.Duration `env:"SERVER_IDLE_TIMEOUT" envDefault:"2m"`
	MaxConnections  int           `env:"SERVER_MAX_CONNECTIONS" envDefault:"10000"`
	TLSCert         string        `env:"SERVER_TLS_CERT"`
	TLSKey          string        `env:"SERVER_TLS_KEY"`
	TLSClientCA     string        `env:"SERVER_TLS_CLIENT_CA"`
	AdminAddress    string        `env:"SERVER_ADMIN_ADDRESS"`
}

// TLS reports whether the central is to speak mutual TLS.
func (s Server) TLS() bool { return s.TLSCert != "" }

// Address is the host:port the central listens on.
func (s Server) Address() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }

// LoadServer loads the central's settings from the .env file at path (or
// ./.env) and the environment.
func LoadServer(path string) (Server, error) {
	var s Server
	err := load(&s, path, os.Environ())
	return s, err
}

func (s *Server) validate(p *problems) {
	if net.ParseIP(s.IP) == nil && !validHost(s.IP) {
		p.addf("SERVER_IP", s.IP, "not an IP address or host name")
	}
	checkRange(p, "SERVER_PORT", s.Port, 0, 65535)
	checkRange(p, "SERVER_LISTEN_BACKLOG", s.ListenBacklog, 1, 65535)
	checkRange(p, "AGENCIES", s.Agencies, 1, 65535)
	if s.StoragePath == "" {
		p.addf("STORAGE_FILEPATH", s.StoragePath, "must name a file")
	}
	checkPositive(p, "SERVER_FRAME_TIMEOUT", s.FrameTimeout)
	checkPositive(p, "SERVER_SHUTDOWN_TIMEOUT", s.ShutdownTimeout)
	checkPositive(p, "SERVER_IDLE_TIMEOUT", s.IdleTimeout)
	checkRange(p, "SERVER_MAX_CONNECTIONS", s.MaxConnections, 1, 1<<20)
	allOrNone(p, "mutual TLS", []string{"SERVER_TLS_CERT", "SERVER_TLS_KEY", "SERVER_TLS_CLIENT_CA"}, s.TLSCert, s.TLSKey, s.TLSClientCA)
	if s.AdminAddress != "" {
		if _, port, err := net.SplitHostPort(s.AdminAddress); err != nil || port == "" {
			p.addf("SERVER_ADMIN_ADDRESS", s.AdminAddress, "want host:port, such as 127.0.0.1:9100 (empty: no admin endpoint)")
		}
	}
}

func checkRange(p *problems, key string, v, lo, hi int) {
	if v < lo || v > hi {
		p.addf(key, strconv.Itoa(v), "not within %d..%d", lo, hi)
	}
}

// allOrNone checks that keys that only work together (with these values)
// are set all, or none.
func allOrNone(p *problems, what string, keys []string, values ...string) {
	var set, unset []string
	for i, k := range keys {
		if values[i] != "" {
			set = append(set, k)
		} else {
			unset = append(unset, k)
		}
	}
	if len(set) > 0 && len(unset) > 0 {
		p.list = append(p.list, what+" needs all of "+strings.Join(keys, ", ")+"; set: "+
			strings.Join(set, ", ")+"; missing: "+strings.Join(unset, ", "))
	}
}

func checkPositive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.addf(key, d.String(), "must be a positive duration such as 500ms or 2s")
	}
}

// validHost accepts a DNS host name (letters, digits, hyphens and dots).
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
