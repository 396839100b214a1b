#!/usr/bin/env python3
"""Wrap real TLS/QUIC/DTLS handshakes from testdata/ in each tunnel tlstap decodes.

Usage: scripts/make-tunnels/wrap.py [--check]   (from the repository root)

Reads the plain captures in SOURCES, writes testdata/tunnels/<encap>--<source>.pcap for
every encapsulation in ENCAPS, and with --check compares tshark's count of hellos in
each wrapped file with the plain one (exit 1 on any difference). Deterministic: the
same inputs give the same bytes (timestamps are the originals', no random fields).

Headers are built by hand (struct.pack) where scapy has no layer or its layer would
hide a field under test; see testdata/tunnels/README.md for what each file exercises.
"""

import struct
import subprocess
import sys
from pathlib import Path

from scapy.all import (  # noqa: E402
    GRE,
    IP,
    UDP,
    Ether,
    IPv6,
    Raw,
    rdpcap,
    wrpcap,
)

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "testdata" / "tunnels"

SOURCES = {
    "openssl-tls13": "testdata/loopback/openssl-tls13.pcap",
    "curl-tls13": "testdata/loopback/curl-tls13.pcap",
    "aioquic-v1": "testdata/quic/aioquic-v1.pcap",
    "openssl-dtls12-mtu": "testdata/dtls/openssl-dtls12-mtu.pcap",
}

# Outer endpoints (documentation ranges, RFC 5737 / RFC 3849).
O4_A, O4_B = "192.0.2.1", "192.0.2.2"
O6_A, O6_B = "2001:db8:ffff::1", "2001:db8:ffff::2"
MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def endpoint(frame):
    """(address, port) of a frame's sender."""
    return (frame[IP].src, frame[IP].payload.sport)


def client_side(frame, client):
    """True for frames the client (the first frame's sender) sent: loopback captures
    have one address on both sides, so the port tells them apart."""
    return endpoint(frame) == client


def to_ipv6(frame):
    """The inner IPv4 packet of an Ethernet frame as IPv6 (for 6in4 and Teredo):
    127.0.0.x becomes 2001:db8::x, the transport is kept, checksums recomputed."""
    ip = frame[IP]
    l4 = ip.payload.copy()
    if hasattr(l4, "chksum"):
        l4.chksum = None
    v6 = lambda a: "2001:db8::%d" % int(a.split(".")[-1])  # noqa: E731
    return IPv6(src=v6(ip.src), dst=v6(ip.dst), hlim=ip.ttl, nh=ip.proto) / l4


def outer4(client, proto=None):
    src, dst = (O4_A, O4_B) if client else (O4_B, O4_A)
    ip = IP(src=src, dst=dst, id=0, flags="DF", ttl=64)
    if proto is not None:
        ip.proto = proto
    return Ether(src=MAC_A, dst=MAC_B) / ip


def outer6(client, nh):
    src, dst = (O6_A, O6_B) if client else (O6_B, O6_A)
    return Ether(src=MAC_A, dst=MAC_B, type=0x86DD) / IPv6(src=src, dst=dst, nh=nh, hlim=64)


def udp(client, port, entropy=49152):
    """UDP to a tunnel port; the far end answers from it (VXLAN/Geneve use a hashed
    source port both ways, here fixed)."""
    return UDP(sport=entropy, dport=port, chksum=0)


def vxlan(vni):
    return struct.pack("!BBHI", 0x08, 0, 0, vni << 8)


