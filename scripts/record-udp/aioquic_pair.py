#!/usr/bin/env python3
"""aioquic client/server pair used by record.sh to make tlstap's QUIC captures.

    aioquic_pair.py server --port N --cert C --key K [--retry] [--versions v1,v2] [--alpn h3]
    aioquic_pair.py client --port N --ca C --sni NAME [--alpn h3[,...]] [--versions v2,v1]
                           [--original-version v1] [--quantum-readiness]

The server answers one HTTP/3 GET (ALPN h3) with a short body, then exits once
the client has closed the connection (or after --timeout seconds).  The client
does the handshake (verifying the server certificate against --ca with --sni as
the name), sends one GET /, reads the answer and closes the connection.

Options that change the ClientHello:
  --quantum-readiness   aioquic's QuicConfiguration.quantum_readiness_test: adds a
                        1200-byte dummy transport parameter (0x0c37), so the
                        ClientHello no longer fits in one Initial packet.
  --versions            QuicConfiguration.supported_versions (first one is used
                        for the first Initial unless --original-version is set).
"""
import argparse
import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, connect, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, ProtocolNegotiated, QuicEvent
from aioquic.quic.packet import QuicProtocolVersion

VERSIONS = {"v1": QuicProtocolVersion.VERSION_1, "v2": QuicProtocolVersion.VERSION_2}


def parse_versions(text):
    return [VERSIONS[v] for v in text.split(",")]


class H3Server(QuicConnectionProtocol):
    done: asyncio.Event

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.h3 = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated):
            print(f"server: ALPN {event.alpn_protocol}", file=sys.stderr)
            if event.alpn_protocol in H3_ALPN:
                self.h3 = H3Connection(self._quic)
        elif isinstance(event, ConnectionTerminated):
            print(f"server: closed ({event.error_code} {event.reason_phrase!r})", file=sys.stderr)
            H3Server.done.set()
        if self.h3 is None:
            return
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_ended:
                print(f"server: request {ev.headers}", file=sys.stderr)
                self.h3.send_headers(ev.stream_id, [(b":status", b"200"),
                                                    (b"content-type", b"text/plain")])
                self.h3.send_data(ev.stream_id, b"hello from aioquic server\n", end_stream=True)
                self.transmit()


class H3Client(QuicConnectionProtocol):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.h3 = H3Connection(self._quic)
        self.response = asyncio.get_event_loop().create_future()
        self.body = b""

    def quic_event_received(self, event: QuicEvent) -> None:
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived):
                print(f"client: response headers {ev.headers}", file=sys.stderr)
            elif isinstance(ev, DataReceived):
                self.body += ev.data
                if ev.stream_ended and not self.response.done():
                    self.response.set_result(self.body)

    async def get(self, authority: str) -> bytes:
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                   (b":authority", authority.encode()), (b":path", b"/"),
                                   (b"user-agent", b"tlstap-recorder/aioquic")], end_stream=True)
        self.transmit()
        return await asyncio.wait_for(self.response, 5)


async def run_server(args):
    cfg = QuicConfiguration(is_client=False, alpn_protocols=args.alpn.split(","),
                            supported_versions=parse_versions(args.versions))
    cfg.load_cert_chain(args.cert, args.key)
    H3Server.done = asyncio.Event()
    server = await serve(args.host, args.port, configuration=cfg,
                         create_protocol=H3Server, retry=args.retry)
    print(f"server: listening on {args.host}:{args.port} retry={args.retry}", file=sys.stderr)
    try:
        await asyncio.wait_for(H3Server.done.wait(), args.timeout)
    finally:
        server.close()


async def run_client(args):
    alpn = args.alpn.split(",")
    cfg = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=args.sni,
                            supported_versions=parse_versions(args.versions),
                            quantum_readiness_test=args.quantum_readiness)
    if args.original_version:
        cfg.original_version = VERSIONS[args.original_version]
    cfg.load_verify_locations(cafile=args.ca)
    async with connect(args.host, args.port, configuration=cfg,
                       create_protocol=H3Client) as client:
        quic = client._quic
        print(f"client: connected, version {quic._version:#x}, "
              f"ALPN {quic.tls.alpn_negotiated}", file=sys.stderr)
        body = await client.get(args.sni)
        print(f"client: got {body!r}", file=sys.stderr)
        client.close()
        await client.wait_closed()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("role", choices=["server", "client"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--alpn", default="h3")
    p.add_argument("--versions", default="v1,v2")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--retry", action="store_true")
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--ca")
    p.add_argument("--sni", default="quic.test")
    p.add_argument("--original-version", choices=list(VERSIONS))
    p.add_argument("--quantum-readiness", action="store_true")
    args = p.parse_args()
    asyncio.run(run_server(args) if args.role == "server" else run_client(args))


if __name__ == "__main__":
    main()
