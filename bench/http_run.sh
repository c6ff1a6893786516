#!/usr/bin/env bash
# ts-tunnel HTTP benchmark: requests/s and throughput through our TLS, HTTP/2 and HTTP/3 front ends
# (Deno and Bun) next to the same client talking to the backend directly, and next to Caddy as the
# same kind of reverse proxy, in one run, interleaved and repeated. Loopback only. See bench/README.md.
#
# usage: bash bench/http_run.sh [options]
#   --systems "A B ..."  systems to compare (default: all below)
#   --reps N             interleaved repetitions (default 3)
#   --secs S             seconds per requests/s run (default 5)
#   --quick              1 rep, 2 s runs
#   --out DIR            result folder (default bench/results/<date>_<time>_http)
#   -h, --help           this text
# Systems (client protocol in brackets):
#   direct-h1 [h1 cleartext to nginx], direct-h2 [h2 over TLS to nginx],
#   tls-deno tls-bun [h1 over TLS, our -protocol tls terminating in front of nginx],
#   caddy-tls [h1 over TLS, Caddy reverse_proxy], http2-deno http2-bun [h2, our -protocol http2],
#   caddy-h2 [h2, Caddy reverse_proxy], http3-deno http3-bun [h3, our -protocol http3], caddy-h3 [h3, Caddy],
#   quic-deno quic-bun [HTTP/1.1 over raw QUIC streams, our -protocol quic: bench/quic_http_client.ts on Deno,
#   one stream and one upstream TCP connection per request; no Caddy counterpart].
# Metrics per system: small = requests/s for a 1 KiB body (h2load: -c 16 -m 10 for h2, -c 32 for
# h1; gtlsclient for h3: 2,000 requests on one connection, the client is the limit there); big =
# MB/s downloading a 64 MiB body (h2load -c 1, or gtlsclient --download); proxy CPU-seconds per run.
# Needs nginx, caddy, h2load (nghttp2-client), gtlsclient (ngtcp2-client), openssl.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

ALL="direct-h1 direct-h2 tls-deno tls-bun caddy-tls http2-deno http2-bun caddy-h2 http3-deno http3-bun caddy-h3 quic-deno quic-bun"
SYSTEMS="$ALL" REPS=3 SECS=5 OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --systems) SYSTEMS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --quick) REPS=1 SECS=2; shift ;;
    --out) OUT="$2"; shift 2 ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for s in $SYSTEMS; do [[ " $ALL " == *" $s "* ]] || { echo "unknown system: $s (see --help)" >&2; exit 2; }; done
for bin in nginx caddy h2load gtlsclient openssl; do
  command -v "$bin" >/dev/null || { echo "$bin is missing: apt-get install nginx caddy nghttp2-client ngtcp2-client" >&2; exit 2; }
done
OUT="${OUT:-$BENCH_DIR/results/$(date +%Y-%m-%d_%H%M%S)_http}"
mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"
D="$BENCH_TMP/http"
mkdir -p "$D/www"
H1_PORT=24401 H2_PORT=24402 SYS_BASE=24410

# ------------------------------------------------------------- certificates and backend
if [[ ! -f "$D/fullchain.pem" ]]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$D/ca.key" -out "$D/ca.pem" \
    -days 30 -subj "/CN=bench CA" -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$D/leaf.key" -out "$D/leaf.csr" \
    -subj /CN=localhost 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" >"$D/leaf.ext"
  openssl x509 -req -in "$D/leaf.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial -out "$D/leaf.pem" \
    -days 30 -extfile "$D/leaf.ext" 2>/dev/null
  cat "$D/leaf.pem" "$D/ca.pem" >"$D/fullchain.pem"
fi
head -c 1024 /dev/urandom >"$D/www/small"
[[ -f "$D/www/big" ]] || head -c $((64 * 1024 * 1024)) /dev/urandom >"$D/www/big"
cat >"$D/nginx.conf" <<EOF
worker_processes 1;
pid $D/nginx.pid;
error_log $D/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$H1_PORT; root $D/www; }
  server { listen 127.0.0.1:$H2_PORT ssl http2; root $D/www;
    ssl_certificate $D/fullchain.pem; ssl_certificate_key $D/leaf.key; }
}
EOF
nginx -e "$D/nginx-error.log" -p "$D" -c "$D/nginx.conf" -g "daemon off;" &
NGINX_PID=$!
trap 'stop_tree "$NGINX_PID"' EXIT
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$H1_PORT") 2>/dev/null && break; sleep 0.05; done

# ------------------------------------------------------------- systems
_port=0
sys_port() { _port=$(((_port + 1) % 80)); echo $((SYS_BASE + _port)); }

