#!/usr/bin/env bash
# ts-tunnel benchmark: our engine (Deno, Bun, presets) against direct connections and
# real peers, in one run, interleaved and repeated. Loopback only. See bench/README.md.
#
# usage: bash bench/run.sh [options]          (also: deno task bench -- [options])
#   --systems "A B ..."  systems to compare (default: all below except the (extra) ones)
#   --tunnel             the reverse-tunnel matrix: direct, ssh -R (2 ciphers), our tunnel (TLS, TCP) on Deno and Bun
#   --reps N             interleaved repetitions (default 3)
#   --metrics "..."      subset of: tput lat rate gt mem (default: all)
#   --quick              1 rep, short runs (2 s bulk, 2 s rate, 5k round trips, 2k conns)
#   --secs S             iperf3 seconds per bulk run, plus 1 s warm-up (default 5)
#   --rate-secs S        connection-rate seconds (default 5)
#   --conc N             connection-rate concurrency (default 50)
#   --roundtrips N       64-byte ping-pong round trips (default 20000)
#   --conns N            idle connections held for the memory sample (default 5000)
#   --gt-runs N          repetitions of each go-tunnel method test per measurement (default 10)
#   --out DIR            result folder (default bench/results/<date>_<time>); with --out,
#                        bench/results/latest.* are left alone (only --out-less runs update them)
#   --no-install         do not apt-get/npm install missing tools
#   -h, --help           this text
# Systems: direct nginx haproxy haproxy-splice-forced socat engine-deno engine-bun
#   engine-deno-server engine-deno-client engine-deno-high-throughput; (extra) engine-bun-<preset>,
#   engine-deno-owned engine-bun-owned (-forward-path owned),
#   deno-naive, bun-naive, or any NAME with CMD_NAME='cmd {LISTEN} {TARGET}' (dashes -> _).
# Environment: DENO, BUN, CC, ENGINE_CLI (default ./cli.ts), ENGINE_ARGS (appended to the
#   engine's flags), IPERF_PORT (24201), ECHO_PORT (24202), PORT_BASE (24300: systems use +1..+400).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

SYSTEMS="$SYSTEMS_DEFAULT" REPS=3 METRICS="tput lat rate gt mem" SECS=5 RATE_SECS=5 CONC=50
ROUNDTRIPS=20000 CONNS=5000 GT_RUNS=10 OUT="" INSTALL=1 QUICK=0 OUT_GIVEN=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --systems) SYSTEMS="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --metrics) METRICS="$2"; shift 2 ;;
    --tunnel) SYSTEMS="$SYSTEMS_TUNNEL"; shift ;;
    --quick) QUICK=1 REPS=1 SECS=2 RATE_SECS=2 ROUNDTRIPS=5000 CONNS=2000 GT_RUNS=3; shift ;;
    --secs) SECS="$2"; shift 2 ;;
    --rate-secs) RATE_SECS="$2"; shift 2 ;;
    --conc) CONC="$2"; shift 2 ;;
    --roundtrips) ROUNDTRIPS="$2"; shift 2 ;;
    --conns) CONNS="$2"; shift 2 ;;
    --gt-runs) GT_RUNS="$2"; shift 2 ;;
    --out) OUT="$2"; OUT_GIVEN=1; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
done
for v in REPS SECS RATE_SECS CONC ROUNDTRIPS CONNS GT_RUNS; do
  f="${v,,}"
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "--${f//_/-} must be a positive integer: ${!v}" >&2; exit 2; }
done
for s in $SYSTEMS; do # fail now rather than 20 minutes into the run
  [[ "$s" == direct ]] || system_cmd "$s" 1 1 >/dev/null || exit 2
  [[ "$s" != engine-* || -f "$ENGINE_CLI" ]] || { log "$s: $ENGINE_CLI not found (set ENGINE_CLI)"; exit 2; }
done
has() { [[ " $METRICS " == *" $1 "* ]]; }
uses() { [[ " $SYSTEMS " == *" $1"* ]]; } # prefix match: "engine-bun" covers engine-bun-*

