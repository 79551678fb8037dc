// Package reload applies a running central's settings anew, as SIGHUP asks
// (after nats-server's and PostgreSQL's reloads): what can change while the
// central serves, its log level and its TLS files (certificate rotation),
// is applied; a setting that changed but takes effect only at a restart is
// named and left as it is; settings or files that do not load leave
// everything in force. It is wiring for cmd/server.
package reload

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/lottery/logattr"
)

// Central reloads one central's settings.
type Central struct {
	load  func() (env.Server, error)
	log   *slog.Logger
	level *slog.LevelVar
	tls   *tlsfiles.Rotating // nil: a plain central

	mu  sync.Mutex
	cfg env.Server // the settings in force
}

// New returns the reloader of a central started with cfg, whose logger
// log writes at level and whose TLS files are tls (nil for a plain
// central). load reads the settings the way the central read them at
// start.
func New(cfg env.Server, load func() (env.Server, error), log *slog.Logger, level *slog.LevelVar, tls *tlsfiles.Rotating) *Central {
	return &Central{load: load, log: log, level: level, tls: tls, cfg: cfg}
}

// tlsKeys are the settings of the TLS files: a TLS central reads its files
// again from them, a plain one takes them only at a restart (it does not
// change from plain TCP to TLS, nor back, while agencies are connected).
var tlsKeys = []string{"SERVER_TLS_CERT", "SERVER_TLS_KEY", "SERVER_TLS_CLIENT_CA"}

// Reload reads the settings again and applies them, all or none, logging
// the outcome: `action: reload | result: fail` with the cause, nothing
// changed; or `result: success` with what changed (changed), the settings
// that changed but wait for a restart (restart_needed; the line is then a
// WARNING), the log level in force and the day the central's certificate
// expires.
func (c *Central) Reload() {
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := c.load()
	if err != nil {
		c.log.Error(logattr.Reload, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return
	}
	applied := c.cfg
	var changed, restart []string
	rotate := c.tls != nil && next.TLS()
	if rotate {
		change, err := c.tls.Reload(next.TLSCert, next.TLSKey, next.TLSClientCA)
		if err != nil {
			c.log.Error(logattr.Reload, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
			return
		}
		applied.TLSCert, applied.TLSKey, applied.TLSClientCA = next.TLSCert, next.TLSKey, next.TLSClientCA
		if change.Certificate {
			changed = append(changed, "tls_certificate")
		}
		if change.ClientCA {
			changed = append(changed, "tls_client_ca")
		}
	}
	for _, key := range env.Changed(c.cfg, next) {
		switch {
		case key == "LOGGING_LEVEL":
			changed = append([]string{"logging_level"}, changed...)
		case rotate && slices.Contains(tlsKeys, key):
		default:
			restart = append(restart, key)
		}
	}
	applied.LogLevel = next.LogLevel
	c.cfg = applied

	// The line is written at the more verbose of the two levels, so that
	// it shows whichever way the level went.
	now := slog.Level(next.LogLevel)
	c.level.Set(min(c.level.Level(), now))
	defer c.level.Set(now)
	lineLevel := slog.LevelInfo
	if len(restart) > 0 {
		lineLevel = slog.LevelWarn
	}
	expires := "none"
	if c.tls != nil {
		expires = c.tls.NotAfter().UTC().Format(time.DateOnly)
	}
	c.log.Log(context.Background(), lineLevel, logattr.Reload, logattr.ResultKey, logattr.Success,
		"changed", list(changed), "restart_needed", list(restart),
		"logging_level", next.LogLevel.String(), "tls_certificate_expires", expires)
}

// list is names joined by commas, or none.
func list(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ",")
}
