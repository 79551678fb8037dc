package env

import (
	"net"
	"os"
	"quiniela/protocol"
	"strconv"
	"strings"
	"time"
)

// DefaultBatchMaxAmount is the largest batch whose frame stays within
// 8 KiB: (8192 - 5-byte header) / 128-byte record.
const DefaultBatchMaxAmount = protocol.MaxBatchCount

// The floors of an agency's timeouts. Below them the agency starts and
// then cannot complete a round; each is far below any sensible setting
// (the defaults are 10s, 30s and 60s).
const (
	// MinIOTimeout: the longest wait for one reply must exceed the time
	// the central holds a winners query while the draw is pending (a
	// second: supervisor's DefaultWinnersHold) plus the round trip, or
	// every held query times out and the agency reconnects instead of
	// hearing the draw. Twice the hold leaves that room.
	MinIOTimeout = 2 * time.Second
	// MinConnectTimeout: the first attempt must be able to complete, a
	// dial and, under TLS, a handshake across a real network; below a
	// second the agency gives up before it (1ns gives up before dialling).
	MinConnectTimeout = time.Second
	// MinWinnersTimeout: the central holds one winners query up to a
	// second waiting for the draw, so a shorter wait cannot be kept: the
	// agency would give up after its first query, whenever it ended
	// before the last agency did.
	MinWinnersTimeout = time.Second
)

// Client holds one agency's settings.
type Client struct {
	ID             int           `env:"CLI_ID,required" help:"agency number (required)"`
	ServerAddress  string        `env:"CLI_SERVER_ADDRESS" envDefault:"server:12345" help:"the central's host:port; several, comma-separated (an active central and its standbys), are tried in turn"`
	LogFormat      LogFormat     `env:"LOG_FORMAT" envDefault:"course" help:"course (one line per event, as the course's tools read them) or json (log/slog's JSON, the same keys)"`
	LogLevel       Level         `env:"CLI_LOG_LEVEL" envDefault:"INFO" help:"DEBUG, INFO, WARNING or ERROR; DEBUG also logs each winner's document"`
	BatchMaxAmount int           `env:"CLI_BATCH_MAX_AMOUNT" envDefault:"63" help:"bets per batch; 63 fill an 8 KiB frame, more is capped"`
	DataFile       string        `env:"CLI_DATA_FILE" help:"the agency's bets, a readable regular file (default ./.data/agency-{CLI_ID}.csv)"`
	ConnectTimeout time.Duration `env:"CLI_CONNECT_TIMEOUT" envDefault:"30s" help:"give up after this long without progress with the central; at least 1s"`
	WinnersTimeout time.Duration `env:"CLI_WINNERS_TIMEOUT" envDefault:"60s" help:"keep asking for the winners this long; at least 1s"`
	IOTimeout      time.Duration `env:"CLI_IO_TIMEOUT" envDefault:"10s" help:"longest wait for one reply, or a TLS handshake; at least 2s"`
	TLSCert        string        `env:"CLI_TLS_CERT" help:"mutual TLS: this agency's certificate (all three CLI_TLS_* or none)"`
	TLSKey         string        `env:"CLI_TLS_KEY" help:"mutual TLS: this agency's key"`
	TLSCA          string        `env:"CLI_TLS_CA" help:"mutual TLS: the CA of the central's certificate"`

	// Single-bet mode: when all five are set, the agency sends this one bet
	// instead of its file.
	FirstName string `env:"NOMBRE" help:"single-bet mode (all five set): the first name"`
	LastName  string `env:"APELLIDO" help:"single-bet mode: the last name"`
	Document  string `env:"DOCUMENTO" help:"single-bet mode: the document"`
	Birthdate string `env:"NACIMIENTO" help:"single-bet mode: the birthdate, YYYY-MM-DD"`
	Number    string `env:"NUMERO" help:"single-bet mode: the number played"`
}

// ServerAddresses lists the centrals of CLI_SERVER_ADDRESS, in the order
// given (spaces around each are dropped).
func (c Client) ServerAddresses() []string {
	addrs := strings.Split(c.ServerAddress, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
	}
	return addrs
}

// TLS reports whether the agency is to speak mutual TLS.
func (c Client) TLS() bool { return c.TLSCert != "" }

// SingleBet reports whether the single-bet keys are set, and returns them
// as the fields of an agency-file line.
func (c Client) SingleBet() ([]string, bool) {
	f := []string{c.FirstName, c.LastName, c.Document, c.Birthdate, c.Number}
	return f, c.FirstName != ""
}

// LoadClient loads an agency's settings from the .env file at path (or
// ./.env) and the environment.
func LoadClient(path string) (Client, error) {
	var c Client
	err := loadForStart(&c, path, os.Environ())
	return c, err
}

// checkMachine refuses a bets file that the agency could not read: one
// that does not exist, is a directory or a device, or is not readable.
// Single-bet mode reads no file.
func (c *Client) checkMachine(p *problems) {
	if _, single := c.SingleBet(); single {
		return
	}
	checkReadable(p, "CLI_DATA_FILE", c.DataFile,
		"the agency reads its bets from it, from its start on every reconnection (single-bet mode, NOMBRE to NUMERO set, reads none)")
}

func (c *Client) validate(p *problems) {
	checkRange(p, "CLI_ID", c.ID, 1, 65535)
	for _, addr := range c.ServerAddresses() {
		if host, port, err := net.SplitHostPort(addr); err != nil || host == "" {
			p.addf("CLI_SERVER_ADDRESS", addr, "want host:port (several: comma-separated)")
		} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			p.addf("CLI_SERVER_ADDRESS", addr, "port is not within 1..65535")
		}
	}
	if c.BatchMaxAmount < 1 {
		p.addf("CLI_BATCH_MAX_AMOUNT", strconv.Itoa(c.BatchMaxAmount), "must be at least 1")
	}
	if c.DataFile == "" {
		c.DataFile = "./.data/agency-" + strconv.Itoa(c.ID) + ".csv"
	}
	checkTimeout(p, "CLI_CONNECT_TIMEOUT", c.ConnectTimeout, MinConnectTimeout,
		"a first connection (a dial and a TLS handshake) must be able to complete within it")
	checkTimeout(p, "CLI_WINNERS_TIMEOUT", c.WinnersTimeout, MinWinnersTimeout,
		"the central holds one winners query up to a second")
	checkTimeout(p, "CLI_IO_TIMEOUT", c.IOTimeout, MinIOTimeout,
		"it must outlast the central's hold of a winners query (a second) and the round trip")
	allOrNone(p, "mutual TLS", []string{"CLI_TLS_CERT", "CLI_TLS_KEY", "CLI_TLS_CA"}, c.TLSCert, c.TLSKey, c.TLSCA)
	allOrNone(p, "single-bet mode", []string{"NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO"},
		c.FirstName, c.LastName, c.Document, c.Birthdate, c.Number)
}
