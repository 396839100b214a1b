#!/usr/bin/env python3
"""Derive three captures from real ones in ../loopback (scapy), each showing one thing
that used to break a row. Run from this folder; the outputs are committed.

- openssl-tls12-client-rst.pcap (from openssl-tls12-ecdhe.pcap): the server's flight is
  cut after the ServerHello record into two segments and a client RST is put between
  them, as a client that gives up while the flight is on the wire: the Certificate
  arrives 100 us after the RST, in sequence. Nothing follows.
- openssl-tls12-ack-noise.pcap (same source): two client ACKs carry 2 bytes of noise
  (00 00): the ACK of the SYN-ACK, at the sequence number where the ClientHello then
  starts, and the ACK of the server's flight, where the client's next record starts.
- openssl-hrr-only.pcap (from openssl-hrr.pcap): the first 7 packets, up to the
  client's ACK of the HelloRetryRequest: no second ClientHello, no ServerHello.
"""
from scapy.all import IP, TCP, Raw, rdpcap, wrpcap


def seg(pkt, data, t, seq=None, flags=None):
    p = pkt.copy()
    p[TCP].remove_payload()
    if seq is not None:
        p[TCP].seq = seq
    if flags is not None:
        p[TCP].flags = flags
    if data:
        p[TCP].add_payload(Raw(data))
    del p[IP].len, p[IP].chksum, p[TCP].chksum
    p = p.__class__(bytes(p))
    p.time = t
    return p


src = list(rdpcap("../loopback/openssl-tls12-ecdhe.pcap"))
flight = src[5]  # ServerHello, Certificate, ServerKeyExchange, ServerHelloDone
payload = bytes(flight[TCP].payload)
sh_end = 5 + int.from_bytes(payload[3:5], "big")
client_ack = src[6]  # the client's ACK of the flight
sh = seg(flight, payload[:sh_end], flight.time)
rst = seg(client_ack, b"", flight.time + 0.00005, flags="R")
cert = seg(flight, payload[sh_end:], flight.time + 0.00015, seq=flight[TCP].seq + sh_end)
wrpcap("openssl-tls12-client-rst.pcap", src[:5] + [sh, rst, cert])

noise = b"\x00\x00"
wrpcap(
    "openssl-tls12-ack-noise.pcap",
    src[:2]
    + [seg(src[2], noise, src[2].time)]
    + src[3:6]
    + [seg(client_ack, noise, client_ack.time)]
    + src[7:],
)

wrpcap("openssl-hrr-only.pcap", list(rdpcap("../loopback/openssl-hrr.pcap"))[:7])
