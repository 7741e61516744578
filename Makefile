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

.PHONY: all build test test-race lint bench bench-ci bench-full microbench serve dashboards fixtures vet clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gatelab

vet:
	$(GO) vet $(PKGS)

# staticcheck (fetched through the Go module proxy) and a go.mod that
# go mod tidy would not change.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: vet
	$(GO) run $(STATICCHECK) $(PKGS)
	$(GO) mod tidy -diff

# Every test: unit tests, the engine behaviour tables, and the gateway suite
# (both server engines x all routers against real upstream processes).
# scripts/testsummary runs go test -json and prints what go test prints, then
# every failed and every skipped test with its reason (a test whose dependency
# is missing skips; the summary says so); it exits 1 on any failure.
# TESTFLAGS adds go test flags, e.g. TESTFLAGS='-run Redis -short'.
TESTFLAGS ?=

test: vet
	$(GO) run ./scripts/testsummary -count=1 $(TESTFLAGS) $(PKGS)

test-race:
	$(GO) run ./scripts/testsummary -race -count=1 $(TESTFLAGS) $(PKGS)

# The lab: scenarios over every engine combination under open-model load and
# faults, budgets checked, reports/out/<run-id>/results.json and junit.xml
# written. Exit 0: every budget passed; 1: a budget failed; 2: an invalid run.
# quick (about 5 minutes on 2 cores) | ci (ratio budgets) | full (everything).
# PROMETHEUS=127.0.0.1:9091 also runs Prometheus there, scraping every gatelab
# node of the run (Grafana: see make dashboards / README).
PROMETHEUS ?=
bench: build
	$(BIN) bench -profile $(PROFILE) $(if $(PROMETHEUS),-prometheus $(PROMETHEUS))

bench-ci: build
	$(BIN) bench -profile ci

bench-full: build
	$(BIN) bench -profile full

# Conformance (suites/): every case against the reference gateway in every
# engine combination, then nginx and haproxy when installed (configured from
# the same fixture routes by harness/peers). Reports in
# reports/out/conformance/<UTC time>/: <target>.yaml per target, junit.xml.
# Exit 1 when a core case fails on a reference target, 2 on bad input.
# CONFORMFLAGS adds flags, e.g. CONFORMFLAGS='-engines fasthttp-trie-local -cases routing/'.
CONFORMFLAGS ?=
.PHONY: conform
conform: build
	$(BIN) conform $(CONFORMFLAGS)

# Go benchmarks: routers, decide path, limiter, JWT verify with and without
# the cache, access log, metrics. Figures are printed; compare runs with
# benchstat (go run golang.org/x/perf/cmd/benchstat@latest old.txt new.txt).
microbench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(BENCHPKG)

# Start the gateway on the default fixture config with the fake upstreams it
# routes to; Ctrl-C stops everything.
serve: build
	./scripts/serve.sh $(BIN)

# Prometheus in the foreground with gatelab's scrape config and alert rules,
# scraping the admin listeners in SCRAPE (comma-separated; the default is
# `make serve`'s node); prints its URL and how to add the Grafana dashboards
# (dashboards/grafana/). Needs the prometheus binary; Grafana is not included.
SCRAPE ?= 127.0.0.1:9090
dashboards: build
	$(BIN) dashboards -scrape $(SCRAPE)

# Regenerate fixture keys and route tables (deterministic).
fixtures:
	$(GO) run ./fixtures/keys/gen
	$(GO) run ./fixtures/routes/gen

clean:
	rm -rf bin reports/out
