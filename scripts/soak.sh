#!/usr/bin/env bash
# Soak test for `tlstap live` (not run by CI): replays the Ethernet captures of
# testdata/ in a loop with tcpreplay onto a veth pair whose far end lives in a network
# namespace created here, captures there with tlstap for N minutes, and prints drops
# and memory (RSS) over time, then the totals.
#
#   scripts/soak.sh [MINUTES=2] [MBPS=100]
#
# Needs root, iproute2, tcpreplay (apt-get install tcpreplay) and mergecap. Uses the
# debug binary unless TLSTAP points at another (a release build is what to measure on
# real hardware). Everything it creates (namespace, veth, temp folder) is removed on exit.
set -euo pipefail
. "$(dirname "$0")/lib-veth.sh"
cd "$(dirname "$0")/.."
MINUTES="${1:-2}"
MBPS="${2:-100}"
TLSTAP="${TLSTAP:-${CARGO_TARGET_DIR:-target}/debug/tlstap}"
NS=tlstap-soak
HOST_IF=tsoak0
NS_IF=tsoak1
veth_require soak
[ -x "$TLSTAP" ] || { echo "soak: no tlstap binary at $TLSTAP (cargo build first)" >&2; exit 2; }

WORK="$(mktemp -d)"
REPLAY_PID=""
TLSTAP_PID=""
cleanup() {
  [ -n "$REPLAY_PID" ] && kill "$REPLAY_PID" 2>/dev/null || true
  [ -n "$TLSTAP_PID" ] && kill -9 "$TLSTAP_PID" 2>/dev/null || true
  veth_down
  rm -rf "$WORK"
}
trap cleanup EXIT

# One Ethernet capture of all test traffic (tcpreplay needs Ethernet frames).
files=()
while IFS= read -r f; do
  if tcpdump -r "$f" -c1 2>&1 | grep -q 'link-type EN10MB'; then files+=("$f"); fi
done < <(find testdata -name '*.pcap' -o -name '*.pcapng' | sort)
mergecap -a -F pcap -w "$WORK/all.pcap" "${files[@]}"
echo "soak: ${#files[@]} captures, $(tcpdump -r "$WORK/all.pcap" 2>/dev/null | wc -l) packets per loop, ${MBPS} Mbit/s, ${MINUTES} min"

veth_up
ip netns exec "$NS" ip link set lo up

ip netns exec "$NS" "$TLSTAP" live -i "$NS_IF" --out "$WORK/out" --rotate 30s \
  --stats-interval 10s 2>"$WORK/tlstap.err" &
TLSTAP_PID=$!
for _ in $(seq 100); do grep -q 'capturing on' "$WORK/tlstap.err" && break; sleep 0.1; done

tcpreplay -q -i "$HOST_IF" --mbps="$MBPS" --loop=0 "$WORK/all.pcap" >"$WORK/replay.out" 2>&1 &
REPLAY_PID=$!
start=$(date +%s)
end=$((start + MINUTES * 60))
printf '%6s %s\n' "t(s)" "tlstap health line"
shown=0
while [ "$(date +%s)" -lt "$end" ]; do
  sleep 5
  n=$(grep -c '^tlstap live' "$WORK/tlstap.err" || true)
  if [ "$n" -gt "$shown" ]; then
    grep '^tlstap live' "$WORK/tlstap.err" | tail -n +"$((shown + 1))" | while IFS= read -r l; do
      printf '%6d %s\n' "$(( $(date +%s) - start ))" "${l#tlstap live }"
    done
    shown=$n
  fi
done
kill -INT "$REPLAY_PID"; wait "$REPLAY_PID" 2>/dev/null || true; REPLAY_PID=""
sleep 1
kill -INT "$TLSTAP_PID"
status=0; wait "$TLSTAP_PID" || status=$?; TLSTAP_PID=""
echo "soak: tlstap exit $status; summary:"
sed -n '/^tlstap: 1 file/,$p' "$WORK/tlstap.err"
echo "soak: files: $(find "$WORK/out" -name '*.parquet' | wc -l) parquet, $(find "$WORK/out" -name '.*.tmp' | wc -l) temporary left"
tail -n 3 "$WORK/replay.out" || true
