# shellcheck shell=bash
# Helpers for bench/run.sh and bench/measure.sh: tool lookup, backends, systems
# (start/stop by PID), RSS/PSS/CPU sampling and the measurements. Sourced, not run.
# Adapted from the team harness that produced bench/BASELINE numbers (shared/bench).

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_DIR/.." && pwd)"
BENCH_TMP="${BENCH_TMP:-$BENCH_DIR/results/tmp}" # scratch: configs, logs, the loadgen binary
IPERF_PORT="${IPERF_PORT:-24201}"                # iperf3 server: bulk-throughput sink/source
ECHO_PORT="${ECHO_PORT:-24202}"                  # loadgen echo server: everything else
PORT_BASE="${PORT_BASE:-24300}"                  # systems listen on PORT_BASE+1..+400 (rotated)
ENGINE_CLI="${ENGINE_CLI:-$REPO_DIR/cli.ts}"     # our engine's entry point
mkdir -p "$BENCH_TMP"

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# Runtimes: env override, then the repo's npm install, then PATH.
_find() { # VAR name
  local v="${!1:-}"
  if [[ -n "$v" ]]; then echo "$v"; return; fi
  if [[ -x "$REPO_DIR/node_modules/.bin/$2" ]]; then echo "$REPO_DIR/node_modules/.bin/$2"; return; fi
  command -v "$2" || echo "$2"
}
DENO="$(_find DENO deno)"
BUN="$(_find BUN bun)"

build_loadgen() { # compiles loadgen.c when it is newer than the binary; prints the path
  local out="$BENCH_TMP/bin/loadgen"
  mkdir -p "$BENCH_TMP/bin"
  if [[ ! -x "$out" || "$BENCH_DIR/loadgen.c" -nt "$out" ]]; then
    "${CC:-cc}" -O2 -Wall -Wextra -pthread -o "$out" "$BENCH_DIR/loadgen.c" || return 1
  fi
  echo "$out"
}

