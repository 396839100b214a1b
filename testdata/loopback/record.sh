#!/usr/bin/env bash
# Re-records the loopback TLS captures in this directory from real TLS stacks
# (OpenSSL s_server/s_client, GnuTLS, curl, Python ssl) and then regenerates
# expected.tsv via expected.sh.
#
# Usage:  sudo ./record.sh [OUTDIR]      (default OUTDIR: this script's directory)
#         sudo TLSTAP_RECORD_SET=findings ./record.sh   (only the findings scenarios)
#
# TLSTAP_RECORD_SET: all (default), main (the original captures) or findings (the
# weak-configuration captures the findings tests use). The CA certificate (public
# part only) of the recording is kept as ca.pem (all, main) or ca-findings.pem, so
# tests can pass it to --ca-file.
#
# Needs root (tcpdump), and: tcpdump openssl gnutls-bin curl python3 iproute2
# (ss, ip) tshark.  When `unshare --net` works, the whole recording runs in a
# private network namespace whose only interface is lo, so nothing can leave
# the machine and ports cannot clash; otherwise it uses the host's loopback.
#
# Every certificate/key is throwaway and generated into a temp dir that is
# deleted at the end; only the pcaps and the CA certificate are kept.
set -euo pipefail
SET="${TLSTAP_RECORD_SET:-all}"
case "$SET" in all|main|findings) ;; *) echo "unknown TLSTAP_RECORD_SET: $SET" >&2; exit 2;; esac
want() { [[ $SET == all || $SET == "$1" ]]; }

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="$(cd "${1:-$HERE}" && pwd)"

# ---------------------------------------------------------------------------
# Isolate: re-exec inside a fresh network namespace (only "lo" exists there).
if [[ -z "${TLSTAP_IN_NETNS:-}" ]] && unshare --net true 2>/dev/null; then
    exec unshare --net env TLSTAP_IN_NETNS=1 TLSTAP_RECORD_SET="$SET" bash "${BASH_SOURCE[0]}" "$OUT"
fi
if [[ -n "${TLSTAP_IN_NETNS:-}" ]]; then
    ip link set lo up
    echo "recording inside a private network namespace (lo only)"
else
    echo "WARNING: unshare --net unavailable; using the host loopback" >&2
fi

[[ $EUID -eq 0 ]] || { echo "record.sh must run as root (tcpdump, unshare)" >&2; exit 1; }
for tool in tcpdump openssl gnutls-serv gnutls-cli curl python3 ss tshark timeout; do
    command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 1; }
done

TMP="$(mktemp -d /tmp/tlstap-rec.XXXXXX)"
TCPDUMP_PID=""
cleanup() {
    if [[ -n "$TCPDUMP_PID" ]]; then kill -INT "$TCPDUMP_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
cd "$TMP"

# ---------------------------------------------------------------------------
# Throwaway PKI
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; }

echo "== generating keys and certificates in $TMP"
# CA
q openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 \
    -keyout ca.key -out ca.pem -subj "/O=tlstap test/CN=tlstap test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"

# issue NAME BITS SUBJECT EXTS [DIGEST] -> NAME.key NAME.pem (signed by the CA)
issue() {
    local name=$1 bits=$2 subj=$3 exts=$4 md=${5:-sha256}
    printf '%b\n' "$exts" > "$name.ext"
    q openssl req -new -newkey "rsa:$bits" -nodes -keyout "$name.key" \
        -out "$name.csr" -subj "$subj"
    q openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
        -CAcreateserial "-$md" -days 825 -extfile "$name.ext" -out "$name.pem"
}
SRV_EXT='basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth'
issue server 2048 "/O=tlstap test/CN=tlstap.test" \
    "$SRV_EXT\nsubjectAltName=DNS:tlstap.test,DNS:*.tlstap.test"
issue rsa1024 1024 "/O=tlstap test/CN=rsa1024.tlstap.test" \
    "$SRV_EXT\nsubjectAltName=DNS:rsa1024.tlstap.test"
issue sha1 2048 "/O=tlstap test/CN=sha1.tlstap.test" \
    "$SRV_EXT\nsubjectAltName=DNS:sha1.tlstap.test" sha1