# ------------------------------------------------------------ dependencies
ensure_tools() {
  local pkgs=() sudo=""
  command -v iperf3 >/dev/null || pkgs+=(iperf3)
  command -v "${CC:-cc}" >/dev/null || pkgs+=(gcc)
  uses nginx && { command -v nginx >/dev/null && [[ -e /usr/lib/nginx/modules/ngx_stream_module.so ]] ||
    pkgs+=(nginx libnginx-mod-stream); }
  uses haproxy && { command -v haproxy >/dev/null || pkgs+=(haproxy); }
  uses socat && { command -v socat >/dev/null || pkgs+=(socat); }
  uses ssh-r && { [[ -x /usr/sbin/sshd ]] && command -v ssh >/dev/null || pkgs+=(openssh-server openssh-client); }
  if ((${#pkgs[@]})); then
    ((INSTALL)) && command -v apt-get >/dev/null || { log "missing: ${pkgs[*]} (apt-get install -y ${pkgs[*]})"; return 1; }
    [[ "$(id -u)" != 0 ]] && sudo="sudo"
    log "installing ${pkgs[*]}"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${pkgs[@]}" >/dev/null ||
      return 1
  fi
  if ! [[ -x "$DENO" || -n "$(command -v "$DENO")" ]] || ! [[ -x "$BUN" || -n "$(command -v "$BUN")" ]]; then
    ((INSTALL)) || { log "deno or bun missing: run npm install in $REPO_DIR"; return 1; }
    log "npm install (deno, bun from package.json)"
    (cd "$REPO_DIR" && npm install --no-audit --no-fund >/dev/null) || return 1
    DENO="$(_find DENO deno)" BUN="$(_find BUN bun)"
  fi
}
ensure_tools || exit 1
LOADGEN="$(build_loadgen)" || { log "cannot compile bench/loadgen.c"; exit 1; }

# ------------------------------------------------------------------ output
OUT="${OUT:-$BENCH_DIR/results/$(date +%Y-%m-%d_%H%M%S)}"
mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"
: >"$JSONL"
emit() { # system rep metric json
  echo "{\"system\":\"$1\",\"rep\":$2,\"metric\":\"$3\",\"load1\":$(cut -d' ' -f1 /proc/loadavg),${4#\{}" >>"$JSONL"
  log "$1 rep$2 $3 ${4:0:150}"
}
ver() { "$@" 2>&1 | grep -m1 -oE "$VER_RE" | tr -d '"\\'; }
emit - 0 meta "{\"date\":\"$(date -Iseconds)\",\"kernel\":\"$(uname -r)\",\"cpus\":$(nproc),\
\"cpu\":\"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //' | tr -d '"\\')\",\
\"commit\":\"$(git -C "$REPO_DIR" describe --always --dirty 2>/dev/null)\",\"deno\":\"$(VER_RE='deno [0-9.]+' ver "$DENO" --version)\",\
\"bun\":\"bun $(VER_RE='^[0-9.]+' ver "$BUN" --version)\",\"nginx\":\"$(VER_RE='nginx/[0-9.]+' ver nginx -v)\",\
\"haproxy\":\"$(VER_RE='HAProxy version [0-9.]+' ver haproxy -v)\",\"socat\":\"$(VER_RE='socat version [0-9.]+' ver socat -V)\",\
\"iperf3\":\"$(VER_RE='iperf [0-9.]+' ver iperf3 --version)\",\"reps\":$REPS,\"quick\":$QUICK,\"secs\":$SECS,\
\"rate_secs\":$RATE_SECS,\"conc\":$CONC,\"roundtrips\":$ROUNDTRIPS,\"conns\":$CONNS,\"gt_runs\":$GT_RUNS,\
\"systems\":\"$SYSTEMS\",\"metrics\":\"$METRICS\"}"

cleanup() {
  stop_system
  stop_backends
  local p # anything else this script started (e.g. an interrupted loadgen), by PID
  for p in $(tree_pids $$ | tail -n +2); do [[ "$p" != "$BASHPID" ]] && kill -TERM "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------- matrix
stop_checked() { # system rep
  stop_system || emit "$1" "$2" stop '{"error":"did not exit within 5 s of SIGTERM"}'
}
run_system() { # name rep
  local s="$1" rep="$2" cfg par dir m
  if has tput; then
    if start_system "$s" "$IPERF_PORT"; then
      for cfg in "1 up" "1 down" "8 up" "8 down"; do
        read -r par dir <<<"$cfg"
        emit "$s" "$rep" "tput${par}_$dir" "$(measure_tput "$SYS_PORT" "$par" "$dir" "$SECS" "$SYS_PID")"
      done
      stop_checked "$s" "$rep"
    else emit "$s" "$rep" start '{"error":"did not start (iperf3 target)"}'; fi
  fi
  if has lat || has rate || has gt; then
    if start_system "$s" "$ECHO_PORT"; then
      has lat && emit "$s" "$rep" lat "$(measure_lat "$SYS_PORT" "$ROUNDTRIPS" "$SYS_PID")"
      if has gt; then
        for m in gtput gtrtt gtconc; do emit "$s" "$rep" "$m" "$(measure_gt "$m" "$SYS_PORT" "$GT_RUNS" "$SYS_PID")"; done
      fi
      has rate && emit "$s" "$rep" rate "$(measure_rate "$SYS_PORT" "$CONC" "$RATE_SECS" "$SYS_PID")"
      stop_checked "$s" "$rep"
    else emit "$s" "$rep" start '{"error":"did not start (echo target)"}'; fi
  fi
  if has mem && [[ "$s" != direct ]]; then
    if start_system "$s" "$ECHO_PORT"; then
      emit "$s" "$rep" mem "$(measure_mem "$SYS_PORT" "$SYS_PID" "$CONNS")"
      stop_checked "$s" "$rep"
    else emit "$s" "$rep" start '{"error":"did not start (memory run)"}'; fi
  fi
}

start_backends || exit 1
read -r -a sys_arr <<<"$SYSTEMS"
nsys=${#sys_arr[@]}
log "systems: $SYSTEMS | reps: $REPS | metrics: $METRICS | out: $OUT"
for rep in $(seq 1 "$REPS"); do
  for k in $(seq 0 $((nsys - 1))); do
    run_system "${sys_arr[$(((k + rep - 1) % nsys))]}" "$rep" # order rotates each rep
  done
done
stop_backends

report() { # md svg
  "$DENO" run --no-config --allow-read --allow-write "$BENCH_DIR/report.ts" --md "$1" --svg "$2" "$JSONL"
}
if ((OUT_GIVEN)); then # a run with its own folder does not replace the committed latest.*
  report "$OUT/report.md" "$OUT/report.svg" && log "report: $OUT/report.md"
else
  report "$OUT/report.md" "$OUT/report.svg" && report "$BENCH_DIR/results/latest.md" "$BENCH_DIR/results/latest.svg" &&
    log "report: $OUT/report.md (copy: bench/results/latest.md)"
fi
