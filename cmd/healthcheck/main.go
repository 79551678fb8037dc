// Command healthcheck checks that a central answers an echo request with the
// identical bytes, once or every HEALTHCHECK_INTERVAL. It prints
// `action: test_echo_server | result: success` or `... | result: fail` and,
// when checking once, exits 0 or 1 accordingly (a Docker HEALTHCHECK).
package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"quiniela/agency"
	"quiniela/cmd/internal/cli"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/env"
	"quiniela/lottery/logattr"
)

func main() {
	envFile := cli.Parse("healthcheck: checks that a central echoes a message back (the H request of docs/protocol.md).", &env.Healthcheck{})
	cfg, err := env.LoadHealthcheck(envFile)
	if err != nil {
		cli.ConfigFailed(envFile, err)
		os.Exit(2)
	}
	log := cli.Logger(cfg.LogFormat, slog.LevelInfo)
	var tlsConfig *tls.Config
	if cfg.TLSCA != "" {
		if tlsConfig, err = tlsfiles.Client("", "", cfg.TLSCA); err != nil {
			log.Error(logattr.Config, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
			os.Exit(2)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	for {
		err := agency.CheckEcho(ctx, cfg.Address, tlsConfig, []byte(cfg.Message), cfg.Timeout)
		if err != nil {
			log.Error(logattr.TestEchoServer, logattr.ResultKey, logattr.Fail, logattr.Host("", cfg.Address), logattr.ErrorKey, err)
		} else {
			log.Info(logattr.TestEchoServer, logattr.ResultKey, logattr.Success, logattr.Host("", cfg.Address))
		}
		if cfg.Interval == 0 {
			if err != nil {
				os.Exit(1)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Interval):
		}
	}
}
