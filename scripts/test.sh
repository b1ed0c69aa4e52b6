#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, unit tests, integration tests against a real
# PostgreSQL (a private disposable cluster under target/), the app over HTTP on loopback, and the
# libsodium interoperability test with PyNaCl, then schemathesis against the API's OpenAPI document
# (scripts/api-fuzz.sh, docs/testing.md). Installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_postgres
ensure_pynacl
ensure_browser
ensure_axe
ensure_smtp_peer
ensure_imap_peer
ensure_oauth_peer

export RELAIS_TEST_PG_DIR="${RELAIS_TEST_PG_DIR:-$PWD/target/relais-test-pg}"
# A fresh cluster per full run: no database left over from an earlier run can hide a problem.
stop_cluster "$RELAIS_TEST_PG_DIR"
if [ -f "$RELAIS_TEST_PG_DIR/postgres-location.txt" ]; then
  rm -rf "$(cat "$RELAIS_TEST_PG_DIR/postgres-location.txt")"
fi
rm -rf "$RELAIS_TEST_PG_DIR"
trap 'stop_cluster "$RELAIS_TEST_PG_DIR"' EXIT

echo "== sqlx offline data is current"
bash scripts/sqlx-prepare.sh --check
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --workspace --all-targets
echo "== API fuzzing (schemathesis, docs/testing.md)"
bash scripts/api-fuzz.sh
