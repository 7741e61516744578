# gatelab: see README.md. Everything here needs only the Go toolchain; nginx,
# haproxy, redis-server and etcd are optional extras installed by .ci/run
# (without them the rows that need them are skipped with a notice).
GO       ?= go
BIN      ?= bin/gatelab
PKGS     ?= ./...
BENCHPKG ?= ./engines/... ./gateway/... ./node/...
BENCHTIME ?= 1s
COUNT    ?= 1
PROFILE  ?= quick

.PHONY: all build test test-race bench bench-ci bench-full microbench serve fixtures vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gatelab

vet:
	$(GO) vet $(PKGS)

# Every test: unit tests, the engine behaviour tables, and the gateway suite
# (both server engines x all routers against real upstream processes).
test: vet
	$(GO) test -count=1 $(PKGS)

test-race:
	$(GO) test -race -count=1 $(PKGS)

# The lab: scenarios over every engine combination under open-model load and
# faults, budgets checked, reports/out/<run-id>/results.json and junit.xml
# written. Exit 0: every budget passed; 1: a budget failed; 2: an invalid run.
# quick (about 5 minutes on 2 cores) | ci (ratio budgets) | full (everything).
bench: build
	$(BIN) bench -profile $(PROFILE)

bench-ci: build
	$(BIN) bench -profile ci

bench-full: build
	$(BIN) bench -profile full

# Go benchmarks: routers, decide path, limiter, JWT verify with and without
# the cache, access log, metrics. Figures are printed; compare runs with
# benchstat (go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(BENCHPKG)

# Start the gateway on the default fixture config with the fake upstreams it
# routes to; Ctrl-C stops everything.
serve: build
	./scripts/serve.sh $(BIN)

# Regenerate fixture keys and route tables (deterministic).
fixtures:
	$(GO) run ./fixtures/keys/gen
	$(GO) run ./fixtures/routes/gen

clean:
	rm -rf bin reports/out
