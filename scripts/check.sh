#!/usr/bin/env bash
# fmt, lint, type check, doc lint and publish dry-run (deno task check).
set -euo pipefail
cd "$(dirname "$0")/.."
deno() { bash scripts/deno.sh "$@"; }
entries=(mod.ts cli.ts forward/mod.ts protocols/mod.ts protocols/http2/mod.ts protocols/http3/mod.ts ha/mod.ts ffi/mod.ts tls/mod.ts)
deno fmt --check
deno lint
# Worker modules are loaded by URL at run time, so no entry imports them: check them by name.
deno check "${entries[@]}" tests/ forward/_worker_main.ts ffi/_splice_worker.ts ffi/_owned_worker.ts
deno doc --lint "${entries[@]}"
deno publish --dry-run --allow-dirty
