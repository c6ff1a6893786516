#!/usr/bin/env bash
# Builds the single-file executable: bun build --compile cli.ts, with the modules that run in
# worker threads as extra entry points. A compiled binary bundles everything into one file, so a
# Worker cannot load a module from beside its caller; Bun embeds each extra entry point under
# /$bunfs/root/ by its path from the project root, where forward/_worker_url.ts looks for it.
# Usage: bash scripts/compile.sh [OUTFILE]   (default: ./ts-tunnel)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-ts-tunnel}"
node_modules/.bin/bun build --compile --outfile "$out" \
  cli.ts \
  ffi/_splice_worker.ts \
  ffi/_owned_worker.ts \
  forward/_worker_main.ts
