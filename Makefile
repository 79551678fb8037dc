# Every common action of the lottery. `make help` lists them.
SHELL    := bash
GO       ?= go
# Fuzzing runs a fixed number of inputs per target (a few seconds each here):
# a time budget makes the fuzz coordinator fail spuriously with "context
# deadline exceeded" when a worker is slow to stop on a busy machine.
FUZZTIME ?= 300000x
BIN      ?= ./bin
DATA     ?= .data
PORT     ?= 12345
CERTS    ?= .certs
# make run plays over mutual TLS (certificates made for the round); TLS=false: plain TCP.
TLS      ?= true
# ROUNDS=N: make run and make run-pg play the files N times, one round after
# another, against one central running continuous rounds (SERVER_ROUNDS).
ROUNDS   ?= 1

# Docker: Compose v2 as a docker plugin when present, else docker-compose v1.
COMPOSE      ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE ?= docker-compose-dev.yaml
AGENCIES     ?= 5
# COMPOSE_TLS=1: generate a mutual-TLS deployment, certificates from $(CERTS)
# (made by make certs if missing); plain TCP by default, as the course expects
# (COMPOSE_TLS=0, false, no or off: plain TCP too).
COMPOSE_TLS  ?=
compose_tls  := $(if $(filter-out 0 false FALSE False no NO off OFF,$(COMPOSE_TLS)),1)
# The Compose project: by default Compose's own (the folder's name), so that
# these targets and the course's plain docker compose commands act on the
# same containers; PROJECT=name keeps a deployment apart.
PROJECT      ?=
COMPOSE_RUN   = $(COMPOSE) -f $(COMPOSE_FILE) $(if $(PROJECT),-p $(PROJECT))
IMAGE_PREFIX ?= quiniela
STORAGE      ?= .storage

.PHONY: help build test test-short unit fuzz lint bench soak run run-pg run-ha run-server run-client data certs status clean \
	docker-image docker-compose-up docker-compose-down docker-compose-logs docker-storage-reset

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

# The version every binary's --version prints: git describe of this tree.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo unknown)

build: ## build every binary into bin/
	CGO_ENABLED=0 $(GO) build -ldflags "-X quiniela/cmd/internal/cli.stamped=$(VERSION)" -o $(BIN)/ ./cmd/...

# The tests come last, so that the list of skipped tests ends the output.
test: lint fuzz unit ## everything CI runs: lint, short fuzzing, unit and end-to-end tests with the race detector

# The output of a plain go test, then every skipped test and why
# (cmd/internal/testsummary reads go test -json).
unit:
	@set -o pipefail; $(GO) test -race -count=1 -json ./... | $(GO) run ./cmd/internal/testsummary

# The tests that need Docker, PostgreSQL, Patroni or Chromium, and the
# longest whole-system rounds, skip themselves under -short, saying so in
# the summary; make test runs them all.
test-short: ## the inner loop: unit tests and the whole-system rounds that need no Docker, PostgreSQL, Patroni or browser (under 30 s)
	@set -o pipefail; $(GO) test -short -count=1 -json ./... | $(GO) run ./cmd/internal/testsummary

# Each fuzz target runs FUZZTIME inputs; a crasher is kept under testdata/fuzz
# and from then on runs as a regression case in `unit`.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadRequest$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBet$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWinners$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadEcho$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadStatus$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadRoundStatus$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWriteRead$$' -fuzztime $(FUZZTIME) ./store/csvfile
	$(GO) test -run '^$$' -fuzz '^FuzzScanBatch$$' -fuzztime $(FUZZTIME) ./store/postgres
	$(GO) test -run '^$$' -fuzz '^FuzzABetStoredReadsBackAsItWas$$' -fuzztime $(FUZZTIME) ./store/postgres
	$(GO) test -run '^$$' -fuzz '^FuzzFieldsOfALineAreThoseEncodingCSVReads$$' -fuzztime $(FUZZTIME) ./agency

lint: ## gofmt check and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

# Agency files are the user's: generated ones only fill an empty place.
data: build ## generate five official-like agency files in .data/, only if it holds none
	@if ls $(DATA)/agency-*.csv >/dev/null 2>&1; then \
		echo "using the agency files in $(DATA)/ (nothing generated: they are never written over)"; \
	else $(BIN)/datagen -out $(DATA); fi

