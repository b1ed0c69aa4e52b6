#!/usr/bin/env bash
# Builds Relais and starts the demo: embedded PostgreSQL in ./relais-data, a seeded organization,
# the web app on http://localhost:8080 (the login is printed). Ctrl-C stops it cleanly.
# Without RELAIS_SMTP_URL, mail goes to the built-in local outbox (relais-data/outbox), shown at
# http://localhost:8080/dev/outbox: sign-up confirmation links arrive there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_postgres
cargo build --locked --bin relais
# Readable logs for a person at a terminal, so the sign-in banner stands out (JSON stays the
# default of `relais serve`, for log collectors).
export RELAIS_LOG_FORMAT="${RELAIS_LOG_FORMAT:-pretty}"
exec target/debug/relais demo
