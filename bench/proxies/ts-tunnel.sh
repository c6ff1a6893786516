#!/usr/bin/env bash
# Our reverse tunnel as a system under test for bench/: a `ts-tunnel server` and a
# `ts-tunnel client` on one runtime, the client exposing 127.0.0.1:TARGET as the server's
# public port LISTEN. Both are children of this script, so the harness counts the CPU and
# memory of both ends together as "the proxy" (as for ssh -R).
#
#   load -> 127.0.0.1:LISTEN (server's public port) -> tunnel session over
#        127.0.0.1:LISTEN+1000 (TLS or TCP, one connection) -> client -> 127.0.0.1:TARGET
#
#   ts-tunnel.sh LISTEN TARGET DIR RUNTIME(deno|bun) TRANSPORT(tls|tcp|quic)
set -euo pipefail
listen="$1" target="$2" dir="$3" runtime="$4" transport="$5"
control=$((listen + 1000))
repo="$(cd "$(dirname "$0")/../.." && pwd)"
token="bench-token-0123456789abcdef"
mkdir -p "$dir"
if [[ ! -f "$dir/fullchain.pem" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -days 30 -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$dir/leaf.key" -out "$dir/leaf.csr" \
    -subj /CN=localhost 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" \
    >"$dir/leaf.ext"
  openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -out "$dir/leaf.pem" \
    -days 30 -extfile "$dir/leaf.ext" 2>/dev/null
  cat "$dir/leaf.pem" "$dir/ca.pem" >"$dir/fullchain.pem"
fi
case "$runtime" in
  deno) run=("${DENO:-$repo/node_modules/.bin/deno}" run -A "$repo/cli.ts") ;;
  bun) run=("${BUN:-$repo/node_modules/.bin/bun}" "$repo/cli.ts") ;;
  *) echo "runtime must be deno or bun" >&2; exit 2 ;;
esac
tls_server=() tls_client=()
if [[ "$transport" == tls || "$transport" == quic ]]; then
  tls_server=(-cert "$dir/fullchain.pem" -key "$dir/leaf.key")
  tls_client=(-ca "$dir/ca.pem" -server-name localhost)
fi

# -max-connections-per-service and -max-streams-per-session: the defaults (1,000 and 1,024) would refuse part of the
# memory test's held connections.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 143' TERM INT

"${run[@]}" server -listen "127.0.0.1:$control" -token "$token" -transport "$transport" "${tls_server[@]}" \
  -port-range "$listen-$listen" -bind-host 127.0.0.1 -max-connections-per-service 100000 -max-streams-per-session 65536 -log-level warn &
pids+=($!)
for _ in $(seq 1 200); do # <= 10 s
  (exec 3<>"/dev/tcp/127.0.0.1/$control") 2>/dev/null && break
  sleep 0.05
done
"${run[@]}" client -server "127.0.0.1:$control" -token "$token" -transport "$transport" "${tls_client[@]}" \
  -local "127.0.0.1:$target" -remote-port "$listen" -max-streams-per-session 65536 -log-level warn &
pids+=($!)
wait -n # either side exiting ends the tunnel
