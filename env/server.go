package env

import (
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Server holds the central's settings.
type Server struct {
	IP              string        `env:"SERVER_IP" envDefault:"0.0.0.0" help:"address to listen on"`
	Port            int           `env:"SERVER_PORT" envDefault:"12345" help:"port to listen on (0: any free port)"`
	ListenBacklog   int           `env:"SERVER_LISTEN_BACKLOG" envDefault:"5" help:"the kernel's accept-queue length (listen(2) backlog)"`
	LogLevel        Level         `env:"LOGGING_LEVEL" envDefault:"INFO" help:"DEBUG, INFO, WARNING or ERROR; DEBUG logs every stored bet"`
	Agencies        int           `env:"AGENCIES" envDefault:"5" help:"agencies 1..N that must end before the draw"`
	StoragePath     string        `env:"STORAGE_FILEPATH" envDefault:"./bets.csv" help:"the bet file (CSV), with its ends journal beside it; each a regular file, or absent"`
	FrameTimeout    time.Duration `env:"SERVER_FRAME_TIMEOUT" envDefault:"5s" help:"a whole frame from its first byte, every reply write, and a TLS handshake; at least 1s"`
	ShutdownTimeout time.Duration `env:"SERVER_SHUTDOWN_TIMEOUT" envDefault:"1500ms" help:"bound of the shutdown after SIGTERM; at least 500ms"`
	IdleTimeout     time.Duration `env:"SERVER_IDLE_TIMEOUT" envDefault:"2m" help:"a connection with no frame for this long is closed; at least 2s"`
	MaxConnections  int           `env:"SERVER_MAX_CONNECTIONS" envDefault:"10000" help:"open connections at most; at the bound the oldest that has not named an agency is evicted"`
	TLSCert         string        `env:"SERVER_TLS_CERT" help:"mutual TLS: the central's certificate (all three SERVER_TLS_* or none)"`
	TLSKey          string        `env:"SERVER_TLS_KEY" help:"mutual TLS: the central's key"`
	TLSClientCA     string        `env:"SERVER_TLS_CLIENT_CA" help:"mutual TLS: the CA of the agencies' certificates"`
	LogFormat       LogFormat     `env:"LOG_FORMAT" envDefault:"course" help:"course (one line per event, as the course's tools read them) or json (log/slog's JSON, the same keys)"`
	AdminAddress    string        `env:"SERVER_ADMIN_ADDRESS" help:"host:port of the admin endpoint (/metrics, /status, /healthz, /readyz, /); empty: off"`
	StorageURL      DatabaseURL   `env:"STORAGE_URL" help:"PostgreSQL store (postgres://user@host:5432/db), shared by an active central and its standbys; empty: the CSV file at STORAGE_FILEPATH"`
	ClosingTime     ClosingTime   `env:"SERVER_CLOSING_TIME" help:"betting closes and the draw runs at this time even if some agency has not ended: an RFC 3339 instant (2026-12-01T21:00:00-03:00) or a daily HH:MM in the central's time zone (TZ); unset: when every agency has ended"`
	Rounds          Rounds        `env:"SERVER_ROUNDS" envDefault:"one" help:"one (a round per store, drawn once) or continuous (after each draw the next round opens at once, numbered, its bets apart: bets.round-N.csv beside the file, or a round column in PostgreSQL)"`
}

// The floors of the central's timeouts. Below them the central starts
// and then fails every agency, or every stop; each is far below any
// sensible setting (the defaults are 5s, 2m and 1500ms).
const (
	// MinFrameTimeout: the frame timeout bounds a whole frame (up to
	// 8 KiB) from its first byte, every reply write and, under TLS, the
	// handshake (a few round trips and public-key operations); a status
	// query also waits up to it for an earlier connection's batches to be
	// synced. A second covers all of these on any real network and disk.
	MinFrameTimeout = time.Second
	// MinIdleTimeout: an agency waiting for the draw sends nothing between
	// a "not yet" answer and its next query, a pause of up to a second
	// (its backoff), and nothing while its last batches are being synced
	// before its end. The idle timeout must clear these with room to
	// spare, or waiting agencies are cut off.
	MinIdleTimeout = 2 * time.Second
	// MinShutdownTimeout: within the shutdown bound sessions finish the
	// frame in hand (half of it), the tree stops, and the store writes and
	// syncs its last batches. Below half a second a loaded disk's last
	// fsync or a frame on its way is cut short, and every stop fails.
	MinShutdownTimeout = 500 * time.Millisecond
)

// endsSuffix names the CSV store's journal of ended agencies, beside its
// bet file: store/csvfile's EndsSuffix, written again rather than bring
// the store into every binary's settings (a test pins the two together).
const endsSuffix = ".ends"

// DatabaseURL is a database's URL; it prints without its password, so that
// the config line never shows one.
type DatabaseURL string

func (u DatabaseURL) String() string {
	parsed, err := url.Parse(string(u))
	if err != nil {
		return "(unparsable)"
	}
	if q := parsed.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		parsed.RawQuery = q.Encode()
	}
	return parsed.Redacted()
}

