#!/usr/bin/env bash
# Regenerates expected.tsv from the *.pcap files in this directory, using only
# what tshark dissects (no key log: TLS 1.3 handshake messages after the
# ServerHello are encrypted, so their columns are empty / "encrypted").
#
# Usage: ./expected.sh [DIR]   (default: this script's directory)
#
# One line per TCP connection that carries a TLS ClientHello, columns:
#   file               pcap file name
#   tcp_stream         tshark tcp.stream index
#   client_ip client_port server_ip server_port   (client = ClientHello sender)
#   sni                server_name from the (first) ClientHello
#   ch_version         ClientHello legacy_version
#   negotiated_version supported_versions of the last ServerHello, else its
#                      legacy version; empty if there was no ServerHello
#   cipher             cipher suite of the last ServerHello (0xXXXX)
#   ja3 ja3_full       tshark's tls.handshake.ja3 / ja3_full of the ClientHello(s)
#   ja3s ja3s_full     tshark's tls.handshake.ja3s / ja3s_full of the ServerHello(s)
#                      (several hellos in one connection, i.e. after a
#                      HelloRetryRequest, are joined with ';' in order)
#   alpn_offered       ALPN list of the first ClientHello, ',' separated
#   alpn_selected      ALPN in the ServerHello (TLS <= 1.2 only; in TLS 1.3 it
#                      is in the encrypted EncryptedExtensions -> empty)
#   server_cert_sha256 SHA-256 of each DER certificate in the server's
#                      Certificate message, in order, ',' separated
#                      (empty for TLS 1.3 / resumed / failed handshakes)
#   client_cert        yes/no: client sent a non-empty Certificate message;
#                      "encrypted" for TLS 1.3 (can't be seen)
#   alerts             alerts in order as sender:level/description (numeric,
#                      e.g. server:2/40 = fatal handshake_failure);
#                      sender:encrypted for alerts sent under encryption
#                      (e.g. close_notify); "-" if none
#   resumed            yes/no: TLS 1.3: ServerHello has pre_shared_key;
#                      TLS <= 1.2: ServerHello echoes the client's non-empty
#                      session id
#   hello_retry        yes/no: a ServerHello with the HelloRetryRequest random
#   ch_tcp_segments    number of TCP segments the (first) ClientHello spans
#                      (tshark tcp.segment.count, 1 if not reassembled)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DIR="$(cd "${1:-$HERE}" && pwd)"

# reproducible dissection: no personal Wireshark preferences
export WIRESHARK_CONFIG_DIR
WIRESHARK_CONFIG_DIR="$(mktemp -d)"
trap 'rm -rf "$WIRESHARK_CONFIG_DIR"' EXIT

FIELDS=(frame.number tcp.stream ip.src ipv6.src tcp.srcport ip.dst ipv6.dst
        tcp.dstport tcp.segment.count tls.record.content_type tls.handshake.type
        tls.handshake.version tls.handshake.extensions.supported_version
        tls.handshake.ciphersuite tls.handshake.extensions_server_name
        tls.handshake.ja3 tls.handshake.ja3_full tls.handshake.ja3s
        tls.handshake.ja3s_full tls.handshake.extensions_alpn_str
        tls.handshake.certificate tls.handshake.certificates_length
        tls.alert_message.level tls.alert_message.desc tls.handshake.session_id
        tls.handshake.random tls.handshake.extension.type)

dump() { # PCAP: one tab-separated line per packet; multi-valued fields joined by '|'
    local args=()
    local f
    for f in "${FIELDS[@]}"; do args+=(-e "$f"); done
    # the captures use high ports (443xx), so tell tshark that they are TLS
    tshark -n -r "$1" -d 'tcp.port==44300-44600,tls' -Y 'tls' -T fields \
        -E separator=/t -E aggregator='|' -E occurrence=a "${args[@]}" \
        2> >(grep -v 'Running as user' >&2)
}

