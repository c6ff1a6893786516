#!/usr/bin/env bash
# Runs the project's pinned Deno (node_modules/.bin/deno, from `npm ci`), or the one on PATH.
# deno.json tasks call this instead of a bare `deno`: inside `deno task`, a bare `deno` resolves to
# node_modules/.bin/deno and is then run as if it were a JavaScript file, which fails.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$here/node_modules/.bin/deno" ]]; then exec "$here/node_modules/.bin/deno" "$@"; fi
exec deno "$@"
