"""A real DNS server on loopback for the custom-domain tests (dnslib), with a zone we edit.

The platform's verification asks it through dnspython exactly as it would ask any
server (``DNS_RESOLVER=127.0.0.1:<port>``): UDP, real packets, NXDOMAIN for names we do
not hold, NOERROR with no answer for a name that has other records only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from dnslib import QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Zone(BaseResolver):
    """TXT and A records by name; change them while the server runs."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.a: dict[str, str] = {}
        self.queries: list[str] = []
        self._lock = threading.Lock()

    def publish_txt(self, name: str, *values: str) -> None:
        with self._lock:
            self.txt[name.lower().rstrip(".")] = list(values)

    def remove(self, name: str) -> None:
        with self._lock:
            self.txt.pop(name.lower().rstrip("."), None)
            self.a.pop(name.lower().rstrip("."), None)

    def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        with self._lock:
            self.queries.append(name)
            txt = list(self.txt.get(name, ()))
            address = self.a.get(name)
        if not txt and address is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype == QTYPE.TXT:
            for value in txt:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(value), ttl=1))
        elif request.q.qtype == QTYPE.A and address is not None:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=1))
        return reply


class RunningDns:
    def __init__(self, zone: Zone, server: DNSServer) -> None:
        self.zone = zone
        self.server = server
        host, port = server.server.server_address[:2]
        #: What DNS_RESOLVER is set to.
        self.address = f"{host}:{port}"


@pytest.fixture
def dns_server() -> Iterator[RunningDns]:
    """A DNS server on 127.0.0.1 (a free UDP port), answering from an editable zone."""
    zone = Zone()
    server = DNSServer(
        zone, address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply,-truncated")
    )
    server.start_thread()
    try:
        yield RunningDns(zone, server)
    finally:
        server.stop()
        server.server.server_close()