# Sockets per process: raise the soft limit to the hard one (5,000 held
# connections need 10,000 fds in a proxy).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- processes
tree_pids() { # PID and all its descendants, one per line
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { kids[$2] = kids[$2] " " $1 }
    END {
      q[0] = root; n = 1; i = 0
      while (i < n) { p = q[i++]; print p; m = split(kids[p], a, " "); for (j = 1; j <= m; j++) q[n++] = a[j] }
    }'
}
tree_rss_kb() { # sum of VmRSS over the tree
  tree_pids "$1" | sed 's|.*|/proc/&/status|' | xargs -r awk '/^VmRSS:/ { s += $2 } END { print s + 0 }' 2>/dev/null
}
tree_pss_kb() { # sum of Pss (shared pages split between the processes mapping them)
  tree_pids "$1" | sed 's|.*|/proc/&/smaps_rollup|' | xargs -r awk '/^Pss:/ { s += $2 } END { print s + 0 }' 2>/dev/null
}
tree_cpu_ticks() { # utime+stime (+ reaped children) of the tree, in clock ticks
  tree_pids "$1" | sed 's|.*|/proc/&/stat|' | xargs -r cat 2>/dev/null |
    awk '{ sub(/^.*\) /, ""); s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
CLK_TCK="$(getconf CLK_TCK)"

# Stop a process tree: TERM every member, wait up to 5 s, then KILL survivors.
# Returns 1 if KILL was needed (the system ignored or was slow to handle TERM).
stop_tree() {
  local root="$1" pids i rc=0
  [[ -z "$root" ]] && return 0
  pids="$(tree_pids "$root")"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for i in $(seq 1 50); do
    kill -0 "$root" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$root" 2>/dev/null && rc=1
  for p in $pids; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$root" 2>/dev/null || true
  return "$rc"
}

# ----------------------------------------------------------------- backends
BACKEND_PIDS=()
start_backends() {
  local p
  for p in "$ECHO_PORT" "$IPERF_PORT"; do
    if "$LOADGEN" waitport "$p" 1; then log "port $p is in use (another bench run?); set ECHO_PORT/IPERF_PORT"; return 1; fi
  done
  "$LOADGEN" echo "$ECHO_PORT" 14400 >"$BENCH_TMP/echo.log" 2>&1 &
  ECHO_PID=$!
  BACKEND_PIDS+=($!)
  iperf3 -s -p "$IPERF_PORT" -B 127.0.0.1 >"$BENCH_TMP/iperf3-server.log" 2>&1 &
  BACKEND_PIDS+=($!)
  "$LOADGEN" waitport "$ECHO_PORT" 5000 || { log "echo server did not start on $ECHO_PORT"; return 1; }
  "$LOADGEN" waitport "$IPERF_PORT" 5000 || { log "iperf3 server did not start on $IPERF_PORT"; return 1; }
}
stop_backends() {
  local p
  for p in "${BACKEND_PIDS[@]}"; do stop_tree "$p"; done
  BACKEND_PIDS=()
}

# ------------------------------------------------------------------ systems
# Default matrix: the physical limit, four peers, our engine on both runtimes,
# and the engine's three presets on Deno.
SYSTEMS_DEFAULT="direct nginx haproxy haproxy-splice-forced socat engine-deno engine-bun \
engine-deno-pump engine-bun-pump engine-deno-ha engine-deno-server engine-deno-client engine-deno-high-throughput"
SYSTEMS_KNOWN="$SYSTEMS_DEFAULT engine-deno-owned engine-bun-owned engine-bun-ha engine-bun-server engine-bun-client engine-bun-high-throughput deno-naive bun-naive \
ssh-r ssh-r-aes128gcm tunnel-deno-tls tunnel-bun-tls tunnel-deno-tcp tunnel-bun-tcp tunnel-deno-quic tunnel-bun-quic"
# The reverse-tunnel matrix (bench/run.sh --tunnel): ssh -R as the anchor, our tunnel on both runtimes.
SYSTEMS_TUNNEL="direct ssh-r ssh-r-aes128gcm tunnel-deno-tls tunnel-bun-tls tunnel-deno-tcp tunnel-bun-tcp tunnel-deno-quic tunnel-bun-quic"

_port_counter=0
next_port() { # sets SYS_PORT: a fresh port per start, so a lingering process cannot answer
  _port_counter=$(((_port_counter + 1) % 400))
  SYS_PORT=$((PORT_BASE + 1 + _port_counter))
}

_render() { # template listen target tmpdir splice tune
  sed -e "s|{LISTEN}|$2|g" -e "s|{TARGET}|$3|g" -e "s|{TMP}|$4|g" -e "s|{SPLICE}|$5|g" -e "s|{TUNE}|${6:-}|g" "$1"
}

system_cmd() { # name listen target -> command line on stdout (run from the repo root)
  local name="$1" l="$2" t="$3" d="$BENCH_TMP/sys-$1" rt preset
  mkdir -p "$d"
  case "$name" in
    nginx) # stream module, 1 worker, defaults (16 KiB buffers)
      _render "$BENCH_DIR/proxies/nginx.conf.tmpl" "$l" "$t" "$d" "" >"$d/nginx.conf"
      echo "nginx -e $d/nginx-error.log -p $d -c $d/nginx.conf" ;;
    haproxy) # tcp mode, 1 thread, defaults
      _render "$BENCH_DIR/proxies/haproxy.cfg.tmpl" "$l" "$t" "$d" "" >"$d/haproxy.cfg"
      echo "haproxy -db -f $d/haproxy.cfg" ;;
    haproxy-splice-forced) # always splice, 1 MiB pipes: the kernel fast path our engine uses
      _render "$BENCH_DIR/proxies/haproxy.cfg.tmpl" "$l" "$t" "$d" 'option splice-request\n  option splice-response' \
        "tune.pipesize 1048576" >"$d/haproxy.cfg"
      echo "haproxy -db -f $d/haproxy.cfg" ;;
    socat) # a process per connection
      echo "socat -lf /dev/null TCP-LISTEN:$l,bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay TCP:127.0.0.1:$t,nodelay" ;;
    deno-naive) echo "$DENO run -A --no-config $BENCH_DIR/proxies/deno-naive.ts $l $t" ;;
    # reverse tunnels: the "proxy" is the whole tree (both ends); their session port is LISTEN+1000
    ssh-r) echo "$BENCH_DIR/proxies/ssh-reverse.sh $l $t $d default" ;; # chacha20-poly1305
    ssh-r-aes128gcm) echo "$BENCH_DIR/proxies/ssh-reverse.sh $l $t $d aes128-gcm@openssh.com" ;;
    tunnel-deno-tls | tunnel-bun-tls | tunnel-deno-tcp | tunnel-bun-tcp | tunnel-deno-quic | tunnel-bun-quic)
      rt="${name#tunnel-}"
      echo "$BENCH_DIR/proxies/ts-tunnel.sh $l $t $d ${rt%%-*} ${rt#*-}" ;;
    bun-naive) echo "$BUN $BENCH_DIR/proxies/bun-naive.ts $l $t" ;;
    engine-deno* | engine-bun*) # engine-<runtime>[-<preset>|-pump|-owned|-ha]
      rt="${name#engine-}"; preset="${rt#*-}"; rt="${rt%%-*}"
      [[ "$preset" == "$rt" ]] && preset=""
      local run="$DENO run -A" extra=""
      [[ "$rt" == bun ]] && run="$BUN"
      case "$preset" in
        pump) extra=" -forward-path pump"; preset="" ;; # the user-space native pump, no FFI
        owned) extra=" -forward-path owned"; preset="" ;; # the owned-socket forwarder (libc Worker)
        ha) # limits, metrics and the admin server on (compare with engine-<rt>)
          extra=" -admin 127.0.0.1:0 -max-connections 100000 -max-connections-per-ip 100000 -accept-rate 1000000"
          preset="" ;;
      esac
      echo "$run $ENGINE_CLI -listen 127.0.0.1:$l -target 127.0.0.1:$t${preset:+ -preset $preset}$extra${ENGINE_ARGS:+ $ENGINE_ARGS}" ;;
    *)
      local var="CMD_${name//-/_}"
      if [[ -z "${!var:-}" ]]; then log "unknown system '$name' (known: $SYSTEMS_KNOWN; or set $var)"; return 1; fi
      echo "${!var}" | sed -e "s|{LISTEN}|$l|g" -e "s|{TARGET}|$t|g" -e "s|{TMP}|$d|g" ;;
  esac
}

