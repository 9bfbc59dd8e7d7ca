"""The lab's DNS client (bench.traffic.dns) against a scripted server on loopback: it sends the
query again when an answer is lost, keeps to its deadline, and takes no answer to another query."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bench.errors import BenchError
from bench.traffic.dns import RETRANSMIT_S, ask_a_record, dns_qname, dns_query, first_a_record

Answer = Callable[[int, bytes], list[bytes]]  # (n-th query, query) -> datagrams to send back


def a_answer(query: bytes, address: str, qid: bytes | None = None) -> bytes:
    end = query.index(b"\x00", 12) + 5
    rr = b"\xc0\x0c" + b"\x00\x01\x00\x01" + (60).to_bytes(4, "big") + b"\x00\x04" + socket.inet_aton(address)
    return (qid or query[:2]) + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + query[12:end] + rr


@pytest.fixture
def dns_server() -> Iterator[Callable[[Answer], tuple[str, int, list[float]]]]:
    """A UDP server on 127.0.0.1 answering as the test scripts it; yields (address, port, arrival times)."""
    sockets: list[socket.socket] = []
    stop = threading.Event()

    def start(answer: Answer) -> tuple[str, int, list[float]]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.05)
        sockets.append(s)
        arrivals: list[float] = []

        def serve() -> None:
            while not stop.is_set():
                try:
                    query, peer = s.recvfrom(2048)
                except TimeoutError:
                    continue
                arrivals.append(time.monotonic())
                for datagram in answer(len(arrivals), query):
                    s.sendto(datagram, peer)

        threading.Thread(target=serve, daemon=True).start()
        return "127.0.0.1", s.getsockname()[1], arrivals

    yield start
    stop.set()
    time.sleep(0.1)
    for s in sockets:
        s.close()


def test_a_lost_query_is_sent_again_and_answered(dns_server) -> None:
    server, port, arrivals = dns_server(lambda n, q: [] if n == 1 else [a_answer(q, "198.18.0.1")])
    t0 = time.monotonic()
    assert ask_a_record(server, "portal.skybench.test", 3.0, port=port) == "198.18.0.1"
    assert len(arrivals) == 2
    assert arrivals[1] - arrivals[0] == pytest.approx(RETRANSMIT_S, abs=0.3)
    assert time.monotonic() - t0 < 3.0


def test_an_answer_to_another_query_is_not_taken(dns_server) -> None:
    server, port, _ = dns_server(lambda n, q: [a_answer(q, "203.0.113.9", qid=bytes([q[0] ^ 0xFF, q[1]])),
                                                a_answer(q, "198.19.0.2")])
    assert ask_a_record(server, "pay.skybench.test", 2.0, port=port) == "198.19.0.2"


def test_no_answer_ends_at_the_deadline_with_every_retransmission(dns_server) -> None:
    server, port, arrivals = dns_server(lambda n, q: [])
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="no DNS answer from 127.0.0.1 for www.skybench.test within 2.5 s"):
        ask_a_record(server, "www.skybench.test", 2.5, port=port)
    assert 2.5 <= time.monotonic() - t0 < 3.0
    assert len(arrivals) == 3  # at 0, 1 and 2 s


def test_the_wire_format_round_trips() -> None:
    query = dns_query("cdn.skybench.test", qid=0x1234)
    assert query[:2] == b"\x12\x34" and dns_qname(query) == "cdn.skybench.test"
    assert first_a_record(a_answer(query, "198.19.0.7"), "cdn.skybench.test") == "198.19.0.7"
    nxdomain = query[:2] + b"\x81\x83" + query[4:]
    with pytest.raises(BenchError, match="no address for cdn.skybench.test .rcode 3"):
        first_a_record(nxdomain, "cdn.skybench.test")
