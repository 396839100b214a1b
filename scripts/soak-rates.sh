#!/usr/bin/env bash
# Highest zero-loss rate of each live capture path (not run by CI).
#
#   scripts/soak-rates.sh [CAPTURE=target/bench-corpus/dense.pcap] [RATES="100 200 400 800 1600 3200"]
#
# For each path (libpcap with the capture thread following the flows; libpcap feeding
# 2 flow workers; AF_PACKET fanout with 2 sockets and 2 flow workers), replays CAPTURE
# once at each rate (Mbit/s, rising) with tcpreplay onto a veth pair whose far end lives
# in a network namespace, where `tlstap live` captures. A rate is kept with zero loss
# when the kernel dropped nothing, tlstap dropped nothing (live.parse_queue_full) and tlstap wrote exactly the handshakes `tlstap read` finds
# in CAPTURE. The first rate that loses anything ends that path's ladder. Prints one
# line per step and a table at the end.
#
# Needs root, iproute2 and tcpreplay (apt-get install tcpreplay). Uses the release
# binary unless TLSTAP points at another (cargo build --release first). Everything it
# creates (namespace, veth, temp folder) is removed on exit.
set -euo pipefail
. "$(dirname "$0")/lib-veth.sh"
cd "$(dirname "$0")/.."
CAP="${1:-target/bench-corpus/dense.pcap}"
RATES="${2:-100 200 400 800 1600 3200}"
TLSTAP="${TLSTAP:-${CARGO_TARGET_DIR:-target}/release/tlstap}"
NS=tlstap-rates
HOST_IF=trate0
NS_IF=trate1
veth_require soak-rates
[ -x "$TLSTAP" ] || { echo "soak-rates: no tlstap binary at $TLSTAP" >&2; exit 2; }
[ -f "$CAP" ] || { echo "soak-rates: no capture $CAP (cargo bench --bench e2e makes the corpora)" >&2; exit 2; }

WORK="$(mktemp -d)"
TLSTAP_PID=""
# A veth delivers through the receiving CPU's backlog queue (netdev_max_backlog, 1000
# by default): at high rates it drops there, before any capture sees the packet.
BACKLOG="$(sysctl -n net.core.netdev_max_backlog)"
cleanup() {
  sysctl -qw net.core.netdev_max_backlog="$BACKLOG" || true
  [ -n "$TLSTAP_PID" ] && kill -9 "$TLSTAP_PID" 2>/dev/null || true
  veth_down
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
sysctl -qw net.core.netdev_max_backlog=300000

# Captures hold frames larger than 1500 bytes (offloaded segments, loopback).
veth_up 65535

written() { sed -n 's/^  written: \([0-9]*\) handshakes.*/\1/p' "$1" | tail -1; }
counter() { awk -v k="$2" '$1 == k { print $2 }' "$1" | tail -1; }

"$TLSTAP" read "$CAP" --out "$WORK/ref" >"$WORK/ref.out" 2>&1 || true
EXPECT="$(written "$WORK/ref.out")"
echo "soak-rates: work folder $WORK"
echo "soak-rates: $CAP: $EXPECT handshakes (tlstap read); rates: $RATES Mbit/s"

# Packets the kernel dropped before any socket saw them (the per-CPU input backlog,
# /proc/net/softnet_stat's second column): loss no capture path can count.
softnet_drops() {
  local sum=0 v
  while read -r _ v _; do sum=$((sum + 16#$v)); done </proc/net/softnet_stat
  echo "$sum"
}

declare -A BEST
PATHS=("pcap|--workers 1" "pcap|--workers 2" "afpacket|--workers 2")
for p in "${PATHS[@]}"; do
  engine="${p%%|*}"; opts="${p#*|}"
  BEST["$p"]="-"
  for rate in $RATES; do
    rm -rf "$WORK/out"
    # shellcheck disable=SC2086
    ip netns exec "$NS" "$TLSTAP" live -i "$NS_IF" --capture "$engine" $opts \
      --out "$WORK/out" --rotate 600s --stats-interval 1s --buffer-mib 256 2>"$WORK/live.err" &
    TLSTAP_PID=$!
    for _ in $(seq 100); do grep -q 'capturing on' "$WORK/live.err" && break; sleep 0.1; done
    softnet_before="$(softnet_drops)"
    rx_before="$(ip netns exec "$NS" cat /sys/class/net/"$NS_IF"/statistics/rx_dropped)"
    tcpreplay -q -i "$HOST_IF" --mbps="$rate" "$CAP" >"$WORK/replay.out" 2>&1 || true
    sleep 3
    kill -INT "$TLSTAP_PID"; wait "$TLSTAP_PID" || true; TLSTAP_PID=""
    cp "$WORK/live.err" "$WORK/live-$engine-${opts// /}-$rate.err"
    got="$(written "$WORK/live.err")"
    last="$(grep '^tlstap live' "$WORK/live.err" | tail -1)"
    kernel="$(sed -n 's/.*dropped: kernel \([0-9]*\).*/\1/p' <<<"$last")"
    fq=""
    pq="$(counter "$WORK/live.err" live.parse_queue_full)"
    cpu="$(grep -o 'in [0-9.]*s' "$WORK/live.err" | tail -1)"
    rxdrop=$(( $(ip netns exec "$NS" cat /sys/class/net/"$NS_IF"/statistics/rx_dropped) - rx_before ))
    softnet=$(( $(softnet_drops) - softnet_before ))
    echo "soak-rates: $engine $opts @ ${rate} Mbit/s: wrote ${got:-0}/$EXPECT, kernel drops ${kernel:-?}, parse queue ${pq:-0}; before any socket: veth rx_dropped $rxdrop, input backlog (softnet) $softnet ($cpu)"
    if [ "${got:-0}" = "$EXPECT" ] && [ "${kernel:-1}" = 0 ] && [ -z "$fq" ] && [ -z "$pq" ]; then
      BEST["$p"]="$rate"
    else
      break
    fi
  done
done
echo
printf '%-24s %s\n' "path" "highest zero-loss rate (Mbit/s)"
for p in "${PATHS[@]}"; do printf '%-24s %s\n' "${p/|/ }" "${BEST[$p]}"; done