# One whole round on this machine: a fresh store in .data/round/, the central
# and one agency per .data/agency-N.csv as processes, each agency's winners
# checked where datagen's winners.json describes that very file or it is the
# course's official one (known by its SHA-256), then SIGTERM to the central
# (cmd/internal/playround). DATA=folder plays another folder's files;
# ROUNDS=2 plays them twice, in two rounds of one central.
run: data ## one whole lottery round on the agency files in .data/ (generated if none), winners checked; ROUNDS=N: N rounds in a row
	@$(BIN)/playround -bin $(BIN) -data $(DATA) -port $(PORT) -admin-port $(or $(ADMIN_PORT),0) -tls=$(TLS) -rounds $(ROUNDS)

# The same round with the bets in PostgreSQL: a throwaway cluster from the
# machine's postgresql package (initdb in a temporary folder, a free port,
# removed afterwards), an active central and a standby on PORT+2.
run-pg: data ## the round of make run, its bets in a throwaway PostgreSQL, with a standby central
	@$(BIN)/playround -bin $(BIN) -data $(DATA) -port $(PORT) -admin-port $(or $(ADMIN_PORT),0) -tls=$(TLS) -rounds $(ROUNDS) -postgres

# The same round with the bets in a throwaway pair of PostgreSQL nodes under
# Patroni, in synchronous replication, with etcd (Debian's patroni and
# etcd-server packages; removed afterwards), an active central and a
# standby on its multi-host URL, and the primary's machine killed mid-round
# (store/postgres/hacluster): the summary says how long the failover took
# and whether every bet is stored exactly once. LOSS=freeze stops the
# machine's processes instead, leaving its connections open and silent;
# LOSE_AT is the share of the bets inserted when it is lost: the database holds
# the central's writer there, that commit in flight.
LOSS    ?= kill
LOSE_AT ?= 0.2
run-ha: data ## the round of make run-pg on a Patroni pair whose primary's machine is lost mid-round, every bet checked
	@$(BIN)/playround -bin $(BIN) -data $(DATA) -port $(PORT) -admin-port $(or $(ADMIN_PORT),0) -tls=$(TLS) -ha -loss $(LOSS) -lose-at $(LOSE_AT)

status: build ## print the round's table from a running central's admin endpoint (ADMIN=host:port, default 127.0.0.1:PORT+1)
	@$(BIN)/status -admin $(or $(ADMIN),127.0.0.1:$(shell echo $$(($(PORT)+1))))

certs: build ## write a CA and certificates for the central and agencies 1..AGENCIES into .certs/ (HOSTS=extra,names)
	$(BIN)/certs -out $(CERTS) -agencies $(AGENCIES) -hosts "$(HOSTS)"

run-client: build ## run agency ID (make run-client ID=3) with ./.env (if any)
	@test -n "$(ID)" || { echo "usage: make run-client ID=n"; exit 2; }
	CLI_ID=$(ID) $(BIN)/client

run-server: build ## run the central with ./.env (if any) and the defaults; stop it with Ctrl-C or kill -TERM
	$(BIN)/server

# Two real centrals (plain and TLS) left running under churn: health checks
# every 100 ms, agencies that come and go, strangers, admin scrapes; fails
# when heap, RSS, goroutines or open files grow (cmd/internal/soak).
SOAK ?= 5m
soak: build ## leave two centrals running SOAK long (default 5m) under churn, and fail if any resource grows
	@$(BIN)/soak -bin $(BIN) -duration $(SOAK)

# The floor table puts each round beside its physical limit (the files sent
# raw, one fsync per agency), on loopback and at 50 and 200 ms round trips
# through a delaying proxy; BENCH_ARGS=-quick smoke-tests it on tiny rounds.
bench: ## Go benchmarks of the hot paths, then whole rounds beside their floor, then the full table (5 agencies/79,000 bets and 100/1,000,000), then PostgreSQL beside the file
	$(GO) test -run '^$$' -bench . -benchtime 1s ./...
	$(GO) run ./cmd/internal/roundbench $(BENCH_ARGS)

