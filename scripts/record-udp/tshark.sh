#!/usr/bin/env bash
# tshark.sh CAPTURE... : writes CAPTURE.tshark.tsv (tshark's view of the hellos,
# HelloVerifyRequest and Certificate messages) next to each capture.  tshark
# (4.0) decrypts QUIC Initial packets by itself, so the QUIC ClientHello and
# ServerHello appear as tls.* fields.
set -euo pipefail
for f in "$@"; do
    tshark -r "$f" -2 -T fields -E header=y -E separator=/t -e frame.number -e udp.srcport -e udp.dstport -e udp.stream -e quic.version -e quic.dcid -e quic.scid -e tls.handshake.type -e tls.handshake.extensions_server_name -e tls.handshake.ciphersuite -e tls.handshake.extensions.supported_version -e tls.handshake.extensions_alpn_str -e tls.handshake.ja3_full -e tls.handshake.ja3 -e tls.handshake.ja3s_full -e tls.handshake.ja3s -e dtls.handshake.type -e dtls.handshake.version -e dtls.handshake.extensions_server_name -e dtls.handshake.ciphersuite -e dtls.handshake.ja3_full -e dtls.handshake.ja3 -e dtls.handshake.ja3s_full -e dtls.handshake.ja3s -e x509af.serialNumber -Y "tls.handshake.type==1 || tls.handshake.type==2 || dtls.handshake.type==1 || dtls.handshake.type==2 || dtls.handshake.type==3 || dtls.handshake.type==11" \
        > "$f.tshark.tsv" 2> >(grep -v "Running as user" >&2)
done