# start_system NAME TARGET_PORT: sets SYS_PORT (where the load goes) and SYS_PID
# ("" for direct). Fails if the system does not accept connections within 20 s.
start_system() {
  local name="$1" target="$2" cmd
  SYS_PID="" SYS_NAME="$name"
  if [[ "$name" == direct ]]; then SYS_PORT="$target"; return 0; fi
  for _ in $(seq 1 20); do next_port; "$LOADGEN" waitport "$SYS_PORT" 1 || break; done # skip ports in use
  cmd="$(system_cmd "$name" "$SYS_PORT" "$target")" || return 1
  echo "# $(date +%T) $cmd" >>"$BENCH_TMP/sys-$name/out.log"
  (cd "$REPO_DIR" && exec bash -c "exec $cmd") >>"$BENCH_TMP/sys-$name/out.log" 2>&1 &
  SYS_PID=$!
  local up=1
  for _ in $(seq 1 100); do # <= 20 s; give up early if the process exits
    "$LOADGEN" waitport "$SYS_PORT" 200 && { up=0; break; }
    kill -0 "$SYS_PID" 2>/dev/null || break
  done
  if ((up)); then
    log "$name did not listen on $SYS_PORT; see $BENCH_TMP/sys-$name/out.log"
    stop_tree "$SYS_PID"; SYS_PID=""
    return 1
  fi
  sleep 0.3
}
stop_system() { # returns 1 if the system had to be killed
  local rc=0
  [[ -z "${SYS_PID:-}" ]] && return 0
  stop_tree "$SYS_PID" || { rc=1; log "$SYS_NAME did not exit within 5 s of SIGTERM (killed)"; }
  SYS_PID=""
  return "$rc"
}