OUTFILE="$DIR/expected.tsv"
{
    printf '%s\n' "file	tcp_stream	client_ip	client_port	server_ip	server_port	sni	ch_version	negotiated_version	cipher	ja3	ja3_full	ja3s	ja3s_full	alpn_offered	alpn_selected	server_cert_sha256	client_cert	alerts	resumed	hello_retry	ch_tcp_segments"
    for pcap in "$DIR"/*.pcap; do
        dump "$pcap" | python3 -c '
import hashlib, sys
fname = sys.argv[1]
names = sys.argv[2:]
HRR = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c"
def hx(v):  # "0x0303" style
    return "0x%04x" % int(v, 16)
conns = {}
order = []
for raw in sys.stdin:
    vals = raw.rstrip("\n").split("\t")
    p = {n: [x for x in v.split("|") if x != ""] for n, v in zip(names, vals)}
    g = lambda n: p.get(n, [])
    stream = g("tcp.stream")[0]
    src = (g("ip.src") or g("ipv6.src"))[0]
    dst = (g("ip.dst") or g("ipv6.dst"))[0]
    sport, dport = g("tcp.srcport")[0], g("tcp.dstport")[0]
    types = [int(t) for t in g("tls.handshake.type")]
    c = conns.get(stream)
    if c is None:
        if 1 not in types:
            continue  # not a TLS connection we saw start
        c = conns[stream] = dict(client=(src, sport), server=(dst, dport),
            ch=[], sh=[], certs=[], client_cert="no", alerts=[], sni="",
            alpn_offered="", alpn_selected="", ch_sid=None, resumed="no",
            hrr="no", segs="1", ch_version="")
        order.append(stream)
    from_client = (src, sport) == c["client"]
    who = "client" if from_client else "server"
    # alerts: one per content_type 21 record; decoded ones have level/desc
    levels, descs = g("tls.alert_message.level"), g("tls.alert_message.desc")
    n_alert = sum(1 for t in g("tls.record.content_type") if t == "21")
    for i in range(n_alert):
        if i < len(levels):
            c["alerts"].append("%s:%d/%d" % (who, int(levels[i], 0), int(descs[i], 0)))
        else:
            c["alerts"].append(who + ":encrypted")
    if 1 in types and from_client:
        first = not c["ch"]
        c["ch"].append((g("tls.handshake.ja3")[0], g("tls.handshake.ja3_full")[0]))
        if first:
            c["ch_version"] = hx(g("tls.handshake.version")[0])
            c["sni"] = ",".join(g("tls.handshake.extensions_server_name"))
            c["alpn_offered"] = ",".join(g("tls.handshake.extensions_alpn_str"))
            sid = g("tls.handshake.session_id")
            c["ch_sid"] = sid[0].replace(":", "") if sid else ""
            c["segs"] = (g("tcp.segment.count") or ["1"])[0]
    if 2 in types and not from_client:
        sv = g("tls.handshake.extensions.supported_version")
        ver = hx(sv[0]) if sv else hx(g("tls.handshake.version")[0])
        rnd = g("tls.handshake.random")[0].replace(":", "")
        exts = [int(e) for e in g("tls.handshake.extension.type")]
        sid = g("tls.handshake.session_id")
        sid = sid[0].replace(":", "") if sid else ""
        c["sh"].append(dict(ver=ver, cipher=hx(g("tls.handshake.ciphersuite")[0]),
            ja3s=g("tls.handshake.ja3s")[0], ja3s_full=g("tls.handshake.ja3s_full")[0]))
        if rnd == HRR:
            c["hrr"] = "yes"
        else:
            if ver == "0x0304":
                c["resumed"] = "yes" if 41 in exts else "no"
            else:
                c["resumed"] = "yes" if sid and sid == c["ch_sid"] else "no"
            c["alpn_selected"] = ",".join(g("tls.handshake.extensions_alpn_str"))
    if 11 in types:
        certs = [x.replace(":", "") for x in g("tls.handshake.certificate")]
        if from_client:
            if any(int(l) > 0 for l in g("tls.handshake.certificates_length")):
                c["client_cert"] = "yes"
        else:
            c["certs"] += [hashlib.sha256(bytes.fromhex(x)).hexdigest() for x in certs]
for s in order:
    c = conns[s]
    last = c["sh"][-1] if c["sh"] else None
    neg = last["ver"] if last else ""
    client_cert = "encrypted" if neg == "0x0304" else c["client_cert"]
    row = [fname, s, c["client"][0], c["client"][1], c["server"][0], c["server"][1],
           c["sni"], c["ch_version"], neg, last["cipher"] if last else "",
           ";".join(x[0] for x in c["ch"]), ";".join(x[1] for x in c["ch"]),
           ";".join(x["ja3s"] for x in c["sh"]), ";".join(x["ja3s_full"] for x in c["sh"]),
           c["alpn_offered"], c["alpn_selected"], ",".join(c["certs"]), client_cert,
           ",".join(c["alerts"]) or "-", c["resumed"], c["hrr"], c["segs"]]
    print("\t".join(row))
' "$(basename "$pcap")" "${FIELDS[@]}"
    done
} > "$OUTFILE.tmp"
mv "$OUTFILE.tmp" "$OUTFILE"
echo "wrote $OUTFILE ($(($(wc -l < "$OUTFILE") - 1)) connections)"
