#!/usr/bin/env python3
"""A PROXY-protocol TLS client and server pair for tlstap's wrapper captures.

The server reads the PROXY header itself (v1: up to CRLF; v2: 16 bytes, then the
announced length), then runs a TLS server (Python's ssl, i.e. OpenSSL) on the same
socket. The client writes the header, then runs a TLS client:
  - v1: the header in its own segment, then the handshake (plain ssl socket);
  - v2: header + ClientHello in one segment (ssl.MemoryBIO, so the ClientHello
    bytes are known before anything is sent), with an AUTHORITY TLV.
Each side writes one line of application data and closes.

Usage: proxy_pair.py server PORT CERT KEY COUNT | proxy_pair.py client v1|v2 PORT
"""
import socket
import ssl
import struct
import sys

HOST = "127.0.0.1"
SNI = "tlstap.test"
SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v1_header():
    # The real client a load balancer saw (documentation addresses).
    return b"PROXY TCP4 192.0.2.44 198.51.100.7 51234 443\r\n"


def v2_header():
    addrs = socket.inet_pton(socket.AF_INET6, "2001:db8::44") + socket.inet_pton(
        socket.AF_INET6, "2001:db8::7") + struct.pack("!HH", 51235, 443)
    tlv = bytes([0x02]) + struct.pack("!H", len(SNI)) + SNI.encode()
    body = addrs + tlv
    # version 2, command PROXY; AF_INET6 + STREAM.
    return SIG + bytes([0x21, 0x21]) + struct.pack("!H", len(body)) + body


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed inside the PROXY header")
        buf += chunk
    return buf


def read_proxy_header(conn):
    first = read_exact(conn, 1)
    if first == b"P":
        line = first
        while not line.endswith(b"\r\n"):
            line += read_exact(conn, 1)
        return line
    head = first + read_exact(conn, 15)
    assert head[:12] == SIG, head
    return head + read_exact(conn, struct.unpack("!H", head[14:16])[0])


def server(port, cert, key, count):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((HOST, port))
    lsock.listen(4)
    print("listening", flush=True)
    for _ in range(count):
        conn, _ = lsock.accept()
        hdr = read_proxy_header(conn)
        print("server: PROXY header", hdr[:60], flush=True)
        tls = ctx.wrap_socket(conn, server_side=True)
        line = tls.recv(100)
        tls.sendall(b"pong " + line)
        tls.close()


def connect(port):
    """A TLS context that takes the throwaway certificate, and a TCP connection."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return ctx, sock


def client_v1(port):
    ctx, sock = connect(port)
    sock.sendall(v1_header())
    tls = ctx.wrap_socket(sock, server_hostname=SNI)
    tls.sendall(b"ping v1\n")
    print("client:", tls.recv(100), flush=True)
    tls.close()


def client_v2(port):
    ctx, sock = connect(port)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=SNI)
    first = True
    while True:
        try:
            obj.do_handshake()
            done = True
        except ssl.SSLWantReadError:
            done = False
        pending = out.read()
        if pending:
            sock.sendall((v2_header() if first else b"") + pending)
            first = False
        if done:
            break
        data = sock.recv(65536)
        if not data:
            raise EOFError("server closed during the handshake")
        inc.write(data)
    obj.write(b"ping v2\n")
    sock.sendall(out.read())
    while True:
        data = sock.recv(65536)
        if not data:
            break
        inc.write(data)
        try:
            print("client:", obj.read(100), flush=True)
            break
        except ssl.SSLWantReadError:
            continue
    sock.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5]))
    elif sys.argv[2] == "v1":
        client_v1(int(sys.argv[3]))
    else:
        client_v2(int(sys.argv[3]))