q openssl dhparam -out dh1024.pem 1024
issue client 2048 "/O=tlstap test/CN=tlstap test client" \
    'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'

# expired: `openssl ca` lets us pick start/end dates in the past
mkdir -p ca/newcerts && : > ca/index.txt && echo 1000 > ca/serial
cat > ca.cnf <<EOF
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = $TMP/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
default_md = sha256
policy = policy_any
unique_subject = no
[ policy_any ]
organizationName = optional
commonName = supplied
EOF
# issue_dated NAME START END -> NAME.key NAME.pem for NAME.tlstap.test, valid START..END
issue_dated() {
    local name=$1
    printf '%b\n' "$SRV_EXT\nsubjectAltName=DNS:$name.tlstap.test" > "$name.ext"
    q openssl req -new -newkey rsa:2048 -nodes -keyout "$name.key" -out "$name.csr" \
        -subj "/O=tlstap test/CN=$name.tlstap.test"
    q openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key \
        -in "$name.csr" -out "$name.pem" -extfile "$name.ext" \
        -startdate "$2" -enddate "$3"
}
issue_dated expired 20200101000000Z 20210101000000Z
issue_dated future 20350101000000Z 20360101000000Z   # not yet valid

# self-signed
q openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 365 \
    -keyout selfsigned.key -out selfsigned.pem \
    -subj "/CN=selfsigned.tlstap.test" \
    -addext "subjectAltName=DNS:selfsigned.tlstap.test"

openssl x509 -in expired.pem -noout -dates | sed 's/^/   expired cert /'

# ---------------------------------------------------------------------------
# Capture helpers
PORT=44300
next_port() { PORT=$((PORT + 1)); }

wait_listen() { # PORT: wait until something listens on the TCP port
    local i
    for i in $(seq 1 100); do
        if [[ -n "$(ss -Hltn "sport = :$1")" ]]; then return 0; fi
        sleep 0.05
    done
    echo "nothing listening on port $1" >&2; return 1
}

start_capture() { # NAME PORT
    CUR_NAME=$1
    rm -f "$OUT/$1.pcap"
    : > "$TMP/$1.tcpdump.log"
    tcpdump -i lo -s 0 -U --immediate-mode -Z root -w "$OUT/$1.pcap" "tcp port $2" \
        2> "$TMP/$1.tcpdump.log" &
    TCPDUMP_PID=$!
    local i
    for i in $(seq 1 100); do
        grep -q 'listening on' "$TMP/$1.tcpdump.log" && break
        sleep 0.05
    done
    grep -q 'listening on' "$TMP/$1.tcpdump.log" || { echo "tcpdump not ready" >&2; cat "$TMP/$1.tcpdump.log" >&2; exit 1; }
    sleep 0.2
}

stop_capture() {
    sleep 0.5 # let the last FIN/ACKs through
    kill -INT "$TCPDUMP_PID"
    wait "$TCPDUMP_PID" || true
    TCPDUMP_PID=""
    local size
    size=$(stat -c %s "$OUT/$CUR_NAME.pcap")
    printf '   %-28s %6d bytes, %s\n' "$CUR_NAME.pcap" "$size" \
        "$(grep -E 'packets captured' "$TMP/$CUR_NAME.tcpdump.log")"
}

# openssl s_client sending one line of app data, then EOF -> close_notify
LINE='hello tlstap'
ossl_client() { # LOG ARGS...
    local log=$1; shift
    { printf '%s\n' "$LINE"; sleep 1; } |
        timeout 15 openssl s_client -CAfile ca.pem "$@" > "$TMP/$log" 2>&1 || true
}

