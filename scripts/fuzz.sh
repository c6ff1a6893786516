#!/usr/bin/env bash
# Long fuzz run of the tunnel wire layer (parsers and a live MuxSession) under Deno and then Bun.
# Usage: FUZZ_ITERATIONS=1000000 FUZZ_SEED=42 bash scripts/fuzz.sh
# Defaults: 1,000,000 iterations (50x the test suite's run), seed from the clock (printed, so a
# failure can be replayed with the same FUZZ_SEED).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=node_modules/.bin
export FUZZ_ITERATIONS="${FUZZ_ITERATIONS:-1000000}"
export FUZZ_SEED="${FUZZ_SEED:-$(date +%s)}"
echo "fuzz: FUZZ_ITERATIONS=$FUZZ_ITERATIONS FUZZ_SEED=$FUZZ_SEED"
if [[ ! -x $BIN/deno || ! -x $BIN/bun ]]; then
  echo "Deno or Bun is missing: run 'npm ci' first" >&2
  exit 2
fi
"$BIN/deno" test -A tests/protocols/tunnel/fuzz_test.ts
"$BIN/bun" test --timeout 90000 tests/protocols/tunnel/fuzz_test.ts
