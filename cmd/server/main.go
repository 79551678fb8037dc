// Command server is the lottery central. It only wires: configuration,
// logging, the store, and the supervised tree of package supervisor.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/store/csvfile"
	"quiniela/supervisor"
)

func main() {
	os.Exit(run())
}

func run() int {
	envFile := cli.Parse("server: the lottery central (SPEC §1). Stop it with SIGTERM or SIGINT.", &env.Server{})

	cfg, err := env.LoadServer(envFile)
	if err != nil {
		slog.New(logline.New(os.Stdout, slog.LevelInfo)).Error("config", "result", "fail", "error", err)
		return 2
	}
	log := cli.Logger(cfg.LogFormat, slog.Level(cfg.LogLevel))
	log.Info("config", append([]any{"result", "success"}, env.Attrs(cfg)...)...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go onSignals(log, cancel)

	var tlsConfig *tls.Config
	if cfg.TLS() {
		if tlsConfig, err = tlsfiles.Server(cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA); err != nil {
			log.Error("config", "result", "fail", "error", err)
			return 2
		}
	}
	// The address first: one that cannot be taken leaves no store behind.
	ln, err := supervisor.Listen(cfg.Address(), cfg.ListenBacklog)
	if err != nil {
		log.Error("listen", "result", "fail", "address", cfg.Address(), "error", err)
		return 1
	}
	var admin net.Listener
	if cfg.AdminAddress != "" {
		if admin, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
			ln.Close()
			log.Error("admin_listen", "result", "fail", "address", cfg.AdminAddress, "error", err)
			return 1
		}
	}
	st, err := csvfile.Open(cfg.StoragePath, log)
	if err != nil {
		ln.Close()
		if admin != nil {
			admin.Close()
		}
		log.Error("open_store", "result", "fail", "path", cfg.StoragePath, "error", err)
		return 1
	}
	srv := supervisor.New(supervisor.Config{
		Agencies:        cfg.Agencies,
		FrameTimeout:    cfg.FrameTimeout,
		ShutdownTimeout: cfg.ShutdownTimeout,
		IdleTimeout:     cfg.IdleTimeout,
		MaxConnections:  cfg.MaxConnections,
		TLS:             tlsConfig,
		PeerAgency:      tlsfiles.PeerAgency,
		Admin:           admin,
	}, st, log)
	serveErr := srv.Serve(ctx, ln)
	// The store outlives the tree: it is closed last, once no session can
	// append any more, within its own bound.
	closeCtx, cancelClose := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancelClose()
	if err := errors.Join(serveErr, st.Close(closeCtx)); err != nil {
		log.Error("shutdown", "result", "fail", "error", err)
		return 1
	}
	log.Info("shutdown", "result", "success")
	return 0
}

// onSignals cancels ctx on the first SIGTERM or SIGINT and exits at once,
// with a non-zero code, on the second.
func onSignals(log *slog.Logger, cancel context.CancelFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	sig := <-sigs
	log.Info("shutdown", "result", "in_progress", "signal", sig.String())
	cancel()
	sig = <-sigs
	log.Error("shutdown", "result", "fail", "signal", sig.String(), "error", "second signal: exiting at once")
	os.Exit(130)
}
