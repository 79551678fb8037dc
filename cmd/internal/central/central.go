// Package central runs the lottery central once its settings, logger and
// TLS files are ready: it takes its addresses and its store, serves the
// supervised tree until a signal, and shuts down in order; a PostgreSQL
// central that loses its lease to another one steps down and stands by
// again, so that the two stay a pair. cmd/server wires it.
package central

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/lottery/logattr"
	"quiniela/store"
	"quiniela/store/csvfile"
	"quiniela/store/postgres"
	"quiniela/supervisor"
)

// Run serves the central with the settings cfg (and tlsConfig, nil for
// plain TCP) until ctx ends, and returns the process's exit code: 0 after
// a clean shutdown, 1 after a failure. version names the build on
// /metrics and the status page.
func Run(ctx context.Context, cfg env.Server, tlsConfig *tls.Config, version string, log *slog.Logger) int {
	// A PostgreSQL central that loses its lease to another one steps down
	// and stands by again, so that the two stay a pair: each term is one
	// time active, until a signal, or a failure of its own.
	for term := 1; ; term++ {
		code, stepDown := serveTerm(ctx, cfg, log, tlsConfig, version, term > 1)
		if !stepDown {
			return code
		}
		if ctx.Err() != nil { // stopped while stepping down
			log.Info(logattr.Shutdown, logattr.ResultKey, logattr.Success)
			return 0
		}
	}
}

// serveTerm takes the central's addresses and its store (standing by
// first, for a PostgreSQL store another central holds) and serves until a
// signal, or until it loses the store's lease: then it stops serving,
// drops its listeners, and reports stepDown, so that the caller stands by
// again. again says the central has stood by before: it listens only once
// active, and waits for a database that went away.
func serveTerm(ctx context.Context, cfg env.Server, log *slog.Logger, tlsConfig *tls.Config, version string, again bool) (code int, stepDown bool) {
	termCtx, endTerm := context.WithCancel(ctx)
	defer endTerm()
	ln, admin, stores, err := listenAndOpen(ctx, cfg, log, again)
	if err != nil {
		if ctx.Err() != nil { // stopped while standing by
			log.Info(logattr.Shutdown, logattr.ResultKey, logattr.Success)
			return 0, false
		}
		return 1, false
	}
	// A central that lost its lease to another one is fenced: it stops
	// serving at once.
	pg := stores.pg
	if pg != nil {
		go func() {
			select {
			case <-pg.Lost():
				endTerm()
			case <-termCtx.Done():
			}
		}()
	}
	scfg := supervisor.Config{
		Agencies:        cfg.Agencies,
		FrameTimeout:    cfg.FrameTimeout,
		ShutdownTimeout: cfg.ShutdownTimeout,
		IdleTimeout:     cfg.IdleTimeout,
		MaxConnections:  cfg.MaxConnections,
		TLS:             tlsConfig,
		PeerAgency:      tlsfiles.PeerAgency,
		Admin:           admin,
		Version:         version,
		Store:           cmp.Or(cfg.StorageURL.String(), cfg.StoragePath),
		Closing:         supervisor.Closing(cfg.ClosingTime),
	}
	srv := supervisor.New(scfg, stores.one, log)
	if stores.rounds != nil {
		srv = supervisor.NewContinuous(scfg, stores.rounds, log)
	}
	// SERVER_SHUTDOWN_TIMEOUT bounds the whole shutdown, from the signal
	// (or the tree's failure, or the lease's loss) to the store closed.
	var shutdownBy atomic.Pointer[time.Time]
	context.AfterFunc(termCtx, func() { by := time.Now().Add(cfg.ShutdownTimeout); shutdownBy.CompareAndSwap(nil, &by) })
	serveErr := srv.Serve(termCtx, ln)
	by := time.Now().Add(cfg.ShutdownTimeout)
	shutdownBy.CompareAndSwap(nil, &by)
	// The store outlives the tree: it is closed last, once no session can
	// append any more, in what is left of the bound (the tree takes at
	// most five sixths of it).
	closeCtx, cancelClose := context.WithDeadline(context.Background(), *shutdownBy.Load())
	defer cancelClose()
	closeErr := stores.Close(closeCtx)
	if pg != nil && (pg.LostErr() != nil || ctx.Err() == nil && postgres.IsUnavailable(serveErr)) {
		// Another central took the lease (or the database went away while
		// this one read the round back). What this central could not
		// store was refused or answered in doubt, so its agencies go on
		// with the other one: a lost lease is the pair working, not a
		// failed shutdown, even when a signal comes while this central
		// steps down (its writer stuck on a frozen database until its
		// bound, say).
		reason := serveErr
		if pg.LostErr() != nil {
			reason = fmt.Errorf("lost the lease: %w", pg.LostErr())
		}
		if ctx.Err() != nil {
			log.Info(logattr.Shutdown, logattr.ResultKey, logattr.Success, logattr.EpochKey, pg.Epoch(), "lease", reason.Error())
			return 0, false
		}
		// Stand by again. The store must be closed first; past the bound,
		// its own timeouts bound the wait (a transaction in hand, a commit
		// being read back, which ends as soon as the store closes).
		if closeErr != nil {
			pg.Close(context.Background())
		}
		log.Warn(logattr.StepDown, logattr.ResultKey, logattr.Success, logattr.EpochKey, pg.Epoch(), logattr.ReasonKey, reason)
		return 1, true
	}
	if err := errors.Join(serveErr, closeErr); err != nil {
		log.Error(logattr.Shutdown, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return 1, false
	}
	log.Info(logattr.Shutdown, logattr.ResultKey, logattr.Success)
	return 0, false
}

// listenAndOpen takes the central's addresses (the admin endpoint's too,
// when set) and opens its store, logging what fails. The addresses come
// first: one that cannot be taken leaves no store behind, and agencies
// that come early wait in the accept queue while the store opens. A
// PostgreSQL central that has to stand by lets go of them while it waits
// (agencies must not find a central that does not answer) and takes them
// again once it holds the lease. again (a central that lost its lease and
// stands by again) opens the store first, and waits for its database even
// if it does not answer at once: the URL is known to be right.
func listenAndOpen(ctx context.Context, cfg env.Server, log *slog.Logger, again bool) (ln, admin net.Listener, stores opened, err error) {
	listen := func() error {
		if ln, err = supervisor.Listen(cfg.Address(), cfg.ListenBacklog); err != nil {
			log.Error(logattr.Listen, logattr.ResultKey, logattr.Fail, logattr.Addr("", cfg.Address()), logattr.ErrorKey, err)
			return err
		}
		if cfg.AdminAddress == "" {
			return nil
		}
		if admin, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
			ln.Close()
			log.Error(logattr.AdminListen, logattr.ResultKey, logattr.Fail, logattr.Addr("", cfg.AdminAddress), logattr.ErrorKey, err)
		}
		return err
	}
	listening := false
	closeListeners := func() {
		if !listening {
			return
		}
		listening = false
		ln.Close()
		if admin != nil {
			admin.Close()
		}
	}

	if !again {
		if err := listen(); err != nil {
			return nil, nil, opened{}, err
		}
		listening = true
	}
	if cfg.StorageURL == "" {
		if stores, err = openFile(cfg, log); err != nil {
			closeListeners()
			return nil, nil, opened{}, err
		}
		return ln, admin, stores, nil
	}
	host, _ := os.Hostname()
	pg, err := postgres.Open(ctx, string(cfg.StorageURL), postgres.Options{
		Holder: fmt.Sprintf("%s/%d %s", host, os.Getpid(), cfg.Address()), Log: log,
		OnStandby:       closeListeners,
		WaitForDatabase: again,
	})
	if err != nil {
		closeListeners()
		if ctx.Err() == nil {
			log.Error(logattr.OpenStore, logattr.ResultKey, logattr.Fail, "storage_url", logattr.DatabaseURL(string(cfg.StorageURL)), logattr.ErrorKey, err)
		}
		return nil, nil, opened{}, err
	}
	if !listening {
		if err := listen(); err != nil {
			pg.Close(context.Background())
			return nil, nil, opened{}, err
		}
	}
	stores = opened{one: pg, pg: pg}
	if cfg.Rounds == env.RoundsContinuous {
		stores.rounds = pg
	} else if err := oneRoundOnly(pg); err != nil {
		log.Error(logattr.OpenStore, logattr.ResultKey, logattr.Fail, "storage_url", logattr.DatabaseURL(string(cfg.StorageURL)), logattr.ErrorKey, err)
		pg.Close(context.Background())
		closeListeners()
		return nil, nil, opened{}, err
	}
	return ln, admin, stores, nil
}

