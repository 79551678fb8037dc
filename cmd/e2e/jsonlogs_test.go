package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
)

// jsonLine is one line of a binary's output, decoded with its numbers
// kept as written.
type jsonLine map[string]any

// decodeJSONLines decodes every line of out, failing the test on one that
// is not a JSON object with a string action, result, level and time, or
// whose result is not one of the contract's three. A value that is a
// number written as a string fails too (a pipeline would read it as
// text), except documents and the single-bet settings, which are text.
func decodeJSONLines(t *testing.T, who, out string) []jsonLine {
	t.Helper()
	var lines []jsonLine
	for _, raw := range strings.Split(strings.TrimSpace(out), "\n") {
		if raw == "" {
			continue
		}
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		var l jsonLine
		if err := d.Decode(&l); err != nil {
			t.Errorf("%s: not a JSON line (%v): %s", who, err, raw)
			continue
		}
		for _, k := range []string{"action", "result", "level", "time"} {
			if s, ok := l[k].(string); !ok || s == "" {
				t.Errorf("%s: no %s in %s", who, k, raw)
			}
		}
		switch l["result"] {
		case "success", "fail", "in_progress":
		default:
			t.Errorf("%s: result %v in %s", who, l["result"], raw)
		}
		for k, v := range l {
			s, isText := v.(string)
			if _, err := strconv.ParseFloat(s, 64); isText && err == nil && !textual[k] {
				t.Errorf("%s: %s is the number %s written as text in %s", who, k, s, raw)
			}
		}
		lines = append(lines, l)
	}
	return lines
}

// textual are the keys whose values are text even when they are digits.
var textual = map[string]bool{"dni": true, "documento": true, "numero": true}

// wantNumbers fails the test unless the first line of action in lines has
// each of keys, as a JSON number.
func wantNumbers(t *testing.T, who string, lines []jsonLine, action string, keys ...string) {
	t.Helper()
	for _, l := range lines {
		if l["action"] != action {
			continue
		}
		for _, k := range keys {
			if _, ok := l[k].(json.Number); !ok {
				t.Errorf("%s: %s's %s is %#v, want a JSON number", who, action, k, l[k])
			}
		}
		return
	}
	t.Errorf("%s: no %s line", who, action)
}

func TestEveryLineOfAWholeRoundIsJSONWithLogFormatJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	proctest.CourseFile(t, filepath.Join(dir, "agency-1.csv"), 130, 3, 77)
	server := proctest.Start(t, bins["server"], dir, "LOG_FORMAT=json", "LOGGING_LEVEL=DEBUG", "AGENCIES=2",
		"SERVER_IP=127.0.0.1", "SERVER_PORT=0", "SERVER_ADMIN_ADDRESS=127.0.0.1:0", "STORAGE_FILEPATH="+filepath.Join(dir, "bets.csv"))
	listen := decodeJSONLines(t, "server", server.WaitFor(t, `"action":"listen","result":"success"`))
	if len(listen) != 1 {
		t.Fatal("no listen line to read the central's address from")
	}
	addr := net.JoinHostPort(fmt.Sprint(listen[0]["ip"]), fmt.Sprint(listen[0]["port"]))

	check := exec.Command(bins["healthcheck"], "--env-file", os.DevNull)
	check.Env = []string{"LOG_FORMAT=json", "HEALTHCHECK_ADDRESS=" + addr}
	checkOut, err := check.Output()
	if err != nil {
		t.Fatalf("healthcheck: %v\n%s", err, checkOut)
	}
	file := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "LOG_FORMAT=json", "CLI_DATA_FILE="+filepath.Join(dir, "agency-1.csv"), "CLI_BATCH_MAX_AMOUNT=50")...)
	single := proctest.Start(t, bins["client"], dir, clientEnv(2, addr, "LOG_FORMAT=json",
		"NOMBRE=Santiago Lionel", "APELLIDO=Lorca", "DOCUMENTO=30904465", "NACIMIENTO=1999-03-17", "NUMERO=7574")...)
	for _, c := range []*proctest.Process{file, single} {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("an agency exited %d:\n%s", code, c.Log())
		}
	}
	server.WaitFor(t, `"action":"sorteo","result":"success"`)
	server.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := server.Wait(t, time.Minute); code != 0 {
		t.Fatalf("the central exited %d:\n%s", code, server.Log())
	}

	serverLines := decodeJSONLines(t, "server", server.Log())
	wantNumbers(t, "server", serverLines, "config", "server_port", "server_max_connections", "agencies", "server_frame_timeout_ms", "server_shutdown_timeout_ms")
	wantNumbers(t, "server", serverLines, "listen", "port", "max_connections")
	wantNumbers(t, "server", serverLines, "admin_listen", "port")
	wantNumbers(t, "server", serverLines, "apuesta_almacenada", "numero")
	wantNumbers(t, "server", serverLines, "apuesta_recibida", "cantidad", "agency", "peer_port")
	wantNumbers(t, "server", serverLines, "consulta_ganadores", "cant_ganadores")
	wantNumbers(t, "server", serverLines, "close_connection", "agency", "peer_port")
	wantNumbers(t, "server", serverLines, "close_listener", "port")
	for _, l := range serverLines {
		if l["action"] == "apuesta_almacenada" && l["dni"] == nil {
			t.Errorf("server: a stored bet without its dni: %v", l)
		}
	}

	fileLines := decodeJSONLines(t, "agency 1", file.Log())
	wantNumbers(t, "agency 1", fileLines, "config", "cli_id", "cli_batch_max_amount", "cli_io_timeout_ms")
	wantNumbers(t, "agency 1", fileLines, "connect", "port", "attempts")
	wantNumbers(t, "agency 1", fileLines, "consulta_ganadores", "cant_ganadores")
	wantNumbers(t, "agency 1", fileLines, "resumen", "enviadas", "latencia_p50_ms", "latencia_p99_ms")
	for _, l := range fileLines {
		if l["action"] == "consulta_ganadores" && l["cant_ganadores"] != json.Number("2") {
			t.Errorf("agency 1: %v, want 2 winners", l)
		}
	}
	singleLines := decodeJSONLines(t, "agency 2", single.Log())
	wantNumbers(t, "agency 2", singleLines, "apuesta_enviada", "numero")
	wantNumbers(t, "healthcheck", decodeJSONLines(t, "healthcheck", string(checkOut)), "test_echo_server", "port")
}