docker-image: build ## build the server and client images FROM scratch around bin/
	docker build --label quiniela.version=$(VERSION) --target server -t $(IMAGE_PREFIX)-server:latest .
	docker build --label quiniela.version=$(VERSION) --target client -t $(IMAGE_PREFIX)-client:latest .

# COMPOSE_FILE is written again by generar-compose.sh each time (which also
# gives the store folder and the keys to the containers' user), with the
# agencies and the TLS of the file already there unless AGENCIES or
# COMPOSE_TLS are given; the settings in docker/*.env and the data in .data/
# are mounted, so editing them and running this again needs no image
# rebuild. Every agency file the Compose file mounts must exist (Docker would
# make a folder in its place).
docker-compose-up: docker-image data ## (re)write COMPOSE_FILE (docker-compose-dev.yaml; 5 agencies, plain TCP unless it says otherwise or AGENCIES=, COMPOSE_TLS=1 ask), then start it
	@had_n=""; had_tls=""; if [ -f $(COMPOSE_FILE) ]; then \
		had_n=$$(grep -c '^  client[0-9]*:$$' $(COMPOSE_FILE)); \
		had_tls=$$(grep -q 'SERVER_TLS_CERT=' $(COMPOSE_FILE) && echo 1); fi; \
	n=$(if $(filter command line environment%,$(origin AGENCIES)),$(AGENCIES),$${had_n:-$(AGENCIES)}); \
	tls=$(if $(filter command line environment%,$(origin COMPOSE_TLS)),$(compose_tls),$$had_tls); \
	mode() { if [ -n "$$1" ]; then echo mutual TLS; else echo plain TCP; fi; }; \
	if [ -f $(COMPOSE_FILE) ] && { [ "$$n" != "$$had_n" ] || [ "$$tls" != "$$had_tls" ]; }; then \
		echo "note: $(COMPOSE_FILE) had $$had_n agencies over $$(mode "$$had_tls"); writing it with $$n over $$(mode "$$tls")"; fi; \
	if [ -n "$$tls" ]; then for i in $$(seq 1 $$n) ca; do \
		case $$i in ca) f=ca.crt ;; *) f=agency-$$i.crt ;; esac; \
		[ -f $(CERTS)/$$f ] || { echo "note: $(CERTS)/$$f is missing: writing a new set of certificates"; $(BIN)/certs -out $(CERTS) -agencies $$n -hosts "$(HOSTS)" || exit 1; break; }; \
	done; fi; \
	DATA_DIR=$(DATA) STORAGE_DIR=$(STORAGE) IMAGE_PREFIX=$(IMAGE_PREFIX) TLS_DIR=$${tls:+$(CERTS)} \
		./generar-compose.sh $(COMPOSE_FILE) $$n
	@for f in $$(grep -o 'agency-[0-9]*\.csv' $(COMPOSE_FILE) | sort -u); do \
		test -f $(DATA)/$$f || { echo "$(DATA)/$$f is missing: $(COMPOSE_FILE) mounts it (AGENCIES=N for N agencies)"; exit 1; }; \
	done
	@if [ -s $(STORAGE)/bets.csv ] || [ -s $(STORAGE)/bets.csv.ends ]; then \
		echo "note: $(STORAGE)/ holds the round of an earlier run: the agencies carry it on and get its winners (make docker-storage-reset starts a new round)"; fi
	$(COMPOSE_RUN) up -d
	@port=$$(grep -o '127.0.0.1:[0-9]*:9100' $(COMPOSE_FILE) | cut -d: -f2); \
		[ -z "$$port" ] || echo "admin: http://127.0.0.1:$$port/ (the round's page; /status, /metrics; make status ADMIN=127.0.0.1:$$port)"

docker-compose-down: ## stop everything gracefully (SIGTERM, 10 s grace), then remove containers and network
	$(COMPOSE_RUN) stop -t 10
	$(COMPOSE_RUN) down

docker-compose-logs: ## follow the logs of every container
	$(COMPOSE_RUN) logs -f

docker-storage-reset: ## delete the stored bets and the ends journal (.storage/bets.csv*) to start a fresh round
	rm -f $(STORAGE)/bets.csv $(STORAGE)/bets.csv.ends

clean: ## remove built binaries
	rm -rf $(BIN)