// oneRoundOnly refuses a store of continuous rounds (round 2 or later in
// it) to a central of one round per store: it would serve round 1, drawn
// long ago, and leave the later rounds unread.
func oneRoundOnly(rounds interface{ Latest() (int, error) }) error {
	latest, err := rounds.Latest()
	if err != nil {
		return err
	}
	if latest > 1 {
		return fmt.Errorf("the store holds continuous rounds, up to round %d: run the central with SERVER_ROUNDS=continuous to carry on round %d, or give it a store of its own for one round", latest, latest)
	}
	return nil
}

// opened is the central's store: one round's (one), or continuous rounds'
// (rounds); pg is the PostgreSQL store behind either, if it is one.
type opened struct {
	one    store.Store
	rounds store.Rounds
	pg     *postgres.Store
}

// Close closes the store last, once nothing can append any more.
func (o opened) Close(ctx context.Context) error {
	if o.rounds != nil {
		return o.rounds.Close(ctx)
	}
	return o.one.Close(ctx)
}

// openFile opens the CSV store: the file at STORAGE_FILEPATH, or with
// continuous rounds the rounds kept there and beside it, opening the
// newest now so that a store that cannot be opened fails the start, with
// its hint, as the single file does.
func openFile(cfg env.Server, log *slog.Logger) (opened, error) {
	if cfg.Rounds != env.RoundsContinuous {
		if err := oneRoundOnly(csvfile.OpenRounds(cfg.StoragePath, log)); err != nil {
			log.Error(logattr.OpenStore, openStoreFailure(cfg.StoragePath, err)...)
			return opened{}, err
		}
		st, err := csvfile.Open(cfg.StoragePath, log)
		if err != nil {
			log.Error(logattr.OpenStore, openStoreFailure(cfg.StoragePath, err)...)
			return opened{}, err
		}
		return opened{one: st}, nil
	}
	rounds := csvfile.OpenRounds(cfg.StoragePath, log)
	latest, err := rounds.Latest()
	path := csvfile.RoundPath(cfg.StoragePath, latest)
	if err == nil {
		_, err = rounds.Round(latest)
	}
	if err != nil {
		log.Error(logattr.OpenStore, openStoreFailure(path, err)...)
		return opened{}, err
	}
	return opened{rounds: rounds}, nil
}
