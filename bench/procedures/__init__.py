"""Each requirement's procedure, once, shared by the nightly, certification and repro suites: what
the bench does to a DUT and what it observes on its side of the cables (passengers' flows, the
ground's servers and witnesses, the terminals' ports). The DUT's own account, read through its
management face, is set beside the figures as evidence (claims.py), never instead of them.

- steady.py      the steady state: which WAN new flows leave by, seen at the ground
- failover.py    FO-1, FO-2, FO-3: cut (or an outage a trace replays) and watch
- throughput.py  THR-1 on a replayed window; what a replay's plan says about a window
- portal.py      POR-2, POR-3, POR-4: free-tier rate, bundle cut, bypass attempts
- power.py       PWR-1, PWR-2: supply interruptions and loss, what passengers lost
- claims.py      the DUT's log and WAN table beside the wire, and where they disagree
(OPS-1..3 under passenger saturation: bench/traffic/saturation.py; POR-1 and the passengers'
per-class experience: Locust's passengers, loadgen/.)
"""
