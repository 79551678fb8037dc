// Command server is the lottery central. It only wires: configuration,
// logging, the store, and the supervised tree of package supervisor.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/store"
	"quiniela/store/csvfile"
	"quiniela/store/postgres"
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
	ln, admin, st, err := listenAndOpen(ctx, cfg, log)
	if err != nil {
		if ctx.Err() != nil { // stopped while standing by
			log.Info("shutdown", "result", "success")
			return 0
		}
		return 1
	}
	// A central that lost its lease to a standby is fenced: it stops
	// serving at once, and says so in its exit status.
	if pg, ok := st.(*postgres.Store); ok {
		go func() {
			select {
			case <-pg.Lost():
				cancel()
			case <-ctx.Done():
			}
		}()
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
	// SERVER_SHUTDOWN_TIMEOUT bounds the whole shutdown, from the signal
	// (or the tree's failure) to the store closed.
	var shutdownBy atomic.Pointer[time.Time]
	context.AfterFunc(ctx, func() { by := time.Now().Add(cfg.ShutdownTimeout); shutdownBy.CompareAndSwap(nil, &by) })
	serveErr := srv.Serve(ctx, ln)
	by := time.Now().Add(cfg.ShutdownTimeout)
	shutdownBy.CompareAndSwap(nil, &by)
	// The store outlives the tree: it is closed last, once no session can
	// append any more, in what is left of the bound (the tree takes at
	// most five sixths of it).
	closeCtx, cancelClose := context.WithDeadline(context.Background(), *shutdownBy.Load())
	defer cancelClose()
	if pg, ok := st.(*postgres.Store); ok && pg.LostErr() != nil {
		serveErr = errors.Join(serveErr, fmt.Errorf("lost the lease: %w", pg.LostErr()))
	}
	if err := errors.Join(serveErr, st.Close(closeCtx)); err != nil {
		log.Error("shutdown", "result", "fail", "error", err)
		return 1
	}
	log.Info("shutdown", "result", "success")
	return 0
}

// listenAndOpen takes the central's addresses (the admin endpoint's too,
// when set) and opens its store, logging what fails. The addresses come
// first: one that cannot be taken leaves no store behind, and agencies
// that come early wait in the accept queue while the store opens. A
// PostgreSQL central that has to stand by lets go of them while it waits
// (agencies must not find a central that does not answer) and takes them
// again once it holds the lease.
func listenAndOpen(ctx context.Context, cfg env.Server, log *slog.Logger) (ln, admin net.Listener, st store.Store, err error) {
	listen := func() error {
		if ln, err = supervisor.Listen(cfg.Address(), cfg.ListenBacklog); err != nil {
			log.Error("listen", "result", "fail", "address", cfg.Address(), "error", err)
			return err
		}
		if cfg.AdminAddress == "" {
			return nil
		}
		if admin, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
			ln.Close()
			log.Error("admin_listen", "result", "fail", "address", cfg.AdminAddress, "error", err)
		}
		return err
	}
	closeListeners := func() {
		ln.Close()
		if admin != nil {
			admin.Close()
		}
	}

	if err := listen(); err != nil {
		return nil, nil, nil, err
	}
	if cfg.StorageURL == "" {
		if st, err = csvfile.Open(cfg.StoragePath, log); err != nil {
			closeListeners()
			log.Error("open_store", "result", "fail", "path", cfg.StoragePath, "error", err)
			return nil, nil, nil, err
		}
		return ln, admin, st, nil
	}
	host, _ := os.Hostname()
	standingBy := false
	pg, err := postgres.Open(ctx, string(cfg.StorageURL), postgres.Options{
		Holder: fmt.Sprintf("%s/%d %s", host, os.Getpid(), cfg.Address()), Log: log,
		OnStandby: func() { closeListeners(); standingBy = true },
	})
	if err != nil {
		if !standingBy {
			closeListeners()
		}
		if ctx.Err() == nil {
			log.Error("open_store", "result", "fail", "url", cfg.StorageURL.String(), "error", err)
		}
		return nil, nil, nil, err
	}
	if standingBy {
		if err := listen(); err != nil {
			pg.Close(context.Background())
			return nil, nil, nil, err
		}
	}
	return ln, admin, pg, nil
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
