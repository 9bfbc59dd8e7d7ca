"""On the embedded lab: a failed lab test gets a packet capture of the DUT's WAN and LAN and the
DUT's logs for its window; a passed one gets none, and no capture file or process is left behind.

The suite runs in a subprocess (its own pytest session and lab), as `skybench run` runs one.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.lab import addressing
from bench.lab.netns import list_names

pytestmark = pytest.mark.lab

LAB_SUITE = '''
import pytest
from bench.lab import addressing
from bench.lab.reach import EchoServer, tcp_echo_rtts


def test_passes_on_the_lab(lab, dut):
    assert dut.firmware().vendor


def test_fails_after_traffic(lab, dut):
    server = EchoServer(lab.ns("ground"), str(addressing.GROUND_SERVER.ip), port=7011).start()
    try:
        tcp_echo_rtts(lab.ns("passengers"), str(addressing.GROUND_SERVER.ip), 7011, count=20)
    finally:
        server.stop()
    assert False, "deliberate failure after passenger traffic"
'''

LINKTYPE_LINUX_SLL2 = 276


def read_pcap(path: Path) -> tuple[int, list[bytes]]:
    """(link type, packets) of a classic pcap file (tcpdump -w)."""
    data = path.read_bytes()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    packets, offset = [], 24
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
        packets.append(data[offset + 16:offset + 16 + caplen])
        offset += 16 + caplen
    return linktype, packets


def test_failed_lab_test_has_pcap_and_dut_logs(tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_lab_sample.py").write_text(LAB_SUITE)
    run_dir = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(suite), "-q", "-p", "no:cacheprovider", "--rootdir", str(suite),
                           "--results-dir", str(run_dir), "--alluredir", str(run_dir / "allure-results")],
                          cwd=suite, capture_output=True, text=True, timeout=300, env={**os.environ, "SKYBENCH_RUN_DIR": str(run_dir)})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-2000:]
    by_name = {}
    for path in (run_dir / "allure-results").glob("*-result.json"):
        data = json.loads(path.read_text())
        by_name[data["name"]] = data
    assert not by_name["test_passes_on_the_lab"].get("attachments")
    attachments = by_name["test_fails_after_traffic"]["attachments"]
    pcaps = [a for a in attachments if a["type"] == "application/vnd.tcpdump.pcap"]
    assert pcaps, [a["name"] for a in attachments]
    packets = []
    for a in pcaps:
        linktype, found = read_pcap(run_dir / "allure-results" / a["source"])
        assert linktype == LINKTYPE_LINUX_SLL2
        packets += found
    # The passengers' TCP to the ground server crosses the LAN and, NATed, a WAN: both captured on
    # the bench's side of the DUT's cables (the passengers' LAN, the terminals' ports).
    ground = addressing.GROUND_SERVER.ip.packed
    to_ground = [p for p in packets if len(p) >= 40 and p[20 + 9] == 6 and p[20 + 16:20 + 20] == ground]
    sources = {p[20 + 12:20 + 16] for p in to_ground}
    assert addressing.PASSENGER_PROBE.ip.packed in sources, "no passenger-side (LAN) packet to the ground"
    assert len(sources) >= 2, "no WAN-side (NATed) packet to the ground"
    env = (run_dir / "allure-results" / "environment.properties").read_text()
    assert "dut.firmware=skybench-reference-router" in env and "backend userspace" in env or "backend netem" in env
    assert ("firmware", "skybench-reference-router 0.1") in {(l["name"], l["value"]) for l in by_name["test_fails_after_traffic"]["labels"]}
    logs = next(a for a in attachments if a["name"].startswith("DUT logs"))
    assert logs["name"] == "DUT logs (this test's window)"
    maps = {a["name"]: (run_dir / "allure-results" / a["source"]).read_text() for a in attachments
            if "interface index" in a["name"]}
    assert "wifi0" in maps["packet capture passengers: interface index -> name (SLL2 if_index)"]
    assert "lan0" in maps["packet capture term-oneweb: interface index -> name (SLL2 if_index)"]
    # Nothing left: this run's lab is down (other benches' labs may be up), its ring files are gone.
    steps = [json.loads(line) for line in (run_dir / "steps.jsonl").read_text().splitlines()]
    prefix = next(s["args"]["prefix"] for s in steps if s["step"] == "lab up")
    assert not [n for n in list_names() if n.startswith(prefix)]
    assert set(Path(tempfile.gettempdir()).glob(f"skybench-{prefix}-*")) == set()  # ring files, router files