# ------------------------------------------------------------- measurements
# Each prints one JSON object. $1 = port to load; the proxy PID (or "") is used
# to add the CPU time the proxy tree spent during the measurement.
_cpu_before() { [[ -n "${1:-}" ]] && tree_cpu_ticks "$1" || echo 0; }
_cpu_json() { # pid before_ticks
  if [[ -z "${1:-}" ]]; then echo '"proxy_cpu_s":null'; return; fi
  awk -v a="$(tree_cpu_ticks "$1")" -v b="$2" -v t="$CLK_TCK" 'BEGIN { printf "\"proxy_cpu_s\":%.2f", (a - b) / t }'
}
_with_cpu() { # pid before json -> json with proxy_cpu_s appended
  local out="${3:-}"
  [[ "$out" != \{* ]] && out='{"errors":1,"failed":true}'
  echo "${out%\}},$(_cpu_json "$1" "$2")}"
}

# tput PORT PARALLEL up|down SECONDS [PID]: iperf3, receiver's Gbit/s
measure_tput() {
  local port="$1" par="$2" dir="$3" secs="$4" pid="${5:-}" rev="" c0 json bps err
  [[ "$dir" == down ]] && rev="-R"
  c0="$(_cpu_before "$pid")"
  json="$(timeout $((secs + 20)) iperf3 -c 127.0.0.1 -p "$port" -t "$secs" -O 1 -P "$par" $rev -J 2>&1 | tr -d '\t\n\r')"
  bps="$(grep -o '"sum_received":{[^}]*' <<<"$json" | head -1 | grep -o '"bits_per_second":[0-9.e+]*' | cut -d: -f2)"
  err="$(grep -o '"error":"[^"]*"' <<<"$json" | head -1)"
  [[ -z "$json" ]] && err='"error":"iperf3 timed out or printed nothing"'
  awk -v b="${bps:-x}" -v p="$par" -v d="$dir" -v s="$secs" -v e="${err:+$err,}" -v c="$(_cpu_json "$pid" "$c0")" 'BEGIN {
    printf "{\"gbps\":%s,\"parallel\":%d,\"dir\":\"%s\",\"seconds\":%d,%s%s}\n", (b + 0 > 0 ? sprintf("%.3f", b / 1e9) : "null"), p, d, s, e, c }'
}

# Latency tests pin CPUs: the load generator on CPU 0, the system and the echo backend on the last CPU, so that
# a round trip crosses CPUs exactly twice with or without a proxy. Left to the scheduler, placement flips a VM's
# p50 between ~15 µs (same CPU) and ~60 µs (cross-CPU wake-ups) from one run to the next.
LAST_CPU=$(($(nproc) - 1))
_pin_trees() { # cpu-list pid...: every thread of every process in these trees
  local cpus="$1" root p
  shift
  for root in "$@"; do
    [[ -n "$root" ]] || continue
    for p in $(tree_pids "$root"); do taskset -a -p -c "$cpus" "$p" >/dev/null 2>&1 || true; done
  done
}
_pinned() { # PID cmd...: runs cmd on CPU 0 while PID's tree and the echo server are on the last CPU
  local pid="$1"
  shift
  if ((LAST_CPU == 0)) || ! command -v taskset >/dev/null; then "$@"; return; fi
  _pin_trees "$LAST_CPU" "$pid" "${ECHO_PID:-}"
  taskset -c 0 "$@"
  _pin_trees "0-$LAST_CPU" "$pid" "${ECHO_PID:-}"
}

# lat PORT ROUNDTRIPS [PID]: 64-byte ping-pong on one connection (pinned, see above)
measure_lat() {
  local c0; c0="$(_cpu_before "${3:-}")"
  _with_cpu "${3:-}" "$c0" "$(_pinned "${3:-}" timeout 90 "$LOADGEN" pingpong "$1" "$2" 64 2000)"
}

# rate PORT CONCURRENCY SECONDS [PID]: connect + 64-byte echo + close
measure_rate() {
  local c0; c0="$(_cpu_before "${4:-}")"
  _with_cpu "${4:-}" "$c0" "$(timeout $(($3 + 30)) "$LOADGEN" connrate "$1" "$2" "$3" 64)"
}

# gt MODE PORT RUNS [PID]: go-tunnel's test_e2e method with its parameters
measure_gt() {
  local mode="$1" port="$2" runs="$3" c0 args
  case "$mode" in
    gtput) args="10 1048576 $runs" ;; # 10 rounds of 1 MiB out + 1 MiB back
    gtrtt) args="100 4 $runs" ;;      # 100 fresh connections, 4 bytes
    gtconc) args="10 50 1024 $runs" ;; # 10 workers x 50 short connections, 1 KiB
  esac
  c0="$(_cpu_before "${4:-}")"
  local pin=()
  [[ "$mode" == gtrtt ]] && pin=(_pinned "${4:-}") # a latency test: pinned like measure_lat
  # shellcheck disable=SC2086
  _with_cpu "${4:-}" "$c0" "$("${pin[@]}" timeout 90 "$LOADGEN" "$mode" "$port" $args)"
}

