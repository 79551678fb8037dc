package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"quiniela/cmd/internal/proctest"
	"quiniela/env"
)

func TestEveryBinaryHasVersionAndHelpListingItsSettings(t *testing.T) {
	t.Parallel()
	settings := map[string]any{"server": &env.Server{}, "client": &env.Client{}, "healthcheck": &env.Healthcheck{}, "datagen": nil, "certs": nil, "status": nil}
	for name, cfg := range settings {
		out, err := exec.Command(bins[name], "--version").CombinedOutput()
		if err != nil || !strings.Contains(string(out), name) || len(strings.Fields(string(out))) < 2 {
			t.Errorf("%s --version: %v %q", name, err, out)
		}
		out, err = exec.Command(bins[name], "-h").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "-version") {
			t.Errorf("%s -h: %v\n%s", name, err, out)
			continue
		}
		if cfg == nil {
			continue
		}
		for _, s := range env.Settings(cfg) {
			line := ""
			for _, l := range strings.Split(string(out), "\n") {
				if f := strings.Fields(l); len(f) > 0 && f[0] == s.Key {
					line = l
				}
			}
			def := s.Default
			if def == "" {
				def = "(unset)"
			}
			if line == "" || !strings.Contains(line, def) || !strings.Contains(line, s.Help) || s.Help == "" {
				t.Errorf("%s -h does not give %s with its default %q and meaning:\n%s", name, s.Key, def, out)
			}
		}
	}
}

func TestJSONLogsCarryTheSameKeys(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(bins["healthcheck"], "--env-file", "/dev/null")
	cmd.Env = []string{"LOG_FORMAT=json", "HEALTHCHECK_ADDRESS=127.0.0.1:" + proctest.FreePort(t), "HEALTHCHECK_TIMEOUT=300ms"}
	out, _ := cmd.Output()
	var line map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &line); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, out)
	}
	if line["action"] != "test_echo_server" || line["result"] != "fail" || line["level"] != "ERROR" || line["host"] != "127.0.0.1" || line["port"] == nil || line["time"] == nil {
		t.Fatalf("got %v", line)
	}
	bad := exec.Command(bins["client"], "--env-file", "/dev/null")
	bad.Env = []string{"CLI_ID=1", "LOG_FORMAT=xml"}
	if out, err := bad.Output(); err == nil || !strings.Contains(string(out), `LOG_FORMAT="xml" - want course or json`) {
		t.Fatalf("an unknown log format: %v\n%s", err, out)
	}
}
