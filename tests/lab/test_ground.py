"""The lab's ground side (bench.ground): up with every lab, whatever the DUT; its resolver answers
the lab's names and nothing else, and the phones' connectivity checks get their "online" answers."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from bench.lab import addressing, netns
from bench.lab.lab import Lab
from bench.traffic.dns import ask_a_record, dns_query, dns_rcode_and_answers

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def bare_lab() -> Iterator[Lab]:
    with Lab() as lab:
        yield lab


def _in_ground(lab: Lab, fn):  # noqa: ANN001, ANN202
    return netns.run_in(lab.ns("ground"), fn)


def test_resolver_answers_every_lab_name(bare_lab: Lab) -> None:
    resolver = str(addressing.RESOLVER)
    for name, ip in addressing.ground_names().items():
        assert _in_ground(bare_lab, lambda n=name: ask_a_record(resolver, n, 2.0)) == str(ip), name


def test_resolver_gives_nxdomain_outside_the_lab(bare_lab: Lab) -> None:
    import socket

    def ask() -> tuple[int, int]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(2)
            s.sendto(dns_query("example.com"), (str(addressing.RESOLVER), 53))
            return dns_rcode_and_answers(s.recv(2048))

    rcode, answers = _in_ground(bare_lab, ask)
    assert (rcode, answers) == (3, 0)  # NXDOMAIN


@pytest.mark.parametrize("host", sorted(addressing.CONNECTIVITY_CHECKS))
def test_connectivity_checks_answer_online(bare_lab: Lab, host: str) -> None:
    path, status, body = addressing.CONNECTIVITY_CHECKS[host]

    def get() -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(str(addressing.CONNECTIVITY_CHECK), 80, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": host})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    assert _in_ground(bare_lab, get) == (status, body)
