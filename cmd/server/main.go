// Command server is the lottery central. It only wires: configuration,
// logging, the TLS files, the signals and SIGHUP's reload; package
// central (cmd/internal/central) runs the central itself.
package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // a daily closing time is read in TZ, in an image with no zone database too

	"quiniela/cmd/internal/central"
	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/reload"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/lottery/logattr"
)

func main() {
	os.Exit(run())
}

func run() int {
	defer cli.Profile()()
	envFile := cli.Parse("server: the lottery central, which stores the agencies' bets and runs the draw. Stop it with SIGTERM or SIGINT; SIGHUP reloads its log level and TLS files.", &env.Server{})

	cfg, err := env.LoadServer(envFile)
	if err != nil {
		cli.ConfigFailed(envFile, err)
		return 2
	}
	level := new(slog.LevelVar) // SIGHUP may change it
	level.Set(slog.Level(cfg.LogLevel))
	// A line per batch stored: written together, a millisecond at most
	// after they are logged, and every one before the central exits.
	stdout := logline.NewBuffered(os.Stdout)
	defer stdout.Flush()
	log := cli.LoggerTo(stdout, cfg.LogFormat, level)
	cli.LogConfig(log, cfg)

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		tlsFiles  *tlsfiles.Rotating
		tlsConfig *tls.Config
	)
	if cfg.TLS() {
		if tlsFiles, err = tlsfiles.NewRotating(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA); err != nil {
			log.Error(logattr.Config, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
			return 2
		}
		tlsConfig = tlsFiles.Config()
	}
	reloader := reload.New(cfg, func() (env.Server, error) { return env.LoadServer(envFile) }, log, level, tlsFiles)
	go onSignals(log, stdout, sigs, cancel, reloader.Reload)
	return central.Run(ctx, cfg, tlsConfig, cli.Version(), log)
}

// onSignals reloads the settings on every SIGHUP, whether the central
// serves, stands by or shuts down; it cancels ctx on the first SIGTERM or
// SIGINT and exits at once, with a non-zero code, on the second.
func onSignals(log *slog.Logger, stdout *logline.Buffered, sigs <-chan os.Signal, cancel context.CancelFunc, reload func()) {
	stopping := false
	for sig := range sigs {
		switch {
		case sig == syscall.SIGHUP:
			reload()
		case !stopping:
			stopping = true
			log.Info(logattr.Shutdown, logattr.ResultKey, logattr.InProgress, logattr.SignalKey, sig.String())
			cancel()
		default:
			log.Error(logattr.Shutdown, logattr.ResultKey, logattr.Fail, logattr.SignalKey, sig.String(), logattr.ErrorKey, "second signal: exiting at once")
			stdout.Flush()
			os.Exit(130)
		}
	}
}