caddyfile() { # port
  cat <<EOF
{
  admin off
  auto_https off
  servers {
    protocols h1 h2 h3
  }
}
https://127.0.0.1:$1 {
  tls $D/fullchain.pem $D/leaf.key
  reverse_proxy 127.0.0.1:$H1_PORT
}
EOF
}

# start_system NAME PORT: sets SYS_PID (empty for direct-*) and URL
start_system() {
  local name="$1" p="$2" rt run=()
  SYS_PID=""
  case "$name" in
    direct-h1) URL="http://127.0.0.1:$H1_PORT"; return 0 ;;
    direct-h2) URL="https://127.0.0.1:$H2_PORT"; return 0 ;;
    caddy-*)
      mkdir -p "$D/caddy"
      caddyfile "$p" >"$D/caddy/Caddyfile"
      HOME="$D/caddy" XDG_DATA_HOME="$D/caddy" XDG_CONFIG_HOME="$D/caddy" \
        caddy run --config "$D/caddy/Caddyfile" --adapter caddyfile >"$D/$name.log" 2>&1 &
      SYS_PID=$! ;;
    *-deno | *-bun)
      rt="${name##*-}"
      if [[ "$rt" == deno ]]; then run=("$DENO" run -A "$REPO_DIR/cli.ts"); else run=("$BUN" "$REPO_DIR/cli.ts"); fi
      "${run[@]}" -protocol "${name%-*}" -listen "127.0.0.1:$p" -target "127.0.0.1:$H1_PORT" \
        -cert "$D/fullchain.pem" -key "$D/leaf.key" >"$D/$name.log" 2>&1 &
      SYS_PID=$! ;;
  esac
  URL="https://127.0.0.1:$p"
  if [[ "$name" == http3-* || "$name" == quic-* ]]; then # UDP only: wait for the ready line
    for _ in $(seq 1 200); do grep -q " ready " "$D/$name.log" 2>/dev/null && return 0; sleep 0.05; done
    log "$name did not become ready (log: $D/$name.log)"
    return 1
  fi
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0; sleep 0.05; done
  log "$name did not listen on $p (log: $D/$name.log)"
  return 1
}

client_of() { # system -> h1 | h2 | h3
  case "$1" in
    direct-h1 | tls-* | caddy-tls) echo h1 ;;
    direct-h2 | http2-* | caddy-h2) echo h2 ;;
    quic-*) echo quic ;;
    *) echo h3 ;;
  esac
}

# h2load's summary line: "finished in 2.00s, 12345.67 req/s, 13.45MB/s"; prints "req_s mb_s failed"
h2load_run() { # h2load args...
  h2load "$@" 2>&1 | awk '
    /^finished in/ { gsub(",", ""); rps = $4; mb = $6; unit = mb; sub(/^[0-9.]+/, "", unit); sub(/[A-Za-z\/]+$/, "", mb)
      mb *= unit ~ /^GB/ ? 1024 : unit ~ /^KB/ ? 1 / 1024 : unit ~ /^MB/ ? 1 : 1 / 1048576 }
    /^requests:/ { gsub(",", ""); failed = $10 }
    END { printf "%s %s %s\n", rps + 0, mb + 0, failed + 0 }'
}

# gtlsclient: N requests of PATH on one connection; a request counts when its response reached
# the client whole (status 200; the stream ended). Prints "req_s mb_s failed".
h3_run() { # port path n
  local port="$1" path="$2" n="$3" t0 t1 secs ok size
  t0=$(date +%s%N)
  ok=$(timeout 120 gtlsclient --exit-on-all-streams-close --no-quic-dump --no-http-dump -n "$n" \
    127.0.0.1 "$port" "https://127.0.0.1:$port$path" 2>&1 | grep -c '\[:status: 200\]')
  t1=$(date +%s%N)
  size=$(stat -c %s "$D/www$path")
  awk -v n="$n" -v ok="$ok" -v size="$size" -v a="$t0" -v b="$t1" \
    'BEGIN { s = (b - a) / 1e9; printf "%.1f %.1f %d\n", ok / s, ok * size / s / 1048576, n - ok }'
}

