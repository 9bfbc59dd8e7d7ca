"""Field-bug repro: checks that run while a window of a recorded trace replays (`skybench repro`).

CHECKS maps a requirement id to the test in this suite that measures it on a replayed window;
any other check is given as a pytest node id (e.g. a nightly test), run with the window replaying.
"""

CHECKS: dict[str, str] = {
    "FO-1": "test_repro.py::test_failover_in_window",
    "THR-1": "test_repro.py::test_goodput_in_window",
}
