#!/usr/bin/env bash
# Records tlstap's QUIC and DTLS test captures on loopback from real stacks
# (aioquic client+server, quinn client+server, OpenSSL s_server/s_client -dtls,
# gnutls-serv/gnutls-cli --udp), and writes tshark's view of each capture next
# to it as <capture>.tshark.tsv (see tshark.sh).
#
# Usage:  sudo scripts/record-udp/record.sh [QUIC_OUTDIR] [DTLS_OUTDIR]
#         (defaults: testdata/quic and testdata/dtls of this repository)
#         RECORD_ONLY="aioquic-v1 openssl-dtls10" ... records just those names.
#
# Needs root (tcpdump, unshare) and: tcpdump tshark openssl gnutls-bin python3
# with aioquic (pip install aioquic), iproute2 (ss), and cargo: the quinn-pair
# client/server (quinn-pair/) are built by this script into cargo target dirs
# outside the repository (QUINN_TARGET, default /work/scratch/quinn-target, and
# QUINN_PQ_TARGET, default $QUINN_TARGET-pq).  When `unshare --net`
# works the recording runs in a private network namespace whose only interface
# is lo.  Keys and certificates are throwaway, made in a temp dir, deleted at
# the end.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
mkdir -p "${1:-$REPO/testdata/quic}" "${2:-$REPO/testdata/dtls}"
QOUT="$(cd "${1:-$REPO/testdata/quic}" && pwd)"
DOUT="$(cd "${2:-$REPO/testdata/dtls}" && pwd)"
ONLY="${RECORD_ONLY:-}"
want() { [[ -z $ONLY || " $ONLY " == *" $1 "* ]]; }

# quinn-pair is built twice, in two target dirs outside the repository:
# ring provider (classic X25519) and `--features pq` (aws-lc-rs, X25519MLKEM768).
QUINN_TARGET="${QUINN_TARGET:-/work/scratch/quinn-target}"
QUINN_PQ_TARGET="${QUINN_PQ_TARGET:-$QUINN_TARGET-pq}"
if [[ -z "${TLSTAP_IN_NETNS:-}" ]]; then
    if want quinn; then
        echo "== building quinn-pair (ring) in $QUINN_TARGET"
        (cd "$HERE/quinn-pair" && CARGO_TARGET_DIR="$QUINN_TARGET" cargo build --release --locked -q)
    fi
    if want quinn-pq; then
        echo "== building quinn-pair --features pq (aws-lc-rs) in $QUINN_PQ_TARGET"
        (cd "$HERE/quinn-pair" && CARGO_TARGET_DIR="$QUINN_PQ_TARGET" cargo build --release --locked -q --features pq)
    fi
fi

# Isolate: re-exec inside a fresh network namespace (only "lo" exists there).
if [[ -z "${TLSTAP_IN_NETNS:-}" ]] && unshare --net true 2>/dev/null; then
    exec unshare --net env TLSTAP_IN_NETNS=1 RECORD_ONLY="$ONLY" \
        QUINN_TARGET="$QUINN_TARGET" QUINN_PQ_TARGET="$QUINN_PQ_TARGET" bash "${BASH_SOURCE[0]}" "$QOUT" "$DOUT"
fi
if [[ -n "${TLSTAP_IN_NETNS:-}" ]]; then
    ip link set lo up
    echo "recording inside a private network namespace (lo only)"
else
    echo "WARNING: unshare --net unavailable; using the host loopback" >&2
fi
[[ $EUID -eq 0 ]] || { echo "record.sh must run as root (tcpdump, unshare)" >&2; exit 1; }
for tool in tcpdump tshark openssl gnutls-serv gnutls-cli python3 ss timeout; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done
python3 -c 'import aioquic' || { echo "missing: pip install aioquic" >&2; exit 1; }

TMP="$(mktemp -d /tmp/tlstap-rec-udp.XXXXXX)"
TCPDUMP_PID=""
SERVER_PID=""
cleanup() {
    [[ -n "$TCPDUMP_PID" ]] && kill -INT "$TCPDUMP_PID" 2>/dev/null || true
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; }

