#!/usr/bin/env bash
# check.sh CAPTURE... : per-packet tshark summary used to check the recordings
# (QUIC: long-header packet types, frame types, CRYPTO offsets, TLS handshake
# types; DTLS: record content types, handshake types and fragment offsets), then
# the number of malformed/error-level expert items (should be 0).
set -euo pipefail
for f in "$@"; do
    echo "### $f ($(stat -c %s "$f") bytes)"
    case "$f" in
    *quic*)
        printf 'frame\tlen\tsport\tquic.version\tlong.packet_type\tframe_type\tcrypto.offset\tcrypto.length\ttoken_len\ttls.hs.type\n'
        tshark -r "$f" -2 -T fields -e frame.number -e frame.len -e udp.srcport -e quic.version \
            -e quic.long.packet_type -e quic.frame_type -e quic.crypto.offset -e quic.crypto.length \
            -e quic.token_length -e tls.handshake.type 2>/dev/null ;;
    *)
        printf 'frame\tlen\tsport\trecord.version\tcontent_type\thandshake.type\tfrag.offset\tfrag.length\thandshake.length\n'
        tshark -r "$f" -2 -T fields -e frame.number -e frame.len -e udp.srcport -e dtls.record.version \
            -e dtls.record.content_type -e dtls.handshake.type -e dtls.handshake.fragment_offset \
            -e dtls.handshake.fragment_length -e dtls.handshake.length 2>/dev/null ;;
    esac
    echo "malformed/error expert items: $(tshark -r "$f" -2 -Y '_ws.malformed || _ws.expert.severity==error' 2>/dev/null | wc -l)"
done