def geneve_with_options(vni, proto=0x6558):
    # Two options: an 8-byte one (class 0x0108 type 1) and an empty one (class 0xffff).
    opts = struct.pack("!HBB", 0x0108, 0x01, 1) + b"\xde\xad\xbe\xef"
    opts += struct.pack("!HBB", 0xFFFF, 0x80, 0)
    return struct.pack("!BBHI", len(opts) // 4, 0, proto, vni << 8) + opts


def gtpu_ext(teid, payload):
    # E flag; one PDU Session Container (0x85) extension header of one word.
    opt = struct.pack("!HBB", 0, 0, 0x85)
    ext = bytes([1, 0x10, 0x05, 0x00])
    body = opt + ext + payload
    return struct.pack("!BBHI", 0x34, 0xFF, len(body), teid) + body


def erspan2(session):
    # Ver 1, VLAN 0, COS 0, En 0, T 0, session id; reserved, index 0.
    return struct.pack("!HHI", (1 << 12), session & 0x3FF, 0)


def erspan3(session):
    # Ver 2, session id, timestamp, SGT 0, frame type 0 (Ethernet), O=1: platform
    # specific sub-header (8 bytes, platform id 3) follows.
    hdr = struct.pack("!HHIHH", (2 << 12), session & 0x3FF, 0x01020304, 0, 0x0001)
    return hdr + struct.pack("!II", 3 << 26, 0)


def cisco_metadata(sgt):
    # Version 1, length 1, option 0x0001 (SGT), tag; the next ethertype follows.
    return struct.pack("!BBHH", 1, 1, 0x0001, sgt)


def nsh_md2(spi, next_proto):
    # Version 0, TTL 63, length 2 words, MD type 2 (no context), service path.
    return struct.pack("!HBB", (63 << 6) | 2, 0x02, next_proto) + struct.pack("!I", (spi << 8) | 255)


def capwap_80211():
    # Preamble 0; HLEN 2 words, RID 1, WBID 1 (IEEE 802.11), T=1 (native frame).
    w = (2 << 19) | (1 << 14) | (1 << 9) | (1 << 8)
    return struct.pack("!II", w, 0)


def dot11_data(frame, client):
    """An 802.11 data frame (to-DS from the client, from-DS to it) with LLC/SNAP."""
    fc = 0x0008  # type data, subtype 0
    flags = 0x01 if client else 0x02
    bssid, sta, other = b"\x02\x00\x00\x00\x00\x10", b"\x02\x00\x00\x00\x00\x01", b"\x02\x00\x00\x00\x00\x02"
    addrs = bssid + sta + other if client else sta + bssid + other
    hdr = struct.pack("<BB", fc, flags) + b"\x00\x00" + addrs + b"\x00\x00"
    return hdr + b"\xaa\xaa\x03\x00\x00\x00" + struct.pack("!H", frame.type) + bytes(frame.payload)


def tzsp(frame_bytes):
    # Version 1, type 0 (received), encapsulation 1 (Ethernet), END tag.
    return struct.pack("!BBH", 1, 0, 1) + b"\x01" + frame_bytes


def wrap(encap, frame, client):
    """One frame of a plain capture wrapped in `encap`."""
    inner_ip = bytes(frame.payload)  # the IPv4 packet
    fb = bytes(frame)
    if encap == "vxlan":
        return outer4(client) / udp(client, 4789) / Raw(vxlan(100) + fb)
    if encap == "geneve-options":
        return outer4(client) / udp(client, 6081) / Raw(geneve_with_options(7) + fb)
    if encap == "geneve-oneway":
        # Gateway Load Balancer style: client to server in Geneve (VNI 0, options),
        # the answers plain.
        if not client:
            return frame
        return outer4(client) / udp(client, 6081) / Raw(geneve_with_options(0, 0x0800) + inner_ip)
    if encap == "gre-key":
        return outer4(client) / GRE(key_present=1, key=0x1234, proto=0x0800) / Raw(inner_ip)
    if encap == "erspan2":
        return outer4(client) / GRE(seqnum_present=1, seqence_number=1, proto=0x88BE) / Raw(erspan2(5) + fb)
    if encap == "erspan3":
        return outer4(client) / GRE(seqnum_present=1, seqence_number=1, proto=0x22EB) / Raw(erspan3(6) + fb)
    if encap == "gtpu-ext":
        teid = 0x1001 if client else 0x2002
        return outer4(client) / UDP(sport=2152, dport=2152, chksum=0) / Raw(gtpu_ext(teid, inner_ip))
    if encap == "4in6":
        return outer6(client, 4) / Raw(inner_ip)
    if encap == "6in4":
        return outer4(client, 41) / Raw(bytes(to_ipv6(frame)))
    if encap == "teredo":
        v6 = bytes(to_ipv6(frame))
        if client:
            return outer4(client) / UDP(sport=40000, dport=3544, chksum=0) / Raw(v6)
        # From the relay: with an origin indication (port and address obfuscated).
        origin = b"\x00\x00" + struct.pack("!H", 40000 ^ 0xFFFF) + bytes(b ^ 0xFF for b in bytes([192, 0, 2, 1]))
        return outer4(client) / UDP(sport=3544, dport=40000, chksum=0) / Raw(origin + v6)
    if encap == "sgt":
        # Only the client's frames carry the tag (how the Cisco capture looks).
        if not client:
            return frame
        return Ether(src=frame.src, dst=frame.dst, type=0x8909) / Raw(cisco_metadata(10) + struct.pack("!H", 0x0800) + inner_ip)
    if encap == "nsh":
        return Ether(src=MAC_A, dst=MAC_B, type=0x894F) / Raw(nsh_md2(42, 3) + fb)
    if encap == "capwap-80211":
        return outer4(client) / UDP(sport=5247 if not client else 32768, dport=5247 if client else 32768, chksum=0) / Raw(capwap_80211() + dot11_data(frame, client))
    if encap == "tzsp":
        return outer4(client) / UDP(sport=37008, dport=37008, chksum=0) / Raw(tzsp(fb))
    if encap == "vxlan-in-gre":
        inner = IP(src="198.51.100.1" if client else "198.51.100.2", dst="198.51.100.2" if client else "198.51.100.1", id=0, flags="DF") / udp(client, 4789) / Raw(vxlan(200) + fb)
        return outer4(client) / GRE(proto=0x0800) / inner
    raise ValueError(encap)


ENCAPS = [
    "vxlan",
    "geneve-options",
    "geneve-oneway",
    "gre-key",
    "erspan2",
    "erspan3",
    "gtpu-ext",
    "4in6",
    "6in4",
    "teredo",
    "sgt",
    "nsh",
    "capwap-80211",
    "tzsp",
    "vxlan-in-gre",
]


def hellos(path):
    """tshark's ClientHellos and ServerHellos (TLS, QUIC, DTLS), as a count."""
    out = subprocess.run(
        ["tshark", "-o", "capwap.swap_fc:FALSE", "-r", str(path), "-Y", "tls.handshake.type == 1 || tls.handshake.type == 2 || dtls.handshake.type == 1 || dtls.handshake.type == 2", "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(out.split())


def main():
    check = "--check" in sys.argv
    OUT.mkdir(parents=True, exist_ok=True)
    bad = []
    for name, rel in SOURCES.items():
        plain = rdpcap(str(ROOT / rel))
        client = endpoint(plain[0])
        want = hellos(ROOT / rel) if check else None
        for encap in ENCAPS:
            pkts = []
            for f in plain:
                w = wrap(encap, f, client_side(f, client))
                w = w.__class__(bytes(w))  # freeze computed fields
                w.time = f.time
                pkts.append(w)
            out = OUT / f"{encap}--{name}.pcap"
            wrpcap(str(out), pkts, linktype=1)
            if check:
                got = hellos(out)
                status = "ok" if got == want else "DIFFERS"
                print(f"{out.relative_to(ROOT)}: tshark hellos {got} (plain {want}) {status}")
                if got != want:
                    bad.append(out.name)
    if bad:
        print("tshark does not see the same hellos in:", " ".join(bad))
        sys.exit(1)


if __name__ == "__main__":
    main()