# run_ossl NAME SERVER_ARGS -- CLIENT_ARGS : one openssl server+client capture
run_ossl() {
    local name=$1; shift
    local sargs=() cargs=()
    while [[ $# -gt 0 && $1 != -- ]]; do sargs+=("$1"); shift; done
    shift
    cargs=("$@")
    next_port
    echo "== $name (port $PORT)"
    start_capture "$name" "$PORT"
    timeout 20 openssl s_server -accept "127.0.0.1:$PORT" -naccept 1 -rev \
        "${sargs[@]}" > "$TMP/$name.server.log" 2>&1 &
    local spid=$!
    wait_listen "$PORT"
    ossl_client "$name.client.log" -connect "127.0.0.1:$PORT" "${cargs[@]}"
    wait "$spid" || true
    stop_capture
}

CHAIN=(-cert server.pem -key server.key -cert_chain ca.pem)

# A small Python TCP proxy, two modes.  "frag": writes the first client flight
# to the server in several small send() calls (TCP_NODELAY + sleeps), then
# relays everything else unchanged.  "strip": removes supported_versions from
# the ClientHello (a version-downgrade man in the middle), then relays.
cat > proxy.py <<'EOF'
import select, socket, sys, time
mode, listen_port, server_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit("client closed early")
        buf += chunk
    return buf
def strip_supported_versions(record):
    # record: 5-byte header, then one ClientHello handshake message
    body = record[9:]
    pos = 2 + 32
    pos += 1 + body[pos]                                  # session id
    pos += 2 + int.from_bytes(body[pos:pos + 2], "big")   # cipher suites
    pos += 1 + body[pos]                                  # compression
    exts, rest = body[pos + 2:], b""
    while len(exts) >= 4:
        typ, n = int.from_bytes(exts[:2], "big"), int.from_bytes(exts[2:4], "big")
        if typ != 43:
            rest += exts[:4 + n]
        exts = exts[4 + n:]
    body = body[:pos] + len(rest).to_bytes(2, "big") + rest
    hs = record[5:6] + len(body).to_bytes(3, "big") + body
    return record[:3] + len(hs).to_bytes(2, "big") + hs
with socket.create_server(("127.0.0.1", listen_port)) as ls:
    ls.settimeout(15)
    c, _ = ls.accept()
    c.settimeout(15)
    hdr = read_exact(c, 5)
    assert hdr[0] == 0x16, "first record is not a handshake record"
    record = hdr + read_exact(c, int.from_bytes(hdr[3:5], "big"))
    s = socket.create_connection(("127.0.0.1", server_port), timeout=15)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode == "strip":
        s.sendall(strip_supported_versions(record))
        print("ClientHello relayed without supported_versions")
    else:
        # split inside the record header, then inside the handshake header,
        # then 64-byte pieces
        cuts, pos = [3, 5, 8], 8
        while pos + 64 < len(record):
            pos += 64
            cuts.append(pos)
        prev = 0
        for cut in cuts + [len(record)]:
            s.sendall(record[prev:cut])
            prev = cut
            time.sleep(0.05)
        print("ClientHello record of %d bytes sent in %d pieces" % (len(record), len(cuts) + 1))
    socks = [c, s]
    while True:
        r, _, _ = select.select(socks, [], [], 15)
        if not r:
            break
        done = False
        for src in r:
            dst = s if src is c else c
            data = src.recv(65536)
            if not data:
                done = True
                break
            dst.sendall(data)
        if done:
            break
    s.close()
    c.close()
EOF

# run_proxied NAME MODE LEG CLIENT_ARGS... : openssl s_client -> proxy.py MODE ->
# openssl s_server; LEG is the captured side: "server" (proxy<->server, on the
# server port) or "client" (client<->proxy, on the proxy port).
run_proxied() {
    local name=$1 mode=$2 leg=$3; shift 3
    next_port
    local proxy_port=$((PORT + 100)) cap_port=$PORT
    [[ $leg == client ]] && cap_port=$proxy_port
    echo "== $name (server port $PORT, proxy port $proxy_port, capturing port $cap_port)"
    start_capture "$name" "$cap_port"
    timeout 20 openssl s_server -accept "127.0.0.1:$PORT" -naccept 1 -rev \
        "${CHAIN[@]}" > "$TMP/$name.server.log" 2>&1 &
    local spid=$!
    timeout 20 python3 proxy.py "$mode" "$proxy_port" "$PORT" > "$TMP/$name.proxy.log" 2>&1 &
    local ppid_=$!
    wait_listen "$PORT"
    wait_listen "$proxy_port"
    ossl_client "$name.client.log" -connect "127.0.0.1:$proxy_port" "$@"
    wait "$ppid_" || true
    # s_server waits for a client that gave up (strip mode): do not wait for it.
    sleep 0.3
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    sed 's/^/   /' "$TMP/$name.proxy.log"
    stop_capture
}

# ---------------------------------------------------------------------------
# Scenarios
if want main; then
run_ossl openssl-tls13 "${CHAIN[@]}" -tls1_3 -alpn http/1.1 -- \
    -tls1_3 -servername tlstap.test -alpn h2,http/1.1

run_ossl openssl-tls12-ecdhe "${CHAIN[@]}" -tls1_2 -- \
    -tls1_2 -servername tlstap.test -cipher ECDHE-RSA-AES128-GCM-SHA256

run_ossl openssl-tls12-rsa-kx "${CHAIN[@]}" -tls1_2 -- \
    -tls1_2 -servername tlstap.test -cipher AES128-SHA

run_ossl openssl-tls10 "${CHAIN[@]}" -tls1 -cipher 'DEFAULT@SECLEVEL=0' -- \
    -tls1 -cipher 'DEFAULT@SECLEVEL=0' -servername tlstap.test

run_ossl openssl-rsa1024 -cert rsa1024.pem -key rsa1024.key -cert_chain ca.pem \
    -tls1_2 -cipher 'DEFAULT@SECLEVEL=1' -- \
    -tls1_2 -cipher 'DEFAULT@SECLEVEL=1' -servername rsa1024.tlstap.test

run_ossl openssl-expired -cert expired.pem -key expired.key -cert_chain ca.pem -tls1_2 -- \
    -tls1_2 -servername expired.tlstap.test

run_ossl openssl-selfsigned -cert selfsigned.pem -key selfsigned.key -tls1_2 -- \
    -tls1_2 -servername selfsigned.tlstap.test

run_ossl openssl-mtls "${CHAIN[@]}" -tls1_2 -Verify 1 -CAfile ca.pem -- \
    -tls1_2 -servername tlstap.test -cert client.pem -key client.key

run_ossl openssl-hrr "${CHAIN[@]}" -tls1_3 -groups P-384 -- \
    -tls1_3 -servername tlstap.test -groups X25519:P-384

# server only has an ECDHE suite, client only offers RSA-kx AES256-SHA:
# the server answers the ClientHello with a fatal handshake_failure alert
run_ossl openssl-alert "${CHAIN[@]}" -tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256 -- \
    -tls1_2 -servername tlstap.test -cipher AES256-SHA

# resumption: two connections, the second one resumes the first (TLS 1.2,
# session ticket + echoed session id)
next_port
name=openssl-resume
echo "== $name (port $PORT)"
start_capture "$name" "$PORT"
timeout 30 openssl s_server -accept "127.0.0.1:$PORT" -naccept 2 -rev \
    "${CHAIN[@]}" -tls1_2 > "$TMP/$name.server.log" 2>&1 &
spid=$!
wait_listen "$PORT"
ossl_client "$name.client1.log" -connect "127.0.0.1:$PORT" -tls1_2 \
    -servername tlstap.test -sess_out "$TMP/resume.sess"
ossl_client "$name.client2.log" -connect "127.0.0.1:$PORT" -tls1_2 \
    -servername tlstap.test -sess_in "$TMP/resume.sess"
wait "$spid" || true
stop_capture
fi

# TLS 1.3 over IPv6 loopback
if want main; then
next_port
name=ipv6-tls13
echo "== $name (port $PORT)"
start_capture "$name" "$PORT"
timeout 20 openssl s_server -accept "[::1]:$PORT" -naccept 1 -rev \
    "${CHAIN[@]}" -tls1_3 > "$TMP/$name.server.log" 2>&1 &
spid=$!
wait_listen "$PORT"
ossl_client "$name.client.log" -connect "[::1]:$PORT" -tls1_3 -servername tlstap.test
wait "$spid" || true
stop_capture
fi

# GnuTLS server + client, TLS 1.3 only.  gnutls-serv has no bind-address
# option (it listens on the wildcard address): inside the private netns that
# is lo only.  It does not exit by itself, so it is stopped after the client.
cat server.pem ca.pem > server-chain.pem
# run_gnutls NAME PRIORITY : one gnutls-serv + gnutls-cli capture, SNI tlstap.test
run_gnutls() {
    local name=$1 prio=$2
    next_port
    echo "== $name (port $PORT)"
    start_capture "$name" "$PORT"
    timeout 20 gnutls-serv --echo -p "$PORT" --x509certfile server-chain.pem \
        --x509keyfile server.key --priority "$prio" \
        > "$TMP/$name.server.log" 2>&1 &
    local spid=$!
    wait_listen "$PORT"
    { printf '%s\n' "$LINE"; sleep 1; } |
        timeout 15 gnutls-cli -p "$PORT" --x509cafile ca.pem \
            --sni-hostname tlstap.test --verify-hostname tlstap.test \
            --alpn http/1.1 --priority "$prio" 127.0.0.1 \
            > "$TMP/$name.client.log" 2>&1 || true
    sleep 0.3
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    stop_capture
}
if want main; then
run_gnutls gnutls-tls13 'NORMAL:-VERS-ALL:+VERS-TLS1.3'

# curl against openssl s_server -www (ALPN http/1.1, TLS 1.3)
next_port
name=curl-tls13
echo "== $name (port $PORT)"
start_capture "$name" "$PORT"
timeout 20 openssl s_server -accept "127.0.0.1:$PORT" -naccept 1 -www \
    "${CHAIN[@]}" -alpn http/1.1 > "$TMP/$name.server.log" 2>&1 &
spid=$!
wait_listen "$PORT"
timeout 15 curl -sS --max-time 10 --cacert ca.pem \
    --resolve "tlstap.test:$PORT:127.0.0.1" "https://tlstap.test:$PORT/" \
    -o "$TMP/$name.body" -w 'client: curl: http %{http_code}, %{size_download} bytes\n' \
    > "$TMP/$name.client.log" 2>&1 || true
wait "$spid" || true
stop_capture

# Python ssl server + client, TLS 1.2 only, SNI, ALPN, CA-verified
cat > py_tls12.py <<'EOF'
import socket, ssl, sys
role, port = sys.argv[1], int(sys.argv[2])
if role == "server":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain("server-chain.pem", "server.key")
    ctx.set_alpn_protocols(["http/1.1"])
    seen = {}
    ctx.sni_callback = lambda s, name, c: seen.setdefault("sni", name) and None
    with socket.create_server(("127.0.0.1", port)) as ls:
        ls.settimeout(15)
        conn, _ = ls.accept()
        with ctx.wrap_socket(conn, server_side=True) as tls:
            line = tls.recv(1024)
            tls.sendall(line[::-1])
            print("server: sni=%s version=%s cipher=%s" % (seen.get("sni"), tls.version(), tls.cipher()[0]))
            tls.unwrap()  # send close_notify, wait for the client's
else:
    ctx = ssl.create_default_context(cafile="ca.pem")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        with ctx.wrap_socket(s, server_hostname="tlstap.test") as tls:
            tls.sendall(b"hello tlstap\n")
            tls.recv(1024)
            print("client: version=%s cipher=%s alpn=%s" % (tls.version(), tls.cipher()[0], tls.selected_alpn_protocol()))
            tls.unwrap()
EOF
next_port
name=python-tls12
echo "== $name (port $PORT)"
start_capture "$name" "$PORT"
timeout 20 python3 py_tls12.py server "$PORT" > "$TMP/$name.server.log" 2>&1 &
spid=$!
wait_listen "$PORT"
timeout 15 python3 py_tls12.py client "$PORT" > "$TMP/$name.client.log" 2>&1 || true
wait "$spid" || true
sed 's/^/   /' "$TMP/$name.client.log" "$TMP/$name.server.log"
stop_capture

# Fragmented ClientHello: a real openssl s_client ClientHello through the proxy
# in "frag" mode.  Only the proxy<->server leg (the s_server port) is captured.
run_proxied fragmented-hello frag server \
    -servername tlstap.test -alpn h2,http/1.1,spdy/3.1,h3,tlstap-test-protocol
fi

# ---------------------------------------------------------------------------
# Findings scenarios: each does one weak thing (see README.md, "findings").
if want findings; then
PORT=44400
# TLS_FALLBACK_SCSV: a TLS 1.2 retry to a TLS 1.3 server, which refuses it with a
# fatal inappropriate_fallback (86) alert.
run_ossl openssl-fallback-scsv "${CHAIN[@]}" -- \
    -tls1_2 -fallback_scsv -servername tlstap.test
# 3DES and RC4 with RSA key exchange: OpenSSL 3 no longer has them, GnuTLS does.
run_gnutls gnutls-3des 'NONE:+VERS-TLS1.2:+3DES-CBC:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+CTYPE-X509'
run_gnutls gnutls-rc4 'NONE:+VERS-TLS1.2:+ARCFOUR-128:+RSA:+SHA1:+COMP-NULL:+SIGN-ALL:+CTYPE-X509'
# DHE with a 1024-bit group.
run_ossl openssl-dhe1024 "${CHAIN[@]}" -tls1_2 -dhparam dh1024.pem \
    -cipher 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0' -- \
    -tls1_2 -servername tlstap.test -cipher 'DHE-RSA-AES128-GCM-SHA256:@SECLEVEL=0'
# No SNI at all.
run_ossl openssl-no-sni "${CHAIN[@]}" -tls1_2 -- -tls1_2 -noservername
# SNI the certificate does not cover.
run_ossl openssl-sni-mismatch "${CHAIN[@]}" -tls1_2 -- -tls1_2 -servername other.example
# Leaf signed with SHA-1 (OpenSSL 3 needs security level 0 to load or accept it).
run_ossl openssl-sha1-leaf -cert sha1.pem -key sha1.key -cert_chain ca.pem -tls1_2 \
    -cipher 'DEFAULT@SECLEVEL=0' -- \
    -tls1_2 -servername sha1.tlstap.test -cipher 'DEFAULT@SECLEVEL=0'
# Leaf whose validity starts in 2035.
run_ossl openssl-not-yet-valid -cert future.pem -key future.key -cert_chain ca.pem -tls1_2 -- \
    -tls1_2 -servername future.tlstap.test
# No renegotiation_info from either side (RFC 5746 turned off in GnuTLS).
run_gnutls gnutls-insecure-reneg 'NORMAL:-VERS-ALL:+VERS-TLS1.2:%DISABLE_SAFE_RENEGOTIATION'
# NULL encryption (TLS_RSA_WITH_NULL_SHA256).
run_gnutls gnutls-null 'NONE:+VERS-TLS1.2:+NULL:+RSA:+SHA256:+COMP-NULL:+SIGN-ALL:+CTYPE-X509'
# A downgrade man in the middle: the proxy strips supported_versions from a TLS
# 1.3 client's hello, the TLS 1.3 server answers TLS 1.2 with the DOWNGRD\x01
# sentinel, and the client aborts (illegal_parameter).  The client<->proxy leg
# is captured: the hello offering TLS 1.3 and the sentinel in one connection.
run_proxied openssl-downgrade-mitm strip client -servername tlstap.test

# A TLS 1.2-only client and a TLS 1.3 server: the ServerHello random ends in the
# RFC 8446 DOWNGRD\x01 sentinel, which is *not* a finding (the client wanted 1.2).
run_ossl openssl-tls12-sentinel "${CHAIN[@]}" -- -tls1_2 -servername tlstap.test
fi

case "$SET" in all|main) CA_OUT=ca.pem ;; *) CA_OUT="ca-$SET.pem" ;; esac
{
    echo "# The throwaway \"tlstap test CA\" of the $(date -u +%F) recording"
    echo "# (TLSTAP_RECORD_SET=$SET; public certificate only), for --ca-file tests."
    openssl x509 -in ca.pem
} > "$OUT/$CA_OUT"

# ---------------------------------------------------------------------------
echo "== client-side summaries"
for f in "$TMP"/*.client*.log; do
    printf '   %-34s %s\n' "$(basename "$f")" \
        "$(grep -hE '^(New|Reused|Verify return code|Verification error|.*alert|client:|- Description|- Status)' "$f" | tr '\n' ' ' | cut -c1-150)"
done

echo "== regenerating expected.tsv"
bash "$HERE/expected.sh" "$OUT"
echo "done."
