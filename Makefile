# Every common action of the lottery. `make help` lists them.
SHELL    := bash
GO       ?= go
# Fuzzing runs a fixed number of inputs per target (a few seconds each here):
# a time budget makes the fuzz coordinator fail spuriously with "context
# deadline exceeded" when a worker is slow to stop on a busy machine.
FUZZTIME ?= 300000x
BIN      := bin
DATA     := .data
ROUND    := $(DATA)/round
PORT     ?= 12345

# Docker: Compose v2 as a docker plugin when present, else docker-compose v1.
COMPOSE      ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
COMPOSE_FILE ?= docker-compose-dev.yaml
AGENCIES     ?= 5
PROJECT      ?= quiniela

.PHONY: help build test unit fuzz lint bench run run-server run-client data clean \
	docker-image docker-compose-up docker-compose-down docker-compose-logs docker-storage-reset

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

test: lint unit fuzz ## everything CI runs: lint, unit and end-to-end tests with the race detector, short fuzzing

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs FUZZTIME inputs; a crasher is kept under testdata/fuzz
# and from then on runs as a regression case in `unit`.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadRequest$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBet$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWinners$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadEcho$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadStatus$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWriteRead$$' -fuzztime $(FUZZTIME) ./store

lint: ## gofmt check and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

data: build ## generate the five official-like agency files in .data/ (if missing)
	@test -f $(DATA)/winners.json || ./$(BIN)/datagen -out $(DATA)

# One whole round on this machine: a fresh store, the central and five
# agencies as processes, each agency's winners checked against datagen's
# expectation, then SIGTERM to the central. Logs stay in .data/round/.
run: data ## one whole lottery round: server + 5 agencies on generated data, winners checked
	@rm -rf $(ROUND) && mkdir -p $(ROUND)
	@SERVER_IP=127.0.0.1 SERVER_PORT=$(PORT) STORAGE_FILEPATH=$(ROUND)/bets.csv \
		./$(BIN)/server --env-file /dev/null > $(ROUND)/server.log & server=$$!; \
	trap 'kill -TERM $$server 2>/dev/null' EXIT; \
	for i in 1 2 3 4 5; do \
		CLI_ID=$$i CLI_SERVER_ADDRESS=127.0.0.1:$(PORT) CLI_DATA_FILE=$(DATA)/agency-$$i.csv \
			./$(BIN)/client --env-file /dev/null > $(ROUND)/client-$$i.log & pids[$$i]=$$!; \
	done; \
	ok=1; \
	for i in 1 2 3 4 5; do \
		wait $${pids[$$i]} || { echo "agency $$i failed: $$(grep 'result: fail' $(ROUND)/client-$$i.log | tail -1)"; ok=0; }; \
		want=$$(grep -o "\"agency\": $$i, \"bets\": [0-9]*, \"winners\": [0-9]*" $(DATA)/winners.json | grep -o '[0-9]*$$'); \
		got=$$(grep -o 'consulta_ganadores | result: success | cant_ganadores: [0-9]*' $(ROUND)/client-$$i.log | grep -o '[0-9]*$$'); \
		sent=$$(grep -o 'resumen | result: success | enviadas: [0-9]*' $(ROUND)/client-$$i.log | grep -o '[0-9]*$$'); \
		if [ -n "$$got" ] && [ "$$got" = "$$want" ]; then echo "agency $$i: $$sent bets sent, $$got winners, as expected"; \
		else echo "agency $$i: $${got:-no} winners, want $$want"; ok=0; fi; \
	done; \
	kill -TERM $$server; wait $$server || { echo "the central exited with $$?"; ok=0; }; trap - EXIT; \
	draws=$$(grep -c 'action: sorteo | result: success' $(ROUND)/server.log); \
	echo "draws: $$draws, bets stored: $$(wc -l < $(ROUND)/bets.csv) (logs in $(ROUND)/)"; \
	[ "$$draws" = 1 ] && [ $$ok = 1 ] && echo "round: success" || { echo "round: fail"; exit 1; }

run-client: build ## run agency ID (make run-client ID=3) with ./.env (if any)
	@test -n "$(ID)" || { echo "usage: make run-client ID=n"; exit 2; }
	CLI_ID=$(ID) ./$(BIN)/client

run-server: build ## run the central with ./.env (if any) and the defaults; stop it with Ctrl-C or kill -TERM
	./$(BIN)/server

bench: ## Go benchmarks of the hot paths, then whole rounds (5 agencies/79,000 bets and 100/1,000,000) in one table
	$(GO) test -run '^$$' -bench . -benchtime 1s ./...
	$(GO) run ./cmd/internal/roundbench

docker-image: build ## build the server and client images FROM scratch around bin/
	docker build --target server -t $(PROJECT)-server:latest .
	docker build --target client -t $(PROJECT)-client:latest .

# The compose file is generated once (./generar-compose.sh to change N); the
# settings in docker/*.env and the data in .data/ are mounted, so editing them
# and running this again needs no image rebuild.
docker-compose-up: docker-image data ## start the central and the agencies of $(COMPOSE_FILE) (5 unless generated otherwise)
	@test -f $(COMPOSE_FILE) || ./generar-compose.sh $(COMPOSE_FILE) $(AGENCIES)
	@mkdir -p .storage
	$(COMPOSE) -f $(COMPOSE_FILE) -p $(PROJECT) up -d

docker-compose-down: ## stop everything gracefully (SIGTERM, 10 s grace), then remove containers and network
	$(COMPOSE) -f $(COMPOSE_FILE) -p $(PROJECT) stop -t 10
	$(COMPOSE) -f $(COMPOSE_FILE) -p $(PROJECT) down

docker-compose-logs: ## follow the logs of every container
	$(COMPOSE) -f $(COMPOSE_FILE) -p $(PROJECT) logs -f

docker-storage-reset: ## delete the stored bets and the ends journal (.storage/bets.csv*) to start a fresh round
	rm -f .storage/bets.csv .storage/bets.csv.ends

clean: ## remove built binaries
	rm -rf $(BIN)
