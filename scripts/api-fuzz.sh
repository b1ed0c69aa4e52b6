#!/usr/bin/env bash
# Property-based API testing: schemathesis generates requests from /api/v1/openapi.json and checks
# every answer against the document (status codes, content types, headers, response schemas) and
# the API's behaviour (no 5xx, invalid data refused, valid data accepted, auth enforced…).
#
# It builds `relais`, starts `relais demo` on a free loopback port with a throw-away data
# directory under target/, signs up a second organization through the API, gives each of the two
# tenants an owner API key (scripts/api_fuzz_tenants.py), and runs schemathesis once per tenant
# with a fixed seed and a small number of examples per operation, so the run is reproducible and
# takes a few minutes. Exits non-zero on any failure. Run by scripts/test.sh; alone:
#
#   bash scripts/api-fuzz.sh                 # defaults below
#   API_FUZZ_EXAMPLES=50 API_FUZZ_SEED=7 bash scripts/api-fuzz.sh
#
# Nothing leaves the machine: the server listens on 127.0.0.1, schemathesis is told no other
# address, and it has no telemetry or report upload (none exists in schemathesis 4; the variable
# below is set in case a later version brings one back).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_postgres
ensure_schemathesis

EXAMPLES="${API_FUZZ_EXAMPLES:-10}"
SEED="${API_FUZZ_SEED:-20261206}"
# A hard stop for one tenant's run, whatever happens (the whole run's budget is ~5 minutes).
BUDGET_SECS="${API_FUZZ_BUDGET_SECS:-240}"
# Checks that do not apply to Relais, each with its reason in docs/testing.md ("API fuzzing").
EXCLUDED_CHECKS="${API_FUZZ_EXCLUDED_CHECKS:-}"

cargo build --locked --bin relais

work="$PWD/target/api-fuzz"
data="$work/data"
stop_cluster "$data"
if [ -f "$data/postgres-location.txt" ]; then
  rm -rf "$(cat "$data/postgres-location.txt")"
fi
rm -rf "$work"
mkdir -p "$work"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"

RELAIS_DATA_DIR="$data" RELAIS_LISTEN="127.0.0.1:$port" RELAIS_PUBLIC_URL="$base" RELAIS_LOG="${RELAIS_LOG:-warn}" \
  target/debug/relais demo >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  stop_cluster "$data"
  if [ -f "$data/postgres-location.txt" ]; then
    rm -rf "$(cat "$data/postgres-location.txt")"
  fi
}
trap cleanup EXIT

ready() {
  python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)' "$base/readyz" >/dev/null 2>&1
}
for _ in $(seq 1 600); do
  if ready; then break; fi
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; echo "error: relais demo stopped" >&2; exit 1; }
  sleep 0.2
done
ready || { cat "$work/server.log" >&2; echo "error: relais demo is not ready" >&2; exit 1; }

mapfile -t keys < <(python3 scripts/api_fuzz_tenants.py "$base" "$data/outbox")
[ "${#keys[@]}" -eq 2 ] || { echo "error: expected two tenants' API keys" >&2; exit 1; }

export SCHEMATHESIS_TELEMETRY=false
status=0
for tenant in 1 2; do
  key="${keys[$((tenant - 1))]}"
  echo "== schemathesis, tenant $tenant ($EXAMPLES examples per operation, seed $SEED)"
  args=(--config-file scripts/schemathesis.toml run "$base/api/v1/openapi.json"
    --url "$base"
    --checks all
    --header "Authorization: Bearer $key"
    --max-examples "$EXAMPLES"
    --seed "$SEED"
    --workers 2
    --request-timeout 30
    --generation-database none
    --generation-allow-x00 "${API_FUZZ_ALLOW_NUL:-true}"
    --no-color
    --report junit --report-dir "$work/report-tenant-$tenant")
  [ -n "$EXCLUDED_CHECKS" ] && args+=(--exclude-checks "$EXCLUDED_CHECKS")
  started=$SECONDS
  timeout --signal=INT --kill-after=30 "$BUDGET_SECS" "$SCHEMATHESIS" "${args[@]}" || status=$?
  echo "== tenant $tenant: $((SECONDS - started)) s, exit $status"
  [ "$status" -eq 0 ] || break
done
if [ "$status" -ne 0 ]; then
  echo "schemathesis found failures (server log: $work/server.log)" >&2
fi
exit "$status"
