"""Field-bug repro: checks that run while a window of a recorded trace replays (`skybench repro`).

CHECKS maps a requirement id to the test that measures it, by its path under scenarios/:
- a test of this suite (`repro/...`) replays the window itself, once its passenger is ready, and
  measures where the trace says something happens (an outage, a rate);
- a test of another suite (`nightly/...`) runs as it does at night while the window replays in the
  background from the session's start (what the recorded link did to it is the repro).
Any other check is given as a pytest node id and runs the second way.
"""

CHECKS: dict[str, str] = {
    "FO-1": "repro/test_repro.py::test_failover_in_window",
    "FO-2": "repro/test_repro.py::test_failover_in_window",
    "FO-3": "repro/test_repro.py::test_dead_zone_in_window",
    "THR-1": "repro/test_repro.py::test_goodput_in_window",
    "OPS-1": "repro/test_repro.py::test_ops_in_window",
}


def replays_itself(test: str) -> bool:
    return test.startswith("repro/")
