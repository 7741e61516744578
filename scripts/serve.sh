#!/usr/bin/env bash
# Starts the fake upstreams that fixtures/gateway.yaml routes to, then the
# gateway in the foreground. Ctrl-C (or SIGTERM) stops all of them.
set -euo pipefail
BIN=${1:-bin/gatelab}
cd "$(dirname "$0")/.."
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM
for svc in user-service:9101 order-service:9102 payment-service:9103 legacy-user-service:9104 admin-service:9105 product-service:9106; do
  name=${svc%%:*}; port=${svc##*:}
  "$BIN" upstream -listen "127.0.0.1:$port" -name "$name" >/dev/null &
  pids+=($!)
done
"$BIN" serve -config fixtures/gateway.yaml "${@:2}"
