package logattr

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

// jsonLine logs one record with attr through slog's JSON handler and
// returns what it wrote, decoded with numbers kept as written.
func jsonLine(t *testing.T, attr slog.Attr) map[string]any {
	t.Helper()
	var out bytes.Buffer
	slog.New(slog.NewJSONHandler(&out, nil)).Info("x", attr)
	d := json.NewDecoder(&out)
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	delete(m, "time")
	delete(m, "level")
	delete(m, "msg")
	return m
}

func TestAnAddressIsAHostKeyAndANumericPortKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		attr slog.Attr
		want map[string]any
	}{
		{"a peer's IPv4 address", Addr("peer", "127.0.0.1:49004"), map[string]any{"peer_ip": "127.0.0.1", "peer_port": json.Number("49004")}},
		{"a listener's address has bare keys", Addr("", "0.0.0.0:9100"), map[string]any{"ip": "0.0.0.0", "port": json.Number("9100")}},
		{"an IPv6 address stays as Go writes it in JSON", Addr("", "[::]:12345"), map[string]any{"ip": "::", "port": json.Number("12345")}},
		{"an IPv6 address keeps its zone", Addr("peer", "[fe80::1%eth0]:80"), map[string]any{"peer_ip": "fe80::1%eth0", "peer_port": json.Number("80")}},
		{"a configured address may name a host", Host("", "server:12345"), map[string]any{"host": "server", "port": json.Number("12345")}},
		{"a text that is no host:port is kept whole", Addr("peer", "@"), map[string]any{"peer_ip": "@"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := jsonLine(t, tt.attr); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAnIPv6AddressReadsWithDashesInTheLines(t *testing.T) {
	t.Parallel()
	tests := []struct{ addr, want string }{
		{"[::]:1", "--"},
		{"[::1]:1", "--1"},
		{"[2001:db8::7]:1", "2001-db8--7"},
		{"[fe80::1%eth0]:1", "fe80--1%eth0"},
		{"127.0.0.1:1", "127.0.0.1"},
		{"[::ffff:10.0.0.5]:1", "10.0.0.5"}, // an IPv4 client of a dual-stack listener
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			t.Parallel()
			ip, ok := Addr("", tt.addr).Value.Group()[0].Value.Any().(LineTexter)
			if !ok {
				t.Fatalf("the host of %s has no line text", tt.addr)
			}
			if got := ip.LineText(); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAddressesAsASettingWritesThemReadInTheLinesAndWholeInJSON(t *testing.T) {
	t.Parallel()
	tests := []struct{ setting, line string }{
		{"0.0.0.0:9100", "0.0.0.0 port 9100"},
		{"[::1]:23457", "--1 port 23457"},
		{"server:12345", "server port 12345"},
		{"127.0.0.1:12345, 127.0.0.1:12347", "127.0.0.1 port 12345, 127.0.0.1 port 12347"},
		{"no port here", "no port here"},
	}
	for _, tt := range tests {
		t.Run(tt.setting, func(t *testing.T) {
			t.Parallel()
			if got := Addresses(tt.setting).LineText(); got != tt.line {
				t.Errorf("line text %q, want %q", got, tt.line)
			}
			if got := jsonLine(t, slog.Any("address", Addresses(tt.setting)))["address"]; got != tt.setting {
				t.Errorf("JSON %v, want %q", got, tt.setting)
			}
		})
	}
}

func TestADurationIsANumberOfMilliseconds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{5 * time.Second, "5000"},
		{1500 * time.Millisecond, "1500"},
		{512 * time.Microsecond, "0.512"},
		{1234567 * time.Nanosecond, "1.235"},
		{2 * time.Hour, "7200000"}, // never in exponent form
		{0, "0"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			t.Parallel()
			got := jsonLine(t, Millis("waited_ms", tt.d))
			if got["waited_ms"] != json.Number(tt.want) {
				t.Fatalf("got %#v, want the number %s", got["waited_ms"], tt.want)
			}
		})
	}
}

func TestADatabaseURLNeverShowsItsPassword(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, url, json, line string
	}{
		{"a password in the user", "postgres://lottery:s3cret@db:5432/quiniela",
			"postgres://lottery:xxxxx@db:5432/quiniela", "host=db port=5432 user=lottery password=xxxxx dbname=quiniela"},
		{"a password as a parameter", "postgres://lottery@db/quiniela?password=s3cret&sslmode=disable",
			"postgres://lottery@db/quiniela?password=xxxxx&sslmode=disable", "host=db user=lottery dbname=quiniela password=xxxxx sslmode=disable"},
		{"no password", "postgres://lottery@127.0.0.1:5432/quiniela",
			"postgres://lottery@127.0.0.1:5432/quiniela", "host=127.0.0.1 port=5432 user=lottery dbname=quiniela"},
		{"a Unix socket's folder", "postgres:///quiniela?host=/var/run/postgresql",
			"postgres:///quiniela?host=/var/run/postgresql", "dbname=quiniela host=/var/run/postgresql"},
		{"several hosts", "postgres://u:p@h1:5432,h2:5433/db?connect_timeout=2",
			"postgres://u:xxxxx@h1:5432,h2:5433/db?connect_timeout=2", "host=h1,h2 port=5432,5433 user=u password=xxxxx dbname=db connect_timeout=2"},
		{"an IPv6 host", "postgres://u@[::1]:5432/db", "postgres://u@[::1]:5432/db", "host=--1 port=5432 user=u dbname=db"},
		{"an unparsable URL may hold a password", "postgres://u:s3cret@db:5432/%zz", "(unparsable)", "(unparsable)"},
		{"a keyword=value string may hold a password", "host=db password=s3cret", "(unparsable)", "(unparsable)"},
		{"no URL is no store", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u := DatabaseURL(tt.url)
			if got := jsonLine(t, slog.Any("storage_url", u))["storage_url"]; got != tt.json {
				t.Errorf("JSON: got %q, want %q", got, tt.json)
			}
			if got := u.LineText(); got != tt.line {
				t.Errorf("line: got %q, want %q", got, tt.line)
			}
		})
	}
}