echo "== versions"
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    openssl version
    echo "gnutls-cli $(gnutls-cli --version 2>/dev/null | head -1 | awk '{print $NF}')"
    python3 -c 'import sys, aioquic, cryptography; print("Python", sys.version.split()[0], "aioquic", aioquic.__version__, "cryptography", cryptography.__version__)'
    tcpdump --version 2>&1 | head -1
    tshark --version 2>/dev/null | head -1
    if want quinn || want quinn-pq; then grep -A1 -E '^name = "(quinn|quinn-proto|rustls|rcgen|ring|aws-lc-rs|aws-lc-sys)"$' "$HERE/quinn-pair/Cargo.lock" | paste - - - | sed 's/--//' | awk '{print $3, $6}' | tr -d '"'; fi
} | sed 's/^/   /'

# ---------------------------------------------------------------------------
# Throwaway keys: EC P-256 self-signed for QUIC (aioquic), RSA-2048 self-signed
# for DTLS.  (quinn's server makes its own with rcgen.)
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 -days 365 \
    -keyout quic.key -out quic.pem -subj "/O=tlstap test/CN=quic.test" \
    -addext "subjectAltName=DNS:quic.test"
q openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 \
    -keyout dtls.key -out dtls.pem -subj "/O=tlstap test/CN=dtls.test" \
    -addext "subjectAltName=DNS:dtls.test"

# ---------------------------------------------------------------------------
# Capture helpers
wait_udp() { # PORT: wait until something has the UDP port bound
    local i
    for i in $(seq 1 200); do
        if [[ -n "$(ss -Hlun "sport = :$1")" ]]; then return 0; fi
        sleep 0.05
    done
    echo "nothing bound to UDP port $1" >&2; return 1
}

start_capture() { # FILE PORT
    CUR_FILE=$1
    rm -f "$1"
    : > "$TMP/tcpdump.log"
    tcpdump -i lo -s 0 -U --immediate-mode -Z root -w "$1" "udp port $2" 2> "$TMP/tcpdump.log" &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q 'listening on' "$TMP/tcpdump.log" && break
        sleep 0.05
    done
    grep -q 'listening on' "$TMP/tcpdump.log" || { echo "tcpdump not ready" >&2; cat "$TMP/tcpdump.log" >&2; exit 1; }
    sleep 0.2
}

stop_capture() {
    sleep 0.5
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
    printf '   %-32s %6d bytes, %s\n' "$(basename "$CUR_FILE")" "$(stat -c %s "$CUR_FILE")" \
        "$(grep -E 'packets captured' "$TMP/tcpdump.log")"
    "$HERE/tshark.sh" "$CUR_FILE"
}

wait_server() {
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    return $rc
}

# ---------------------------------------------------------------------------
# QUIC: aioquic <-> aioquic (HTTP/3, one GET)
PAIR="$HERE/aioquic_pair.py"
# aioquic NAME PORT "SERVER_ARGS" "CLIENT_ARGS"
aioquic() {
    local name=$1 port=$2 sargs=$3 cargs=$4
    want "$name" || return 0
    echo "== $name (udp $port): server [$sargs] client [$cargs]"
    start_capture "$QOUT/$name.pcap" "$port"
    # shellcheck disable=SC2086
    timeout 20 python3 "$PAIR" server --port "$port" --cert quic.pem --key quic.key $sargs \
        > "$TMP/$name.server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$port"
    # shellcheck disable=SC2086
    timeout 15 python3 "$PAIR" client --port "$port" --ca quic.pem --sni quic.test $cargs \
        > "$TMP/$name.client.log" 2>&1 || { cat "$TMP/$name.client.log" >&2; exit 1; }
    wait_server || { cat "$TMP/$name.server.log" >&2; exit 1; }
    sed 's/^/      /' "$TMP/$name.client.log" | grep -E 'connected|got'
    stop_capture
}

aioquic aioquic-v1          44401 "--versions v1"    "--versions v1 --alpn h3"
aioquic aioquic-large-hello 44402 "--versions v1"    "--versions v1 --alpn h3 --quantum-readiness"
aioquic aioquic-retry       44403 "--versions v1 --retry" "--versions v1 --alpn h3"
aioquic aioquic-v2          44404 "--versions v2,v1" "--versions v2 --alpn h3"
# compatible version negotiation (RFC 9368): the client's first Initial is v1,
# it offers v2 in version_information, the server switches to v2.
aioquic aioquic-v1-to-v2    44405 "--versions v2,v1" "--versions v2,v1 --original-version v1 --alpn h3"