// MarshalText is String: JSON, too, writes the URL without its password.
func (u DatabaseURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// unused reports the settings the central does not use: the CSV file's
// path when the store is PostgreSQL.
func (s Server) unused(key string) bool { return key == "STORAGE_FILEPATH" && s.StorageURL != "" }

// TLS reports whether the central is to speak mutual TLS.
func (s Server) TLS() bool { return s.TLSCert != "" }

// Address is the host:port the central listens on.
func (s Server) Address() string { return net.JoinHostPort(s.IP, strconv.Itoa(s.Port)) }

// LoadServer loads the central's settings from the .env file at path (or
// ./.env) and the environment.
func LoadServer(path string) (Server, error) {
	var s Server
	err := loadForStart(&s, path, os.Environ())
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
	checkTimeout(p, "SERVER_FRAME_TIMEOUT", s.FrameTimeout, MinFrameTimeout,
		"it bounds a whole frame from its first byte, every reply write and a TLS handshake, which take round trips")
	checkTimeout(p, "SERVER_SHUTDOWN_TIMEOUT", s.ShutdownTimeout, MinShutdownTimeout,
		"sessions finish the frame in hand and the store syncs its last batches within it")
	checkTimeout(p, "SERVER_IDLE_TIMEOUT", s.IdleTimeout, MinIdleTimeout,
		"an agency waiting for the draw pauses up to a second between its queries")
	checkRange(p, "SERVER_MAX_CONNECTIONS", s.MaxConnections, 1, 1<<20)
	allOrNone(p, "mutual TLS", []string{"SERVER_TLS_CERT", "SERVER_TLS_KEY", "SERVER_TLS_CLIENT_CA"}, s.TLSCert, s.TLSKey, s.TLSClientCA)
	if s.StorageURL != "" {
		// The host is in the authority, or in ?host= (a Unix socket's folder).
		if u, err := url.Parse(string(s.StorageURL)); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" && u.Query().Get("host") == "" {
			p.addf("STORAGE_URL", s.StorageURL.String(), "want a PostgreSQL URL such as postgres://user@host:5432/db (empty: the CSV file)")
		}
	}
	if s.Rounds == RoundsContinuous && !s.ClosingTime.At.IsZero() {
		p.addf("SERVER_CLOSING_TIME", s.ClosingTime.String(), "an instant closes one round only: with SERVER_ROUNDS=continuous give a daily HH:MM (each round closes at the first such time after it opens), or none")
	}
	if s.AdminAddress != "" {
		if host, port, err := net.SplitHostPort(s.AdminAddress); err != nil || port == "" {
			p.addf("SERVER_ADMIN_ADDRESS", s.AdminAddress, "want host:port, such as 127.0.0.1:9100 (empty: no admin endpoint)")
		} else if port == strconv.Itoa(s.Port) && s.Port != 0 && sameListener(host, s.IP) {
			p.addf("SERVER_ADMIN_ADDRESS", s.AdminAddress, "the port of SERVER_PORT, which the agencies' listener takes: choose another (such as %d)", s.Port+1)
		}
	}
}

// sameListener reports whether two listen hosts overlap: the same, or
// either one every address of the machine.
func sameListener(a, b string) bool {
	everyAddress := func(h string) bool { ip := net.ParseIP(h); return h == "" || ip != nil && ip.IsUnspecified() }
	return a == b || everyAddress(a) || everyAddress(b)
}

// checkMachine refuses a CSV store that cannot keep bets: its file or its
// ends journal is a device (/dev/null keeps nothing, /dev/full refuses
// every batch), a directory or a pipe. A PostgreSQL store has no file.
func (s *Server) checkMachine(p *problems) {
	if tz := os.Getenv("TZ"); s.ClosingTime.Daily {
		if err := checkZone(tz); err != nil {
			p.addf("TZ", tz, "%v", err)
		}
	}
	if s.StorageURL != "" {
		return
	}
	if dir := filepath.Dir(s.StoragePath); !isDir(dir) {
		p.addf("STORAGE_FILEPATH", s.StoragePath, "the folder %s does not exist: the central creates the file, not its folder", dir)
		return
	}
	checkAppendable(p, "STORAGE_FILEPATH", s.StoragePath, s.StoragePath, "")
	ends := s.StoragePath + endsSuffix
	checkAppendable(p, "STORAGE_FILEPATH", s.StoragePath, ends, "its ends journal "+ends+" ")
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

// checkTimeout refuses a duration that is not positive, or that is below
// floor: a value no real deployment goes under, below which the binary
// would start and then fail at what the setting bounds (why says what).
func checkTimeout(p *problems, key string, d, floor time.Duration, why string) {
	switch {
	case d <= 0:
		checkPositive(p, key, d)
	case d < floor:
		p.addf(key, d.String(), "must be at least %s: %s", floor, why)
	case d > MaxTimeout:
		p.addf(key, d.String(), "must be at most %s: longer is a typo, and would let a stalled peer or a hung step hold on that long", MaxTimeout)
	}
}

// MaxTimeout is the longest any timeout may be: a day outlasts any real
// wait (an agency waiting for a late draw, a slow link), and a longer
// value is a typo ("100000h").
const MaxTimeout = 24 * time.Hour

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

// checkZone refuses a time zone (TZ) this machine cannot load: Go would
// take UTC in its place without a word, and a daily closing time would
// close hours early or late. The central's binary carries the zone
// database, so a zone's name works in an image that has none.
func checkZone(tz string) error {
	name := strings.TrimPrefix(tz, ":")
	if name == "" || strings.HasPrefix(name, "/") { // unset, or a zone file named by its path
		return nil
	}
	if _, err := time.LoadLocation(name); err != nil {
		return errors.New("not a time zone this machine knows (such as America/Argentina/Buenos_Aires): the daily SERVER_CLOSING_TIME is read in it, and Go would take UTC instead")
	}
	return nil
}
