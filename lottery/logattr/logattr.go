// Package logattr gives the log lines of every package one form for what
// many of them log: an address, a duration, a database URL. Each is an
// slog attribute that both log formats write with the same keys: the
// course's lines, whose values may hold no ':' (the course's parser takes
// a detail's key as the text before its last ':'), and JSON, which writes
// the value as it is, numbers as numbers.
//
// An address is two keys, its host and its port, never "host:port":
//
//	peer_ip: 127.0.0.1 | peer_port: 49004
//
// An IPv6 address is written in the lines with '-' for each ':' (the
// convention of ipv6-literal.net names): ::1 reads --1, :: (every
// address) reads --, 2001:db8::7 reads 2001-db8--7, a zone stays after
// its '%'. JSON writes it as Go does ("::1").
//
// A duration is a number of milliseconds under a key that ends in _ms
// (waited_ms: 1250), in both formats, with microseconds as decimals where
// it is shorter than that matters (latencia_p50_ms: 0.512).
//
// A database URL is written without its password (xxxxx instead), in the
// lines as PostgreSQL's keyword=value connection string
// (host=db port=5432 user=lottery password=xxxxx dbname=quiniela), which
// psql takes and which needs no ':'; JSON writes the URL itself.
package logattr

import (
	"encoding/json"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LineTexter is a value that the course's lines write as LineText, a text
// without ':', rather than as its String.
type LineTexter interface{ LineText() string }

// IP is an IP address in a log line: as Go writes it in JSON and
// elsewhere, with '-' for ':' in the course's lines.
type IP struct{ netip.Addr }

// LineText is the address with '-' for each ':'.
func (ip IP) LineText() string { return strings.ReplaceAll(ip.String(), ":", "-") }

// Addresses are addresses as a setting writes them, "host:port" or a
// comma-separated list of them: JSON writes them as given, the course's
// lines as "host port N" each (127.0.0.1 port 12345; an IPv6 host with '-'
// for ':'), which read right where "127.0.0.1.12345" would not.
type Addresses string

// LineText is each address as "host port N", joined by ", ".
func (a Addresses) LineText() string {
	var out []string
	for _, hostport := range strings.Split(string(a), ",") {
		hostport = strings.TrimSpace(hostport)
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			out = append(out, hostport) // not host:port: the sanitizer has it
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			host = IP{ip}.LineText()
		}
		out = append(out, host+" port "+port)
	}
	return strings.Join(out, ", ")
}

// MarshalText is the addresses as given.
func (a Addresses) MarshalText() ([]byte, error) { return []byte(a), nil }

// Addr is the address of a socket, "host:port" as net.Addr and
// net.JoinHostPort write it, as the keys <name>_ip and <name>_port (ip and
// port when name is empty), the port a number. Its host is an IP for a
// socket; a listen address as configured may be a host name, written as
// given. A text that is not host:port is written whole under <name>_ip.
func Addr(name, hostport string) slog.Attr { return split(name, "ip", hostport) }

// Host is an address as configured, whose host may be a name or an IP
// ("server:12345"): the keys <name>_host and <name>_port (host and port
// when name is empty).
func Host(name, hostport string) slog.Attr { return split(name, "host", hostport) }

// NetAddr is Addr of a net.Addr (nil gives no attribute).
func NetAddr(name string, a net.Addr) slog.Attr {
	if a == nil {
		return slog.Attr{}
	}
	return Addr(name, a.String())
}

func split(name, hostKey, hostport string) slog.Attr {
	key := func(k string) string {
		if name == "" {
			return k
		}
		return name + "_" + k
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return slog.Group("", slog.Any(key(hostKey), hostValue(hostport)))
	}
	var portValue slog.Value
	if n, err := strconv.Atoi(port); err == nil {
		portValue = slog.IntValue(n)
	} else {
		portValue = slog.StringValue(port) // a service name, such as "http"
	}
	return slog.Group("", slog.Any(key(hostKey), hostValue(host)), slog.Attr{Key: key("port"), Value: portValue})
}

// hostValue is host as an IP when it is one, else the text.
func hostValue(host string) any {
	if ip, err := netip.ParseAddr(host); err == nil {
		return IP{ip.Unmap()}
	}
	return host
}

// Millis is d as a number of milliseconds, with microseconds as decimals,
// under key, which names its unit (it ends in _ms).
func Millis(key string, d time.Duration) slog.Attr {
	ms := float64(d.Round(time.Microsecond)) / float64(time.Millisecond)
	return slog.Any(key, json.Number(strconv.FormatFloat(ms, 'f', -1, 64)))
}

// URL is a database URL without its password.
type URL struct{ u *url.URL }

// DatabaseURL is the URL raw, for a log line (see the package comment).
// A text that is not a URL (one that does not parse, a keyword=value
// string) is written as "(unparsable)": it may hold a password.
func DatabaseURL(raw string) URL {
	u, err := url.Parse(raw)
	if err != nil || raw != "" && u.Scheme == "" {
		return URL{}
	}
	return URL{u}
}

// String is the URL with its password (in the URL's user, or a password
// parameter) replaced by xxxxx.
func (u URL) String() string {
	if u.u == nil {
		return "(unparsable)"
	}
	r := *u.u
	if q := r.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		r.RawQuery = q.Encode()
	}
	return r.Redacted()
}

// MarshalText is String: JSON writes the URL without its password.
func (u URL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// LineText is the URL as a keyword=value connection string: host, port,
// user, password (xxxxx when there is one), dbname, then the URL's query
// parameters in order of name. Several hosts (host1:5432,host2:5432) are
// listed as libpq lists them: host=host1,host2 port=5432,5432.
func (u URL) LineText() string {
	if u.u == nil {
		return "(unparsable)"
	}
	var kv []string
	add := func(k, v string) {
		if v == "" {
			return
		}
		if strings.ContainsAny(v, " '\\") {
			v = "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
		}
		kv = append(kv, k+"="+v)
	}
	if u.u.Host != "" {
		var hosts, ports []string
		anyPort := false
		for _, h := range strings.Split(u.u.Host, ",") {
			host, port, err := net.SplitHostPort(h)
			if err != nil {
				host, port = strings.Trim(h, "[]"), ""
			}
			if ip, err := netip.ParseAddr(host); err == nil {
				host = IP{ip}.LineText()
			}
			hosts, ports = append(hosts, host), append(ports, port)
			anyPort = anyPort || port != ""
		}
		add("host", strings.Join(hosts, ","))
		if anyPort {
			add("port", strings.Join(ports, ","))
		}
	}
	if u.u.User != nil {
		add("user", u.u.User.Username())
		if _, set := u.u.User.Password(); set {
			add("password", "xxxxx")
		}
	}
	add("dbname", strings.TrimPrefix(u.u.Path, "/"))
	q := u.u.Query()
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q.Get(k)
		if k == "password" {
			v = "xxxxx"
		}
		add(k, v)
	}
	return strings.Join(kv, " ")
}