func TestAConfigFailureIsJSONWithLogFormatJSON(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	envFile := filepath.Join(dir, "json.env")
	if err := os.WriteFile(envFile, []byte("LOG_FORMAT=json\nSERVER_PORT=many\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		bin    string
		args   []string // after --env-file FILE
		file   string   // the --env-file; "" for none at all
		env    []string
		course bool   // the line is the course's, not JSON
		says   string // the error names this
	}{
		{"a central with a malformed port", "server", nil, os.DevNull, []string{"LOG_FORMAT=json", "SERVER_PORT=many"}, false, `SERVER_PORT=\"many\"`},
		{"an agency without its number", "client", nil, os.DevNull, []string{"LOG_FORMAT=json"}, false, "CLI_ID: required and not set"},
		{"a health check with no port", "healthcheck", nil, os.DevNull, []string{"LOG_FORMAT=json", "HEALTHCHECK_ADDRESS=nowhere"}, false, "HEALTHCHECK_ADDRESS"},
		{"a word left after the flags", "server", []string{"127.0.0.1"}, os.DevNull, []string{"LOG_FORMAT=json"}, false, `unexpected argument \"127.0.0.1\"`},
		{"the format asked for in the settings file, beside a bad key", "server", nil, envFile, nil, false, `SERVER_PORT=\"many\"`},
		{"a settings file that cannot be read, the format from the environment", "client", nil, filepath.Join(dir, "missing.env"), []string{"LOG_FORMAT=json"}, false, "missing.env"},
		{"an unknown format is the course's lines, and says so", "server", nil, os.DevNull, []string{"LOG_FORMAT=xml"}, true, "until then every binary logs in the course format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(bins[tt.bin], append([]string{"--env-file", tt.file}, tt.args...)...)
			cmd.Dir = dir
			cmd.Env = append([]string{proctest.RaceNoExitSleep}, tt.env...)
			var stdout bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
			err := cmd.Run()
			if exit, ok := err.(*exec.ExitError); !ok || exit.ExitCode() != 2 {
				t.Fatalf("%s: %v, want exit 2\n%s", tt.bin, err, stdout.String())
			}
			out := strings.TrimSpace(stdout.String())
			if strings.Count(out, "\n") != 0 {
				t.Fatalf("want one line, got:\n%s", out)
			}
			if !strings.Contains(out, tt.says) {
				t.Errorf("the line does not say %s:\n%s", tt.says, out)
			}
			if tt.course {
				if l, err := logline.Parse(out); err != nil || l.Action != "config" || l.Result != "fail" {
					t.Fatalf("not the course's config fail line (%v): %s", err, out)
				}
				return
			}
			lines := decodeJSONLines(t, tt.bin, out)
			if len(lines) != 1 || lines[0]["action"] != "config" || lines[0]["result"] != "fail" || lines[0]["level"] != "ERROR" {
				t.Fatalf("not the JSON config fail line: %s", out)
			}
		})
	}
}
