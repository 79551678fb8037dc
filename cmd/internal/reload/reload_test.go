package reload

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
)

// central is a reloader whose settings are next, whose lines go to out.
type central struct {
	*Central
	level *slog.LevelVar
	log   *slog.Logger
	out   *syncBuffer
	next  env.Server
	err   error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the lines written since the last call.
func (s *syncBuffer) lines() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

func newCentral(t *testing.T, cfg env.Server, tls *tlsfiles.Rotating) *central {
	t.Helper()
	c := &central{level: new(slog.LevelVar), out: &syncBuffer{}, next: cfg}
	c.level.Set(slog.Level(cfg.LogLevel))
	c.log = slog.New(logline.New(c.out, c.level))
	c.Central = New(cfg, func() (env.Server, error) { return c.next, c.err }, c.log, c.level, tls)
	return c
}

func (c *central) reload(t *testing.T, wantLine string) {
	t.Helper()
	c.Reload()
	if got := c.out.lines(); !strings.Contains(got, wantLine) {
		t.Fatalf("reload logged\n%s\nwant a line with %q", got, wantLine)
	}
}

func settings() env.Server {
	return env.Server{IP: "127.0.0.1", Port: 4000, LogLevel: env.Level(slog.LevelInfo), Agencies: 5}
}

func TestTheLogLevelChangesEitherWayAndTheLineShows(t *testing.T) {
	t.Parallel()
	c := newCentral(t, settings(), nil)
	c.reload(t, "INFO     action: reload | result: success | changed: none | restart_needed: none | logging_level: INFO | tls_certificate_expires: none")
	c.next.LogLevel = env.Level(slog.LevelDebug)
	c.reload(t, "action: reload | result: success | changed: logging_level | restart_needed: none | logging_level: DEBUG")
	if !c.log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("DEBUG is not logged after the reload to DEBUG")
	}
	// Up to ERROR: the line still shows, and INFO no longer does.
	c.next.LogLevel = env.Level(slog.LevelError)
	c.reload(t, "action: reload | result: success | changed: logging_level | restart_needed: none | logging_level: ERROR")
	if c.log.Enabled(t.Context(), slog.LevelWarn) {
		t.Fatal("WARNING is logged after the reload to ERROR")
	}
}

func TestASettingThatNeedsARestartIsNamedAndNotApplied(t *testing.T) {
	t.Parallel()
	c := newCentral(t, settings(), nil)
	c.next.Port, c.next.Agencies, c.next.LogLevel = 4001, 6, env.Level(slog.LevelDebug)
	c.reload(t, "WARNING  action: reload | result: success | changed: logging_level | restart_needed: SERVER_PORT,AGENCIES | logging_level: DEBUG")
	// Not applied: named again by the next reload, and the level is not.
	c.reload(t, "WARNING  action: reload | result: success | changed: none | restart_needed: SERVER_PORT,AGENCIES")
	c.next.Port, c.next.Agencies = 4000, 5
	c.reload(t, "INFO     action: reload | result: success | changed: none | restart_needed: none")
}

func TestSettingsThatDoNotLoadChangeNothing(t *testing.T) {
	t.Parallel()
	c := newCentral(t, settings(), nil)
	c.next.LogLevel = env.Level(slog.LevelDebug)
	c.err = errors.New(`configuration (environment) - LOGGING_LEVEL="LOUD"`)
	c.reload(t, `ERROR    action: reload | result: fail | error: configuration (environment) - LOGGING_LEVEL="LOUD"`)
	if c.log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("a failed reload changed the level")
	}
}

func TestAPlainCentralTakesTLSOnlyAtARestart(t *testing.T) {
	t.Parallel()
	c := newCentral(t, settings(), nil)
	c.next.TLSCert, c.next.TLSKey, c.next.TLSClientCA = "s.crt", "s.key", "ca.crt"
	c.reload(t, "WARNING  action: reload | result: success | changed: none | restart_needed: SERVER_TLS_CERT,SERVER_TLS_KEY,SERVER_TLS_CLIENT_CA")
}

func TestATLSCentralRotatesItsFilesOrKeepsThemAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := tlsfiles.Generate(dir, 1, ""); err != nil {
		t.Fatal(err)
	}
	cfg := settings()
	cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"), filepath.Join(dir, "ca.crt")
	files, err := tlsfiles.NewRotating(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA)
	if err != nil {
		t.Fatal(err)
	}
	c := newCentral(t, cfg, files)
	if err := tlsfiles.Generate(dir, 1, ""); err != nil {
		t.Fatal(err)
	}
	c.reload(t, "INFO     action: reload | result: success | changed: tls_certificate,tls_client_ca | restart_needed: none | logging_level: INFO | tls_certificate_expires: ")

	// A broken key fails the whole reload: the level is not applied either.
	if err := os.WriteFile(cfg.TLSKey, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.next.LogLevel = env.Level(slog.LevelDebug)
	c.reload(t, "ERROR    action: reload | result: fail | error: loading the central's certificate")
	if c.log.Enabled(t.Context(), slog.LevelDebug) {
		t.Fatal("a failed reload changed the level")
	}

	// Settings without TLS: a TLS central stays one until a restart.
	c.next = settings()
	c.reload(t, "WARNING  action: reload | result: success | changed: none | restart_needed: SERVER_TLS_CERT,SERVER_TLS_KEY,SERVER_TLS_CLIENT_CA")
}
