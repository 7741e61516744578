# gatelab: see README.md. Everything here needs only the Go toolchain; nginx,
# redis-server and wrk are optional extras installed by .ci/run.
GO       ?= go
BIN      ?= bin/gatelab
PKGS     ?= ./...
BENCHPKG ?= ./engines/... ./gateway/... ./node/...
BENCHTIME ?= 1s
COUNT    ?= 1

.PHONY: all build test test-race bench serve compare fixtures vet clean

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

# Go benchmarks: routers, decide path, limiter, JWT verify with and without
# the cache, access log, metrics. Figures are printed; compare runs with
# benchstat (go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(BENCHPKG)

# Throughput comparison in one run: upstream direct vs gatelab (each server
# engine) vs nginx proxy_pass (skipped with a notice when nginx is missing).
compare: build
	$(BIN) compare

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
