package env

import (
	"net"
	"os"
	"strconv"
	"time"
)

// DefaultBatchMaxAmount is the largest batch whose frame stays within
// 8 KiB: (8192 - 5-byte header) / 128-byte record.
const DefaultBatchMaxAmount = 63

// Client holds one agency's settings.
type Client struct {
	ID             int           `env:"CLI_ID,required"`
	ServerAddress  string        `env:"CLI_SERVER_ADDRESS" envDefault:"server:12345"`
	LogLevel       Level         `env:"CLI_LOG_LEVEL" envDefault:"INFO"`
	BatchMaxAmount int           `env:"CLI_BATCH_MAX_AMOUNT" envDefault:"63"`
	DataFile       string        `env:"CLI_DATA_FILE"`
	ConnectTimeout time.Duration `env:"CLI_CONNECT_TIMEOUT" envDefault:"30s"`
	WinnersTimeout time.Duration `env:"CLI_WINNERS_TIMEOUT" envDefault:"60s"`
	IOTimeout      time.Duration `env:"CLI_IO_TIMEOUT" envDefault:"10s"`
	TLSCert        string        `env:"CLI_TLS_CERT"`
	TLSKey         string        `env:"CLI_TLS_KEY"`
	TLSCA          string        `env:"CLI_TLS_CA"`

	// Single-bet mode: when all five are set, the agency sends this one bet
	// instead of its file.
	FirstName string `env:"NOMBRE"`
	LastName  string `env:"APELLIDO"`
	Document  string `env:"DOCUMENTO"`
	Birthdate string `env:"NACIMIENTO"`
	Number    string `env:"NUMERO"`
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
	err := load(&c, path, os.Environ())
	return c, err
}

func (c *Client) validate(p *problems) {
	checkRange(p, "CLI_ID", c.ID, 1, 65535)
	if host, port, err := net.SplitHostPort(c.ServerAddress); err != nil || host == "" {
		p.addf("CLI_SERVER_ADDRESS", c.ServerAddress, "want host:port")
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.addf("CLI_SERVER_ADDRESS", c.ServerAddress, "port is not within 1..65535")
	}
	if c.BatchMaxAmount < 1 {
		p.addf("CLI_BATCH_MAX_AMOUNT", strconv.Itoa(c.BatchMaxAmount), "must be at least 1")
	}
	if c.DataFile == "" {
		c.DataFile = "./.data/agency-" + strconv.Itoa(c.ID) + ".csv"
	}
	checkPositive(p, "CLI_CONNECT_TIMEOUT", c.ConnectTimeout)
	checkPositive(p, "CLI_WINNERS_TIMEOUT", c.WinnersTimeout)
	checkPositive(p, "CLI_IO_TIMEOUT", c.IOTimeout)
	allOrNone(p, "mutual TLS", []string{"CLI_TLS_CERT", "CLI_TLS_KEY", "CLI_TLS_CA"}, c.TLSCert, c.TLSKey, c.TLSCA)
	allOrNone(p, "single-bet mode", []string{"NOMBRE", "APELLIDO", "DOCUMENTO", "NACIMIENTO", "NUMERO"},
		c.FirstName, c.LastName, c.Document, c.Birthdate, c.Number)
}
