#!/usr/bin/env bash
# The reverse tunnel end to end, two processes (bench/proxies/ts-tunnel.sh), measured with iperf3:
#
#   iperf3 -c -> :LISTEN (server's public port) -> mux session (TLS or TCP) -> client -> iperf3 -s
#
# Usage: bash bench/mux_iperf.sh RUNTIME(deno|bun) TRANSPORT(tls|tcp) [STREAMS=1] [REPEATS=3] [REPO=.]
# Prints one line per run and the median, in Gbit/s, for each direction (upload = client to
# server through the tunnel; download = -R), and the CPU seconds the tunnel's two processes spent
# per GB moved (comparable when other jobs share the machine). REPO lets a copy of an older tree be measured in
# the same time window.
set -euo pipefail
runtime="$1" transport="$2" streams="${3:-1}" repeats="${4:-3}"
repo="${5:-$(cd "$(dirname "$0")/.." && pwd)}"
listen="${MUX_IPERF_LISTEN:-34690}" target="${MUX_IPERF_TARGET:-34591}" seconds="${MUX_IPERF_SECONDS:-5}"
dir="${MUX_IPERF_DIR:-/tmp/mux_iperf_certs}"

for port in "$target" "$listen" "$((listen + 1000))"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is in use (someone else's iperf3 or tunnel?): set MUX_IPERF_LISTEN/MUX_IPERF_TARGET" >&2
    exit 2
  fi
done
iperf3 -s -p "$target" -B 127.0.0.1 >/dev/null 2>&1 &
server_pid=$!
bash "$repo/bench/proxies/ts-tunnel.sh" "$listen" "$target" "$dir" "$runtime" "$transport" &
tunnel_pid=$!
cleanup() {
  kill -TERM "$tunnel_pid" 2>/dev/null || true
  kill -TERM "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 1 100); do # the public port opens once the client registered (<= 10 s)
  (exec 3<>"/dev/tcp/127.0.0.1/$listen") 2>/dev/null && break
  sleep 0.1
done
sleep 1

# The tunnel's server and client processes (children of ts-tunnel.sh), for CPU accounting.
procs=$(pgrep -P "$tunnel_pid" | tr '\n' ' ')
ticks() { # user+system clock ticks of each tunnel process
  for p in $procs; do awk '{ printf "%d ", $14 + $15 }' "/proc/$p/stat" 2>/dev/null || printf "0 "; done
}
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
gbps() { # iperf3 -J output on stdin: the receiver's rate
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))'
}
for direction in up down; do
  flag=()
  [[ $direction == down ]] && flag=(-R)
  results=() cpu=()
  for _ in $(seq 1 "$repeats"); do
    before=($(ticks)) started=$(date +%s.%N)
    results+=("$(iperf3 -c 127.0.0.1 -p "$listen" -t "$seconds" -O 1 -P "$streams" "${flag[@]}" -J | gbps)")
    after=($(ticks)) elapsed=$(echo "$(date +%s.%N) - $started" | bc)
    hz=$(getconf CLK_TCK)
    used=0
    for i in "${!after[@]}"; do used=$((used + after[i] - before[i])); done
    # CPU seconds both tunnel processes spent per GB moved (the receiver's count of bytes).
    cpu+=("$(echo "$used / $hz / ($elapsed * ${results[-1]} / 8)" | bc -l | xargs printf "%.2f")")
  done
  echo "$runtime $transport P=$streams $direction: ${results[*]} median $(printf '%s\n' "${results[@]}" | median) Gbit/s (CPU s/GB, both processes: ${cpu[*]})"
done