# mem PORT PID NCONNS: RSS/PSS of the proxy tree before and while holding N
# idle connections, each forwarded end to end by one 64-byte echo first;
# procs = processes in the tree while holding (socat forks one per connection).
measure_mem() {
  local port="$1" pid="$2" n="$3" f="$BENCH_TMP/hold.out" hp rss0 pss0 rss1 pss1 procs ready held
  "$LOADGEN" pingpong "$port" 500 64 0 >/dev/null || true # warm the proxy up
  sleep 1
  rss0="$(tree_rss_kb "$pid")"; pss0="$(tree_pss_kb "$pid")"
  : >"$f"
  "$LOADGEN" hold "$port" "$n" 60 200 >"$f" 2>/dev/null &
  hp=$!
  for _ in $(seq 1 700); do # <= 70 s
    grep -q ready "$f" && break
    kill -0 "$hp" 2>/dev/null || break
    sleep 0.1
  done
  sleep 2 # let the proxy settle (GC, lazy buffers)
  rss1="$(tree_rss_kb "$pid")"; pss1="$(tree_pss_kb "$pid")"; procs="$(tree_pids "$pid" | wc -l)"
  ready="$(grep ready "$f" || echo '{"held":0,"errors":-1}')"
  stop_tree "$hp"
  held="$(echo "$ready" | sed -E 's/.*"held":([0-9]+).*/\1/')"
  awk -v r0="$rss0" -v r1="$rss1" -v p0="$pss0" -v p1="$pss1" -v h="$held" -v n="$procs" -v ready="$ready" 'BEGIN {
    per = h > 0 ? (r1 - r0) * 1024 / h : -1; pper = h > 0 ? (p1 - p0) * 1024 / h : -1
    sub(/^\{/, "", ready); sub(/\}$/, "", ready)
    printf "{\"rss_before_kb\":%d,\"rss_after_kb\":%d,\"bytes_per_conn\":%.0f,\"pss_before_kb\":%d,\"pss_after_kb\":%d,\"pss_bytes_per_conn\":%.0f,\"procs\":%d,%s}\n", r0, r1, per, p0, p1, pper, n, ready }'
}
