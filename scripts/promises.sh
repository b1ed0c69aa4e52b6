#!/usr/bin/env bash
# Lists each promise of ../shared/design/PROMISES.md with the tests that carry its ID.
set -euo pipefail
cd "$(dirname "$0")/.."
promises="${1:-../shared/design/PROMISES.md}"
grep -oE '^\| P[0-9]-[0-9]{2} ' "$promises" | tr -d '| ' | while read -r id; do
  needle=$(echo "$id" | tr 'P-' 'p_')
  tests=$( (grep -rhoE "fn ([a-z0-9]+_)*${needle}_[a-z0-9_]*" crates --include=*.rs || true) | sed 's/^fn //' | sort -u | tr '\n' ' ')
  docs=$( (grep -rlE "${id}[^0-9]" crates --include=*.rs || true) | grep -c . || true)
  printf '%s\t%s\t(mentioned in %s files)\n' "$id" "${tests:-—}" "$docs"
done
