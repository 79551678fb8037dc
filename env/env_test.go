package env

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"quiniela/protocol"
	"quiniela/store/csvfile"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, contents string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.env")
	if err := os.WriteFile(path, []byte(contents), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServerDefaultsMatchTheContract(t *testing.T) {
	t.Parallel()
	var s Server
	if err := load(&s, writeFile(t, ""), nil); err != nil {
		t.Fatal(err)
	}
	want := Server{IP: "0.0.0.0", Port: 12345, ListenBacklog: 5, LogLevel: Level(slog.LevelInfo), Agencies: 5,
		StoragePath: "./bets.csv", FrameTimeout: 5 * time.Second, ShutdownTimeout: 1500 * time.Millisecond,
		IdleTimeout: 2 * time.Minute, MaxConnections: 10000, LogFormat: LogCourse, Rounds: RoundsOne}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
}

func TestTheRealEnvironmentWinsOverTheFile(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "SERVER_PORT=4000\nLOGGING_LEVEL=debug\n# a comment\nAGENCIES=3\n")
	var s Server
	if err := load(&s, path, []string{"SERVER_PORT=5000", "UNRELATED=1"}); err != nil {
		t.Fatal(err)
	}
	if s.Port != 5000 || s.LogLevel != Level(slog.LevelDebug) || s.Agencies != 3 {
		t.Fatalf("got %+v", s)
	}
}

func TestEveryBadKeyIsNamedInOneError(t *testing.T) {
	t.Parallel()
	// A value out of its range is named beside those that could not be
	// read at all, and a key that could not be read is named once.
	path := writeFile(t, "SERVER_PORT=abc\nLOGGING_LEVEL=LOUD\nSERVER_PROT=1\nAGENCIES=0\n")
	var s Server
	err := load(&s, path, []string{"SERVER_LISTEN_BACKLOG=99999999999999999999"})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want *Error", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`SERVER_PORT="abc": not a whole number`,
		`LOGGING_LEVEL="LOUD": want DEBUG, INFO, WARNING or ERROR`,
		`SERVER_PROT="1": unknown key in ` + path,
		`SERVER_LISTEN_BACKLOG="99999999999999999999": out of range`,
		`AGENCIES="0": not within 1..65535`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if n := strings.Count(msg, "SERVER_LISTEN_BACKLOG="); n != 1 {
		t.Errorf("error %q names SERVER_LISTEN_BACKLOG %d times, want once", msg, n)
	}
}

func TestRangesAreChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    string
	}{
		{"a port beyond 65535", []string{"SERVER_PORT=70000"}, `SERVER_PORT="70000": not within 0..65535`},
		{"a zero backlog", []string{"SERVER_LISTEN_BACKLOG=0"}, `SERVER_LISTEN_BACKLOG="0": not within 1..65535`},
		{"zero agencies", []string{"AGENCIES=0"}, `AGENCIES="0": not within 1..65535`},
		{"an IP with a space", []string{"SERVER_IP=1.2.3 .4"}, `SERVER_IP="1.2.3 .4": not an IP address or host name`},
		{"a negative timeout", []string{"SERVER_FRAME_TIMEOUT=-1s"}, `SERVER_FRAME_TIMEOUT="-1s": must be a positive duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Server
			err := load(&s, writeFile(t, ""), tt.environ)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestClientNeedsItsIDAndDerivesItsDataFile(t *testing.T) {
	t.Parallel()
	var c Client
	err := load(&c, writeFile(t, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "CLI_ID: required and not set") {
		t.Fatalf("missing CLI_ID: %v", err)
	}
	c = Client{}
	if err := load(&c, writeFile(t, "CLI_ID=3\n"), nil); err != nil {
		t.Fatal(err)
	}
	if c.DataFile != "./.data/agency-3.csv" || c.ServerAddress != "server:12345" || c.BatchMaxAmount != DefaultBatchMaxAmount {
		t.Fatalf("got %+v", c)
	}
	if _, single := c.SingleBet(); single {
		t.Fatal("single-bet mode without its keys")
	}
}

func TestClientSingleBetNeedsAllFiveKeys(t *testing.T) {
	t.Parallel()
	var c Client
	err := load(&c, writeFile(t, "CLI_ID=1\nNOMBRE=Santiago Lionel\nAPELLIDO=Lorca\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "missing: DOCUMENTO, NACIMIENTO, NUMERO") {
		t.Fatalf("got %v", err)
	}
	c = Client{}
	err = load(&c, writeFile(t, "CLI_ID=1\nNOMBRE=Santiago Lionel\nAPELLIDO=Lorca\nDOCUMENTO=30904465\nNACIMIENTO=1999-03-17\nNUMERO=7574\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if f, single := c.SingleBet(); !single || strings.Join(f, ",") != "Santiago Lionel,Lorca,30904465,1999-03-17,7574" {
		t.Fatalf("got %v %v", f, single)
	}
}

func TestClientAddressMustBeHostAndPort(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"server", ":12345", "server:0", "server:http", "a:1,", "a:1,,b:2", "a:1,b"} {
		var c Client
		err := load(&c, writeFile(t, ""), []string{"CLI_ID=1", "CLI_SERVER_ADDRESS=" + addr})
		if err == nil || !strings.Contains(err.Error(), "CLI_SERVER_ADDRESS") {
			t.Errorf("%q: got %v", addr, err)
		}
	}
}

func TestSeveralCentralsAreListedInOrder(t *testing.T) {
	t.Parallel()
	var c Client
	if err := load(&c, writeFile(t, ""), []string{"CLI_ID=1", "CLI_SERVER_ADDRESS=a:1, b:2 ,127.0.0.1:3"}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.ServerAddresses(), "|"); got != "a:1|b:2|127.0.0.1:3" {
		t.Fatalf("got %s", got)
	}
}

func TestTheStorageURLIsCheckedAndLoggedWithoutItsPassword(t *testing.T) {
	t.Parallel()
	var s Server
	if err := load(&s, writeFile(t, ""), []string{"STORAGE_URL=postgres://lottery:s3cret@db:5432/quiniela"}); err != nil {
		t.Fatal(err)
	}
	if line := fmt.Sprint(Attrs(s)); strings.Contains(line, "s3cret") || !strings.Contains(line, "postgres://lottery:xxxxx@db:5432/quiniela") {
		t.Fatalf("config attributes %s", line)
	}
	if err := load(&s, writeFile(t, ""), []string{"STORAGE_URL=postgresql:///quiniela?host=/var/run/postgresql"}); err != nil {
		t.Fatalf("a Unix socket's URL: %v", err)
	}
	for _, bad := range []string{"mysql://db/x", "postgres:///x", "host=db user=x", "postgres://a:b@db:5432/%zz"} {
		err := load(&s, writeFile(t, ""), []string{"STORAGE_URL=" + bad})
		if err == nil || !strings.Contains(err.Error(), "STORAGE_URL") {
			t.Errorf("%q: got %v", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), ":b@") {
			t.Errorf("%q: the error shows the password: %v", bad, err)
		}
	}
}

func TestAMissingNamedFileIsAnError(t *testing.T) {
	t.Parallel()
	var s Server
	err := load(&s, filepath.Join(t.TempDir(), "nope.env"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.env") {
		t.Fatalf("got %v", err)
	}
}

func TestTheDefaultFileIsReadFromTheWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, DefaultFile), []byte("AGENCIES=9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var s Server
	if err := load(&s, "", nil); err != nil || s.Agencies != 9 {
		t.Fatalf("got %+v, %v", s, err)
	}
}

func TestAttrsListEveryEffectiveSetting(t *testing.T) {
	t.Parallel()
	s := Server{IP: "1.2.3.4", Port: 1, LogLevel: Level(slog.LevelWarn)}
	attrs := Attrs(s)
	if len(attrs) != 36 || attrs[0] != "server_ip" || attrs[1] != "1.2.3.4" || attrs[6] != "logging_level" || attrs[7] != "WARNING" {
		t.Fatalf("got %v", attrs)
	}
	// Numbers stay numbers, durations durations: each log format writes
	// them its way.
	if attrs[2] != "server_port" || attrs[3] != 1 || attrs[12] != "server_frame_timeout" || attrs[13] != time.Duration(0) {
		t.Fatalf("got %#v", attrs)
	}
}

func TestTheConfigLineShowsTheStoreReallyUsed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    map[string]any // each key's value; nil: the key is left out
	}{
		{"the CSV file, with no URL", nil,
			map[string]any{"storage_filepath": "./bets.csv", "storage_url": DatabaseURL("")}},
		{"PostgreSQL, without its password and without the file it does not use", []string{"STORAGE_URL=postgres://lottery:s3cret@db:5432/quiniela"},
			map[string]any{"storage_filepath": nil, "storage_url": DatabaseURL("postgres://lottery:s3cret@db:5432/quiniela")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var s Server
			if err := load(&s, writeFile(t, ""), tt.environ); err != nil {
				t.Fatal(err)
			}
			got := map[string]any{}
			attrs := Attrs(s)
			for i := 0; i < len(attrs); i += 2 {
				got[attrs[i].(string)] = attrs[i+1]
			}
			for k, want := range tt.want {
				if v, ok := got[k]; v != want || ok != (want != nil) {
					t.Errorf("%s: got %#v (there: %v), want %#v", k, v, ok, want)
				}
			}
			if strings.Contains(fmt.Sprint(attrs), "s3cret") {
				t.Errorf("the password shows: %v", attrs)
			}
		})
	}
}

func TestTheLogFormatIsReadAloneEvenWhenOtherSettingsAreWrong(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		file    string // the .env file's text; "-" for a file that cannot be read
		environ []string
		want    LogFormat
		ok      bool
	}{
		{"unset is the course's lines", "", nil, LogCourse, true},
		{"from the file beside a bad port", "LOG_FORMAT=json\nSERVER_PORT=x\n", nil, LogJSON, true},
		{"the environment wins over the file", "LOG_FORMAT=course\n", []string{"LOG_FORMAT=JSON"}, LogJSON, true},
		{"from the environment when the file cannot be read", "-", []string{"LOG_FORMAT=json"}, LogJSON, true},
		{"an unknown format falls back to the course's lines", "", []string{"LOG_FORMAT=xml"}, LogCourse, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "missing.env")
			if tt.file != "-" {
				path = writeFile(t, tt.file)
			}
			if f, ok := logFormatOf(path, tt.environ); f != tt.want || ok != tt.ok {
				t.Fatalf("got %s %v, want %s %v", f, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestExampleFilesLoadAndDocumentEveryKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		cfg  validator
	}{
		{"../cmd/server/.env.example", &Server{}},
		{"../cmd/client/.env.example", &Client{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			if err := load(tt.cfg, tt.path, nil); err != nil {
				t.Fatal(err)
			}
			text, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			for _, key := range keysOf(tt.cfg) {
				if !strings.Contains(string(text), "\n"+key+"=") && !strings.Contains(string(text), "# "+key+"=") {
					t.Errorf("%s does not document %s", tt.path, key)
				}
			}
		})
	}
}

func TestOneFileServesTheCentralAndTheAgencies(t *testing.T) {
	t.Parallel()
	shared := "SERVER_IP=127.0.0.1\nAGENCIES=2\nLOGGING_LEVEL=DEBUG\n" +
		"CLI_SERVER_ADDRESS=127.0.0.1:12345\nCLI_BATCH_MAX_AMOUNT=10\n" +
		"HEALTHCHECK_ADDRESS=127.0.0.1:12345\n"
	path := writeFile(t, shared)
	var s Server
	if err := load(&s, path, nil); err != nil || s.IP != "127.0.0.1" || s.Agencies != 2 {
		t.Fatalf("the central: %+v, %v", s, err)
	}
	var c Client
	if err := load(&c, path, []string{"CLI_ID=1"}); err != nil || c.ServerAddress != "127.0.0.1:12345" || c.BatchMaxAmount != 10 {
		t.Fatalf("an agency: %+v, %v", c, err)
	}
	var h Healthcheck
	if err := load(&h, path, nil); err != nil || h.Address != "127.0.0.1:12345" {
		t.Fatalf("the health check: %+v, %v", h, err)
	}

	typo := writeFile(t, shared+"CLI_SERVER_ADRESS=x:1\n")
	for name, cfg := range map[string]validator{"server": &Server{}, "client": &Client{}, "healthcheck": &Healthcheck{}} {
		err := load(cfg, typo, []string{"CLI_ID=1"})
		if err == nil || !strings.Contains(err.Error(), `CLI_SERVER_ADRESS="x:1": unknown key in `+typo) {
			t.Errorf("%s: a key no binary reads gave %v", name, err)
		}
	}
}

func TestTLSSettingsAreAllOrNone(t *testing.T) {
	t.Parallel()
	var s Server
	err := load(&s, writeFile(t, "SERVER_TLS_CERT=s.crt\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "mutual TLS needs all of SERVER_TLS_CERT, SERVER_TLS_KEY, SERVER_TLS_CLIENT_CA; set: SERVER_TLS_CERT; missing: SERVER_TLS_KEY, SERVER_TLS_CLIENT_CA") {
		t.Fatalf("got %v", err)
	}
	var c Client
	err = load(&c, writeFile(t, "CLI_ID=1\nCLI_TLS_CA=ca.crt\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "missing: CLI_TLS_CERT, CLI_TLS_KEY") {
		t.Fatalf("got %v", err)
	}
	c = Client{}
	if err := load(&c, writeFile(t, "CLI_ID=1\nCLI_TLS_CA=ca.crt\nCLI_TLS_CERT=a.crt\nCLI_TLS_KEY=a.key\n"), nil); err != nil || !c.TLS() {
		t.Fatalf("a whole TLS group: %+v, %v", c, err)
	}
}

func TestEverySettingSaysWhatItMeans(t *testing.T) {
	t.Parallel()
	for _, cfg := range []any{&Server{}, &Client{}, &Healthcheck{}} {
		for _, s := range Settings(cfg) {
			if s.Help == "" {
				t.Errorf("%s has no help text", s.Key)
			}
		}
	}
}

func TestTimeoutsThatCannotWorkAreRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     validator
		environ []string
		want    string // "" when the settings load
	}{
		{"a frame timeout of a nanosecond fails every agency", &Server{}, []string{"SERVER_FRAME_TIMEOUT=1ns"},
			`SERVER_FRAME_TIMEOUT="1ns": must be at least 1s: it bounds a whole frame`},
		{"a frame timeout of a second is enough", &Server{}, []string{"SERVER_FRAME_TIMEOUT=1s"}, ""},
		{"an idle timeout of a nanosecond fails every agency", &Server{}, []string{"SERVER_IDLE_TIMEOUT=1ns"},
			`SERVER_IDLE_TIMEOUT="1ns": must be at least 2s: an agency waiting for the draw`},
		{"an idle timeout no longer than an agency's pause between queries is refused", &Server{}, []string{"SERVER_IDLE_TIMEOUT=1s"},
			`SERVER_IDLE_TIMEOUT="1s": must be at least 2s`},
		{"an idle timeout of two seconds is enough", &Server{}, []string{"SERVER_IDLE_TIMEOUT=2s"}, ""},
		{"a shutdown timeout of a nanosecond fails every stop", &Server{}, []string{"SERVER_SHUTDOWN_TIMEOUT=1ns"},
			`SERVER_SHUTDOWN_TIMEOUT="1ns": must be at least 500ms`},
		{"a shutdown timeout of half a second is enough", &Server{}, []string{"SERVER_SHUTDOWN_TIMEOUT=500ms"}, ""},
		{"a negative timeout is still refused as such", &Server{}, []string{"SERVER_IDLE_TIMEOUT=-2m"},
			`SERVER_IDLE_TIMEOUT="-2m0s": must be a positive duration`},
		{"an agency's IO timeout of a nanosecond fails every reply", &Client{}, []string{"CLI_ID=1", "CLI_IO_TIMEOUT=1ns"},
			`CLI_IO_TIMEOUT="1ns": must be at least 2s: it must outlast the central's hold of a winners query`},
		{"an agency's IO timeout no longer than the winners hold is refused", &Client{}, []string{"CLI_ID=1", "CLI_IO_TIMEOUT=1s"},
			`CLI_IO_TIMEOUT="1s": must be at least 2s`},
		{"an agency's IO timeout of two seconds is enough", &Client{}, []string{"CLI_ID=1", "CLI_IO_TIMEOUT=2s"}, ""},
		{"a connect timeout of a nanosecond gives up before dialling", &Client{}, []string{"CLI_ID=1", "CLI_CONNECT_TIMEOUT=1ns"},
			`CLI_CONNECT_TIMEOUT="1ns": must be at least 1s`},
		{"a connect timeout of a second is enough", &Client{}, []string{"CLI_ID=1", "CLI_CONNECT_TIMEOUT=1s"}, ""},
		{"a winners timeout shorter than one held query is refused", &Client{}, []string{"CLI_ID=1", "CLI_WINNERS_TIMEOUT=500ms"},
			`CLI_WINNERS_TIMEOUT="500ms": must be at least 1s: the central holds one winners query`},
		{"a winners timeout of a second is enough", &Client{}, []string{"CLI_ID=1", "CLI_WINNERS_TIMEOUT=1s"}, ""},
		{"a frame timeout of a hundred thousand hours is a typo", &Server{}, []string{"SERVER_FRAME_TIMEOUT=100000h"},
			`SERVER_FRAME_TIMEOUT="100000h0m0s": must be at most 24h0m0s`},
		{"an agency's IO timeout of a week is a typo", &Client{}, []string{"CLI_ID=1", "CLI_IO_TIMEOUT=168h"},
			`CLI_IO_TIMEOUT="168h0m0s": must be at most 24h0m0s`},
		{"an idle timeout of a day is allowed", &Server{}, []string{"SERVER_IDLE_TIMEOUT=24h"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := load(tt.cfg, writeFile(t, ""), tt.environ)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestEveryFloorIsInItsHelp(t *testing.T) {
	t.Parallel()
	floors := map[string]time.Duration{
		"SERVER_FRAME_TIMEOUT": MinFrameTimeout, "SERVER_IDLE_TIMEOUT": MinIdleTimeout,
		"SERVER_SHUTDOWN_TIMEOUT": MinShutdownTimeout, "CLI_IO_TIMEOUT": MinIOTimeout,
		"CLI_CONNECT_TIMEOUT": MinConnectTimeout, "CLI_WINNERS_TIMEOUT": MinWinnersTimeout,
	}
	for _, cfg := range []any{&Server{}, &Client{}} {
		for _, s := range Settings(cfg) {
			if floor, ok := floors[s.Key]; ok && !strings.HasSuffix(s.Help, "at least "+floor.String()) {
				t.Errorf("%s: help %q does not end with its floor, at least %s", s.Key, s.Help, floor)
			}
		}
	}
}

// machine makes the files of one case in dir.
type machine func(t *testing.T, dir string)

func mkdir(name string) machine {
	return func(t *testing.T, dir string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func touch(name string) machine {
	return func(t *testing.T, dir string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("Ana,Pérez,1,1990-01-01,1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(name, target string) machine {
	return func(t *testing.T, dir string) {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTheStoreMustBeARegularFileOrAbsent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup []machine
		store string // relative to the case's folder unless absolute
		url   string
		want  string // "" when the settings load
	}{
		{"a store at /dev/null would keep nothing", nil, "/dev/null", "",
			`STORAGE_FILEPATH="/dev/null": is a character device, not a regular file`},
		{"a store at /dev/full would refuse every batch", nil, "/dev/full", "",
			`STORAGE_FILEPATH="/dev/full": is a character device, not a regular file`},
		{"a folder is no store", []machine{mkdir("bets.csv")}, "bets.csv", "",
			`bets.csv": is a directory, not a regular file`},
		{"a symlink to /dev/null is no store", []machine{symlink("bets.csv", "/dev/null")}, "bets.csv", "",
			`bets.csv": is a character device, not a regular file`},
		{"an ends journal that is a folder is refused", []machine{mkdir("bets.csv.ends")}, "bets.csv", "",
			`bets.csv": its ends journal ` + "DIR" + `/bets.csv.ends is a directory, not a regular file`},
		{"an ends journal at /dev/null is refused", []machine{touch("bets.csv"), symlink("bets.csv.ends", "/dev/null")}, "bets.csv", "",
			`its ends journal ` + "DIR" + `/bets.csv.ends is a character device`},
		{"an absent store is created at start", nil, "bets.csv", "", ""},
		{"a store in a folder that does not exist is refused", nil, "missing/bets.csv", "",
			`bets.csv": the folder DIR/missing does not exist`},
		{"a store left by an earlier round is taken", []machine{touch("bets.csv"), touch("bets.csv.ends")}, "bets.csv", "", ""},
		{"a symlink to a regular store is taken", []machine{touch("real.csv"), symlink("bets.csv", "real.csv")}, "bets.csv", "", ""},
		{"a PostgreSQL store ignores the file's path", nil, "/dev/null", "postgres://db/quiniela", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for _, m := range tt.setup {
				m(t, dir)
			}
			store := tt.store
			if !filepath.IsAbs(store) {
				store = filepath.Join(dir, store)
			}
			var s Server
			err := loadForStart(&s, writeFile(t, ""), []string{"STORAGE_FILEPATH=" + store, "STORAGE_URL=" + tt.url})
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			switch {
			case want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
				t.Fatalf("got %v, want it to say %q", err, want)
			}
		})
	}
}

func TestTheAgencyMustBeAbleToReadItsBetsFile(t *testing.T) {
	t.Parallel()
	single := []string{"NOMBRE=Santiago Lionel", "APELLIDO=Lorca", "DOCUMENTO=30904465", "NACIMIENTO=1999-03-17", "NUMERO=7574"}
	tests := []struct {
		name    string
		setup   []machine
		file    string // relative to the case's folder unless absolute
		environ []string
		root    bool // the case cannot be made for root, who reads any file
		want    string
	}{
		{"a folder is no bets file", []machine{mkdir("agency-1")}, "agency-1", nil, false,
			`agency-1": is a directory, not a regular file: the agency reads its bets from it`},
		{"a missing bets file is refused at start", nil, "agency-1.csv", nil, false,
			`agency-1.csv": no such file: the agency reads its bets from it`},
		{"a device is no bets file", nil, "/dev/null", nil, false,
			`CLI_DATA_FILE="/dev/null": is a character device, not a regular file`},
		{"an unreadable bets file is refused at start", []machine{touch("agency-1.csv"), chmod("agency-1.csv", 0)}, "agency-1.csv", nil, true,
			`agency-1.csv": cannot be read (permission denied)`},
		{"a bets file under a file is refused, root or not", []machine{touch("agency-1.csv")}, "agency-1.csv/bets.csv", nil, false,
			`agency-1.csv/bets.csv": cannot be read (not a directory)`},
		{"a bets file that is a symlink to nowhere is refused", []machine{symlink("agency-1.csv", "gone.csv")}, "agency-1.csv", nil, false,
			`agency-1.csv": no such file`},
		{"a regular bets file is read", []machine{touch("agency-1.csv")}, "agency-1.csv", nil, false, ""},
		{"a symlink to a regular bets file is read", []machine{touch("real.csv"), symlink("agency-1.csv", "real.csv")}, "agency-1.csv", nil, false, ""},
		{"single-bet mode needs no bets file", nil, "agency-1.csv", single, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.root && os.Geteuid() == 0 {
				t.Skip("SKIP: root reads any file")
			}
			dir := t.TempDir()
			for _, m := range tt.setup {
				m(t, dir)
			}
			file := tt.file
			if !filepath.IsAbs(file) {
				file = filepath.Join(dir, file)
			}
			var c Client
			err := loadForStart(&c, writeFile(t, ""), append([]string{"CLI_ID=1", "CLI_DATA_FILE=" + file}, tt.environ...))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func chmod(name string, mode os.FileMode) machine {
	return func(t *testing.T, dir string) {
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTheFilesAreCheckedOnlyOnceTheValuesAreSound(t *testing.T) {
	t.Parallel()
	var c Client
	err := loadForStart(&c, writeFile(t, ""), []string{"CLI_ID=0", "CLI_DATA_FILE=" + t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `CLI_ID="0"`) || strings.Contains(err.Error(), "CLI_DATA_FILE") {
		t.Fatalf("got %v, want CLI_ID alone", err)
	}
}

func TestTheAdminEndpointCannotTakeTheAgenciesPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    string // "" when the settings load
	}{
		{"the same port on every address is refused", []string{"SERVER_PORT=12345", "SERVER_ADMIN_ADDRESS=127.0.0.1:12345"},
			`SERVER_ADMIN_ADDRESS="127.0.0.1:12345": the port of SERVER_PORT`},
		{"the same host and port are refused", []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=9000", "SERVER_ADMIN_ADDRESS=127.0.0.1:9000"},
			`the port of SERVER_PORT, which the agencies' listener takes: choose another (such as 9001)`},
		{"an admin address on all addresses with the agencies' port is refused", []string{"SERVER_IP=127.0.0.1", "SERVER_ADMIN_ADDRESS=:12345"},
			`SERVER_ADMIN_ADDRESS=":12345"`},
		{"the same port on two different addresses is fine", []string{"SERVER_IP=127.0.0.1", "SERVER_ADMIN_ADDRESS=127.0.0.2:12345"}, ""},
		{"the next port is fine", []string{"SERVER_ADMIN_ADDRESS=127.0.0.1:12346"}, ""},
		{"any free port for the agencies leaves the admin port alone", []string{"SERVER_PORT=0", "SERVER_ADMIN_ADDRESS=127.0.0.1:0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := load(&Server{}, writeFile(t, ""), tt.environ)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want it to say %q", err, tt.want)
			}
		})
	}
}

// The struct tag writes the default batch as a number: it must stay the
// protocol's cap, the most bets an 8 KiB frame holds.
func TestTheDefaultBatchIsTheProtocolsCap(t *testing.T) {
	t.Parallel()
	var c Client
	if err := load(&c, "", []string{"CLI_ID=1"}); err != nil {
		t.Fatal(err)
	}
	if c.BatchMaxAmount != protocol.MaxBatchCount || DefaultBatchMaxAmount != protocol.MaxBatchCount {
		t.Fatalf("CLI_BATCH_MAX_AMOUNT defaults to %d (DefaultBatchMaxAmount %d), the protocol's cap is %d", c.BatchMaxAmount, DefaultBatchMaxAmount, protocol.MaxBatchCount)
	}
}

// The settings check the CSV store's journal beside its bet file under
// the store's own name for it.
func TestTheJournalsNameIsTheStoresOwn(t *testing.T) {
	t.Parallel()
	if endsSuffix != csvfile.EndsSuffix {
		t.Fatalf("env checks %q beside the store, the store writes %q", endsSuffix, csvfile.EndsSuffix)
	}
}

func TestATimeZoneTheMachineCannotLoadIsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, tz string
		ok       bool
	}{
		{"no zone is the machine's own", "", true},
		{"a zone's name is known", "America/Argentina/Buenos_Aires", true},
		{"UTC is known", "UTC", true},
		{"a zone file's path is left to Go", ":/etc/localtime", true},
		{"a misspelt zone is refused", "Nowhere/Nothing", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := checkZone(tt.tz); (err == nil) != tt.ok {
				t.Fatalf("checkZone(%q) = %v", tt.tz, err)
			}
		})
	}
}
