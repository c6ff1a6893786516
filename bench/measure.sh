#!/usr/bin/env bash
# One measurement against a forwarder you started yourself; prints one JSON line.
#   bash bench/measure.sh backends                  echo server on ECHO_PORT (24202), iperf3 on IPERF_PORT (24201)
#   bash bench/measure.sh tput PORT PARALLEL up|down SECONDS [PROXY_PID]   (proxy -> 24201)
#   bash bench/measure.sh lat  PORT ROUNDTRIPS [PROXY_PID]                 (proxy -> 24202, also below)
#   bash bench/measure.sh rate PORT CONCURRENCY SECONDS [PROXY_PID]
#   bash bench/measure.sh gt   gtput|gtrtt|gtconc PORT RUNS [PROXY_PID]
#   bash bench/measure.sh mem  PORT PROXY_PID NCONNS
set -uo pipefail
source "$(dirname "$0")/lib.sh"
LOADGEN="$(build_loadgen)" || exit 1
cmd="${1:-}"
shift || true
case "$cmd" in
  backends)
    trap 'stop_backends; exit 0' INT TERM EXIT
    start_backends || exit 1
    log "echo on $ECHO_PORT, iperf3 on $IPERF_PORT; stopping after 4 h or on Ctrl-C"
    for _ in $(seq 1 14400); do sleep 1; done ;;
  tput) measure_tput "$@" ;;
  lat) measure_lat "$@" ;;
  rate) measure_rate "$@" ;;
  gt) measure_gt "$@" ;;
  mem) measure_mem "$@" ;;
  *) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 2 ;;
esac