# ---------------------------------------------------------------------------
# QUIC: quinn <-> quinn (rustls)
# quinn NAME PORT BINDIR
quinn() {
    local name=$1 port=$2 bin=$3
    want "$name" || return 0
    echo "== $name (udp $port, $bin)"
    start_capture "$QOUT/$name.pcap" "$port"
    timeout 20 "$bin/server" "127.0.0.1:$port" "$TMP/$name-cert.der" tlstap-echo quinn.test \
        > "$TMP/$name.server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$port"
    timeout 15 "$bin/client" "127.0.0.1:$port" "$TMP/$name-cert.der" quinn.test tlstap-echo \
        > "$TMP/$name.client.log" 2>&1 || { cat "$TMP/$name.client.log" >&2; exit 1; }
    wait_server || { cat "$TMP/$name.server.log" >&2; exit 1; }
    sed 's/^/      /' "$TMP/$name.client.log"
    stop_capture
}
quinn quinn    44411 "$QUINN_TARGET/release"
quinn quinn-pq 44412 "$QUINN_PQ_TARGET/release"

# ---------------------------------------------------------------------------
# DTLS: OpenSSL s_server -listen (HelloVerifyRequest) <-> s_client
LINE='hello tlstap'
SRV_LINE='hello from server'
# ossl_dtls NAME PORT "SERVER_ARGS" "CLIENT_ARGS"
ossl_dtls() {
    local name=$1 port=$2 sargs=$3 cargs=$4
    want "$name" || return 0
    echo "== $name (udp $port): server [$sargs] client [$cargs]"
    start_capture "$DOUT/$name.pcap" "$port"
    # shellcheck disable=SC2086
    # (-rev does not work with DTLS: the server sends its own line from stdin)
    { sleep 1; printf '%s\n' "$SRV_LINE"; sleep 4; } |
        timeout 20 openssl s_server -accept "127.0.0.1:$port" -naccept 1 \
            -cert dtls.pem -key dtls.key $sargs > "$TMP/$name.server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$port"
    # shellcheck disable=SC2086
    { printf '%s\n' "$LINE"; sleep 2.5; } |
        timeout 15 openssl s_client -connect "127.0.0.1:$port" -servername dtls.test \
            -CAfile dtls.pem $cargs > "$TMP/$name.client.log" 2>&1 || true
    wait_server || true
    grep -E '^(Protocol|    Protocol|    Cipher|Verify return code|New,)|^prahs_' "$TMP/$name.client.log" \
        | sed 's/^ */      /' || true
    grep -E 'hello' "$TMP/$name.client.log" | sed 's/^/      client got: /' || true
    grep -E 'hello' "$TMP/$name.server.log" | sed 's/^/      server got: /' || true
    stop_capture
}
# -mtu on both sides: the server must send its Certificate in small fragments
ossl_dtls openssl-dtls12-mtu 44451 "-dtls -listen -mtu 300" "-dtls1_2 -mtu 300"
ossl_dtls openssl-dtls10     44452 "-dtls -listen -cipher DEFAULT@SECLEVEL=0" \
                                   "-dtls1 -cipher DEFAULT@SECLEVEL=0"

# ---------------------------------------------------------------------------
# DTLS: gnutls-serv --udp (cookie exchange) <-> gnutls-cli --udp
if want gnutls-dtls12; then
    name=gnutls-dtls12 port=44461
    echo "== $name (udp $port)"
    start_capture "$DOUT/$name.pcap" "$port"
    timeout 20 gnutls-serv --udp --echo -p "$port" --x509certfile dtls.pem --x509keyfile dtls.key \
        > "$TMP/$name.server.log" 2>&1 &
    SERVER_PID=$!
    wait_udp "$port"
    { printf '%s\n' "$LINE"; sleep 1.5; } |
        timeout 15 gnutls-cli --udp -p "$port" --x509cafile dtls.pem --sni-hostname dtls.test \
            --verify-hostname dtls.test --priority 'NORMAL:-VERS-ALL:+VERS-DTLS1.2' 127.0.0.1 \
            > "$TMP/$name.client.log" 2>&1 || true
    kill "$SERVER_PID" 2>/dev/null || true
    wait_server || true
    grep -E 'Description|hello tlstap' "$TMP/$name.client.log" | sed 's/^/      /' || true
    stop_capture
fi
echo "== done"
