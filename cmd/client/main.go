// Command client is one betting agency. It only wires: configuration,
// logging, and the round of package agency.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"quiniela/agency"
	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/lottery/logattr"
)

func main() {
	// An agency is one stream of batches, read, sent and acknowledged in
	// turn: a second processor only adds threads spinning for work, which
	// cost a round of 100 agencies on two cores about 5 % of its time. A
	// GOMAXPROCS of the environment is kept.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(1)
	}
	os.Exit(run())
}

func run() int {
	defer cli.Profile()()
	envFile := cli.Parse("client: one betting agency: sends its bets, ends, and asks for its winners.", &env.Client{})

	cfg, err := env.LoadClient(envFile)
	if err != nil {
		cli.ConfigFailed(envFile, err)
		return 2
	}
	log := cli.Logger(cfg.LogFormat, slog.Level(cfg.LogLevel))
	cli.LogConfig(log, cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	var tlsConfig *tls.Config
	if cfg.TLS() {
		if tlsConfig, err = tlsfiles.Client(cfg.TLSCert, cfg.TLSKey, cfg.TLSCA); err != nil {
			log.Error(logattr.Config, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
			return 2
		}
	}
	single, ok := cfg.SingleBet()
	if !ok {
		single = nil
	}
	// On a terminal, the agency's progress is a status line below its log.
	status := newStatusLine(cfg.DataFile)
	log = status.logger(log)
	a := agency.New(agency.Config{
		ID:              uint16(cfg.ID),
		ServerAddresses: cfg.ServerAddresses(),
		BatchMaxAmount:  cfg.BatchMaxAmount,
		DataFile:        cfg.DataFile,
		SingleBet:       single,
		ConnectTimeout:  cfg.ConnectTimeout,
		WinnersTimeout:  cfg.WinnersTimeout,
		IOTimeout:       cfg.IOTimeout,
		TLS:             tlsConfig,
		OnProgress:      status.onProgress(),
	}, log)
	res, err := a.Run(ctx)
	status.close()
	// enviadas counts this run's bets only; ya_almacenadas those the
	// central held before it (a resumed agency sends only the rest).
	summary := []any{"enviadas", res.Sent, "ya_almacenadas", res.Held, "rechazadas", res.Rejected, "salteadas", res.Skipped,
		logattr.Millis("latencia_p50_ms", res.Latency(0.50)), logattr.Millis("latencia_p99_ms", res.Latency(0.99))}
	switch {
	case errors.Is(err, context.Canceled):
		log.Info(logattr.Shutdown, append([]any{logattr.ResultKey, logattr.Success, logattr.ReasonKey, "signal"}, summary...)...)
		return 0
	case err != nil:
		fail := []any{logattr.ResultKey, logattr.Fail}
		// Bets the central refused for good: how many it lacks, and why.
		var refused *agency.RefusedError
		if res.NotStored > 0 && errors.As(err, &refused) {
			fail = append(fail, "no_almacenadas", res.NotStored, "motivo", refused.Code.String())
		}
		log.Error(logattr.Resumen, append(append(fail, logattr.ErrorKey, err), summary...)...)
		return 1
	}
	log.Info(logattr.Resumen, append([]any{logattr.ResultKey, logattr.Success}, summary...)...)
	return 0
}