measure() { # system rep
  local name="$1" rep="$2" p proto small big cpu0 cpu1 port
  p=$(sys_port)
  if ! start_system "$name" "$p"; then
    [[ -n "$SYS_PID" ]] && stop_tree "$SYS_PID"
    echo "{\"system\":\"$name\",\"rep\":$rep,\"error\":\"start\"}" >>"$JSONL"
    return
  fi
  proto=$(client_of "$name")
  port="${URL##*:}"
  cpu0=$( [[ -n "$SYS_PID" ]] && tree_cpu_ticks "$SYS_PID" || echo 0)
  case "$proto" in
    h1) small=$(h2load_run --h1 -D "$SECS" -c 32 "$URL/small")
        big=$(h2load_run --h1 -n 8 -c 1 "$URL/big") ;;
    h2) small=$(h2load_run -D "$SECS" -c 16 -m 10 "$URL/small")
        big=$(h2load_run -n 8 -c 1 -m 1 "$URL/big") ;;
    h3) small=$(h3_run "$port" /small 2000)
        big=$(h3_run "$port" /big 4) ;;
    quic) small=$("$DENO" run -A "$BENCH_DIR/quic_http_client.ts" "$port" "$D/ca.pem" small "$SECS" 16)
        big=$("$DENO" run -A "$BENCH_DIR/quic_http_client.ts" "$port" "$D/ca.pem" big 4) ;;
  esac
  cpu1=$( [[ -n "$SYS_PID" ]] && tree_cpu_ticks "$SYS_PID" || echo 0)
  [[ -n "$SYS_PID" ]] && stop_tree "$SYS_PID"
  read -r rps _ sfail <<<"$small"
  read -r _ mbs bfail <<<"$big"
  local cpu_s
  cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" -v t="$CLK_TCK" 'BEGIN { printf "%.2f", (b - a) / t }')
  log "$name rep $rep: $rps req/s, $mbs MB/s (failed $sfail/$bfail), proxy CPU ${cpu_s}s"
  printf '{"system":"%s","client":"%s","rep":%d,"rps":%s,"mb_s":%s,"failed":%d,"proxy_cpu_s":%s}\n' \
    "$name" "$proto" "$rep" "$rps" "$mbs" $((sfail + bfail)) "$cpu_s" >>"$JSONL"
}

log "systems: $SYSTEMS; $REPS rep(s), ${SECS}s runs; results in $OUT"
for rep in $(seq 1 "$REPS"); do
  for s in $SYSTEMS; do measure "$s" "$rep"; done
done

# ------------------------------------------------------------- report
{
  echo "# ts-tunnel HTTP benchmark"
  echo
  echo "$(date -Iseconds) · commit \`$(git -C "$REPO_DIR" rev-parse --short HEAD)\` · $REPS rep(s) · $(nproc) CPUs ·" \
    "nginx $(nginx -v 2>&1 | sed 's|.*/||') · $(caddy version | cut -d' ' -f1) · $(h2load --version 2>&1 | head -1)"
  echo
  echo "Median over reps; in brackets the ratio to the direct run with the same client protocol (h3: to caddy-h3," \
    "as nginx here has no HTTP/3; quic: to direct-h1, although each quic request opens a QUIC stream and a new upstream" \
    "TCP connection where h2load keeps its connections). small: requests/s of a 1 KiB body; big: MB/s of a 64 MiB body; both through the" \
    "system to nginx over HTTP/1.1. Command: \`bash bench/http_run.sh\`."
  echo
  echo "| system | client | small req/s | big MB/s | failed | proxy CPU s |"
  echo "|---|---|---:|---:|---:|---:|"
  awk '
    function median(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    function field(line, k,   m) { if (match(line, "\"" k "\":[^,}]*")) { m = substr(line, RSTART + length(k) + 3, RLENGTH - length(k) - 3); gsub("\"", "", m); return m } return "" }
    /"error"/ { next }
    { s = field($0, "system"); if (!(s in cl)) order[++n] = s; cl[s] = field($0, "client")
      rps[s] = rps[s] " " field($0, "rps"); mb[s] = mb[s] " " field($0, "mb_s"); f[s] += field($0, "failed"); cpu[s] = cpu[s] " " field($0, "proxy_cpu_s") }
    END {
      for (i = 1; i <= n; i++) { s = order[i]; r[s] = median(rps[s]); m[s] = median(mb[s]) }
      base["h1"] = "direct-h1"; base["h2"] = "direct-h2"; base["h3"] = "caddy-h3"; base["quic"] = "direct-h1"
      for (i = 1; i <= n; i++) { s = order[i]; b = base[cl[s]]
        rr = (b in r && r[b] > 0 && b != s) ? sprintf(" (%.2f×)", r[s] / r[b]) : ""
        mr = (b in m && m[b] > 0 && b != s) ? sprintf(" (%.2f×)", m[s] / m[b]) : ""
        printf "| %s | %s | %\047.0f%s | %.0f%s | %d | %.1f |\n", s, cl[s], r[s], rr, m[s], mr, f[s], median(cpu[s]) }
    }' "$JSONL"
} >"$OUT/report.md"
cp "$OUT/report.md" "$BENCH_DIR/results/latest-http.md"
cat "$OUT/report.md"
