#!/usr/bin/env bash
# Screenshots of the main pages for the README (docs/screenshots/*.png): builds Relais, starts
# `relais demo` (embedded PostgreSQL, seeded sample data) on a free loopback port with a
# throw-away data directory under target/, signs in as the demo user it prints, and has headless
# Chromium (chromedriver, driven by crates/testkit/examples/screenshots.rs) take the home page,
# leads list, a lead, the deals board, the import page and the CRM settings at 1366 × 900 and
# 390 × 844 in English, and two of them in French. Stops everything it started.
#
#   bash scripts/screenshots.sh            # writes docs/screenshots/
#   SCREENSHOTS_DIR=/tmp/shots bash scripts/screenshots.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_postgres
ensure_browser

out="${SCREENSHOTS_DIR:-$PWD/docs/screenshots}"
cargo build --locked --bin relais --example screenshots
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

work="$PWD/target/screenshots"
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
  RELAIS_LOG_FORMAT=pretty "$target_dir/debug/relais" demo >"$work/server.log" 2>&1 &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  stop_cluster "$data"
  if [ -f "$data/postgres-location.txt" ]; then
    rm -rf "$(cat "$data/postgres-location.txt")"
  fi
}
trap cleanup EXIT

# The demo prints its login once it listens.
for _ in $(seq 1 600); do
  grep -q "log in as" "$work/server.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; echo "error: relais demo stopped" >&2; exit 1; }
  sleep 0.2
done
email=$(sed -n 's/^ *log in as *//p' "$work/server.log" | head -n 1)
password=$(sed -n 's/^ *password *//p' "$work/server.log" | head -n 1)
[ -n "$email" ] && [ -n "$password" ] || { cat "$work/server.log" >&2; echo "error: no demo login printed" >&2; exit 1; }

rm -f "$out"/*.png
"$target_dir/debug/examples/screenshots" "$base" "$email" "$password" "$out"
echo "Screenshots written to $out"
