#!/usr/bin/env bash
# The promise map, docs/promises.md: each promise with the tests whose names carry its ID.
#   scripts/promises.sh           prints each promise ID with its tests and how many files cite it
#   scripts/promises.sh --write   regenerates docs/promises.md (after adding, moving or renaming a test)
#   scripts/promises.sh --check   fails if docs/promises.md is stale or the tree cites an unknown ID
# It runs crates/promises, the same code as the test `promise_map_is_current`; it reads only this
# repository.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo run --quiet --locked -p relais-promises -- "$@"
