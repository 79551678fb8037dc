# Every common action of the lottery. `make help` lists them.
GO       ?= go
FUZZTIME ?= 10s
BIN      := bin

.PHONY: help build test unit fuzz lint bench run-server clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

build: ## build every binary into bin/
	CGO_ENABLED=0 $(GO) build -o $(BIN)/ ./cmd/...

test: lint unit fuzz ## everything CI runs: lint, unit and end-to-end tests with the race detector, short fuzzing

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs for FUZZTIME; a crasher is kept under testdata/fuzz
# and from then on runs as a regression case in `unit`.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReadRequest$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBet$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWinners$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadEcho$$' -fuzztime $(FUZZTIME) ./protocol
	$(GO) test -run '^$$' -fuzz '^FuzzReadWriteRead$$' -fuzztime $(FUZZTIME) ./store

lint: ## gofmt check and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

run-server: build ## run the central with ./.env (if any) and the defaults; stop it with Ctrl-C or kill -TERM
	./$(BIN)/server

bench: ## Go benchmarks of the hot paths
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

clean: ## remove built binaries
	rm -rf $(BIN)
