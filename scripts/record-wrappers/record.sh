#!/usr/bin/env bash
# Records tlstap's PROXY-protocol test captures on loopback: a TLS client that
# writes a PROXY v1 or v2 header before its ClientHello, and a server that reads the
# header and then does TLS on the same socket (proxy_pair.py, Python's ssl = OpenSSL).
# Writes tshark's view next to each capture: <capture>.tshark-proxy.tsv (PROXY
# headers, found by tshark's heuristic) and <capture>.tshark-tls.tsv (hellos).
#
# Usage:  sudo scripts/record-wrappers/record.sh [OUTDIR]   (default testdata/wrappers)
# Needs root (tcpdump), tcpdump, tshark, openssl, python3. The certificate is
# throwaway, made in a temp dir and deleted at the end.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
OUT="${1:-$REPO/testdata/wrappers}"
mkdir -p "$OUT"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tlstap.test" \
    -addext "subjectAltName=DNS:tlstap.test" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

record() { # name version port
    local name=$1 ver=$2 port=$3
    tcpdump -i lo -U -w "$OUT/$name.pcap" "tcp port $port" 2>/dev/null &
    local dump=$!
    sleep 1
    python3 "$HERE/proxy_pair.py" server "$port" "$TMP/cert.pem" "$TMP/key.pem" 1 &
    local srv=$!
    sleep 1
    python3 "$HERE/proxy_pair.py" client "$ver" "$port"
    wait "$srv"
    sleep 1
    kill "$dump"
    wait "$dump" || true
    # tshark 4.0 finds PROXY headers heuristically only (no decode-as); its TLS
    # dissector, given the port, reads the hellos in segments of their own.
    tshark -r "$OUT/$name.pcap" -Y proxy -T fields -e frame.number -e proxy.version \
        -e proxy.src.ipv4 -e proxy.src.ipv6 -e proxy.srcport -e proxy.v2.tlv.type \
        -E header=y 2>/dev/null >"$OUT/$name.pcap.tshark-proxy.tsv"
    tshark -r "$OUT/$name.pcap" -d "tcp.port==$port,tls" -Y tls.handshake -T fields \
        -e frame.number -e tls.handshake.type -e tls.handshake.extensions_server_name \
        -e tls.handshake.ciphersuite -E header=y 2>/dev/null >"$OUT/$name.pcap.tshark-tls.tsv"
    echo "== $name"; cat "$OUT/$name.pcap".tshark-*.tsv
}

record proxy-v1 v1 44371
record proxy-v2 v2 44372
