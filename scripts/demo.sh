#!/usr/bin/env bash
# Builds Relais and starts the demo: embedded PostgreSQL in ./relais-data, a seeded organization,
# the web app on http://localhost:8080 (the login is printed). Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_postgres
cargo build --locked --bin relais
exec target/debug/relais demo
