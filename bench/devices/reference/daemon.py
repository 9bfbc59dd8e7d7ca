"""routerd: the reference router's control plane, one process inside the router namespace.

Health probes and failover (bench.devices.reference.failover), the captive portal and status API
(portal), sessions and quotas (sessions). The data path it steers is the kernel's: nftables
marks/NAT/quotas, per-WAN routing tables, HTB. Started by the bench with lab.popen:

    python -m bench.devices.reference.daemon <file_prefix>.plan.json
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pyroute2 import Conntrack, IPRoute

from bench.devices.reference import flash, nftables, routing
from bench.devices.reference.eventlog import EventLog
from bench.devices.reference.config import HealthConfig
from bench.devices.reference.failover import Event, FailoverPolicy
from bench.devices.reference.management import PORT as MANAGEMENT_PORT
from bench.devices.reference.management import management_handler
from bench.devices.reference.nftables import TABLE
from bench.devices.reference.plan import RouterPlan
from bench.devices.reference.portal import Orders, portal_handler
from bench.devices.reference.probes import Prober
from bench.devices.reference.sessions import SessionTable
from bench.httpserver import LabHTTPServer

CLASS_PORTS = {"passengers": "passenger_if", "ops": "ops_if"}


class RouterDaemon:
    def __init__(self, plan: RouterPlan) -> None:
        self.plan = plan
        self.started = time.time()
        self.events = EventLog(plan.state_log)
        self._flash_lock = threading.Lock()
        self.sessions = SessionTable(plan, on_change=self.save_flash)
        self.orders = Orders()
        self._lock = threading.Lock()
        order = {tc: plan.class_order(tc) for tc in CLASS_PORTS}
        self.policy = FailoverPolicy(plan.config.health, order, now=self.started)
        h = plan.config.health
        self.prober = Prober(plan.wans, h.probe_port, h.interval_s, h.timeout_s, self._on_probe)
        self.server = LabHTTPServer(("0.0.0.0", plan.portal_port), portal_handler(self))
        # The management API (REST driver contract) on the ops LAN only, as on a real router.
        self.management = LabHTTPServer((plan.ops_address, MANAGEMENT_PORT), management_handler(self))

    # -- failover -------------------------------------------------------------------------------
    def _on_probe(self, results: dict[str, tuple[bool, float | None]], now: float) -> None:
        with self._lock:
            events = self.policy.observe_round(results, now)
            for ev in events:
                self._log(ev)
            if any(ev.event == "switch" for ev in events):
                self._apply_active(now)

    def _log(self, ev: Event) -> None:
        flaw = self.plan.config.logging
        if ev.event == "wan_down" and not flaw.wan_down_logged:
            return
        if ev.event == "wan_down" and flaw.wan_down_delay_s > 0:
            timer = threading.Timer(flaw.wan_down_delay_s, lambda: self.events.write(ev.event, **ev.data))
            timer.daemon = True
            timer.start()
            return
        self.events.write(ev.event, time_s=ev.time, **ev.data)

    def _apply_active(self, now: float) -> None:
        """Point each class's new flows at its active WAN, the main table at the passengers',
        and end the flows still pinned to WANs that are down (their NAT cannot move)."""
        marks = {getattr(self.plan, port): self.plan.wan(self.policy.active[tc]).mark  # type: ignore[arg-type]
                 for tc, port in CLASS_PORTS.items() if self.policy.active[tc]}
        elements = ", ".join(f'"{ifname}" : {mark:#x}' for ifname, mark in marks.items())
        nftables.apply_here(f"flush map ip {TABLE} class_mark\nadd element ip {TABLE} class_mark {{ {elements} }}\n")
        main = self.policy.active["passengers"] or self.policy.active["ops"]
        if main:
            with IPRoute() as ipr:
                routing.set_main_default(ipr, self.plan.wan(main))
        down_marks = [w.mark for w in self.plan.wans if self.policy.wans[w.name].state == "down"]
        flushed = self._flush_flows(down_marks)
        self.events.write("applied", active=dict(self.policy.active), flows_flushed=flushed, took_s=round(time.time() - now, 6))

    @staticmethod
    def _flush_flows(marks: list[int]) -> int:
        if not marks:
            return 0
        count = 0
        ct = Conntrack()
        try:
            for mark in marks:
                for entry in list(ct.dump_entries(mark=mark)):
                    try:
                        ct.delete(entry)
                        count += 1
                    except Exception:  # noqa: BLE001 - the flow ended meanwhile
                        pass
        finally:
            ct.close()
        return count

    # -- status ---------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        with self._lock:
            wans = {
                w.name: {**self.policy.wans[w.name].as_dict(), "ifname": w.ifname, "address": w.address,
                         "priority": w.priority, "mark": w.mark, "table": w.table, "uplink_kbit": w.uplink_kbit}
                for w in self.plan.wans
            }
            active = dict(self.policy.active)
            switches = [ev.as_dict() for ev in self.policy.switches]
        return {
            "version": self.plan.config.version,
            "time": time.time(),
            "started": self.started,
            "wans": wans,
            "active": active,
            "switches": switches,
            "health": self.policy.health.model_dump(),
            "detection_s": self.policy.health.detection_s,
            "clients": self._clients(),
            "sessions": self.sessions.snapshot(),
        }

    def _clients(self) -> list[dict[str, Any]]:
        """DHCP leases with each client's forwarded bytes (the kernel's per-client counters)."""
        leases = self.plan.file("dnsmasq.leases")
        up, down = nftables.client_bytes("client_up"), nftables.client_bytes("client_down")
        out = []
        if leases.exists():
            for line in leases.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 4:
                    ip = parts[2]
                    out.append({"expires": int(parts[0]), "mac": parts[1], "ip": ip, "hostname": None if parts[3] == "*" else parts[3],
                                "bytes_up": up.get(ip, 0), "bytes_down": down.get(ip, 0)})
        return out

    # -- management ---------------------------------------------------------------------------
    def apply_health(self, changes: dict[str, Any]) -> HealthConfig:
        """New probe thresholds at once (REST `PUT /api/v1/config` with health.* keys)."""
        with self._lock:
            health = HealthConfig.model_validate({**self.policy.health.model_dump(), **changes})
            self.policy.health = health
            self.prober.interval_s, self.prober.timeout_s = health.interval_s, health.timeout_s
        self.events.write("config_applied", health=health.model_dump())
        return health

    def soft_reboot(self) -> None:
        """What a reboot does to state: every session ends, WAN health starts afresh (the data
        path's rules, routes and HTB stay: they are the configuration, not state)."""
        with self._lock:
            self.started = time.time()  # a rebooted router's uptime starts again
            self.sessions.end_all()
            self.orders.pending.clear()
            order = {tc: self.plan.class_order(tc) for tc in CLASS_PORTS}
            self.policy = FailoverPolicy(self.policy.health, order, now=time.time())
            self._apply_active(time.time())
        self.events.write("reboot")

    # -- flash ----------------------------------------------------------------------------------
    def save_flash(self) -> None:
        """Write the sessions and quota counters to flash (bench.devices.reference.flash)."""
        with self._flash_lock:
            flash.write(self.plan.flash_file, flash.FlashState(written=time.time(), sessions=self.sessions.to_flash()))

    def restore_flash(self) -> None:
        """At boot: the sessions and quota counters as the flash last had them."""
        state = flash.read(self.plan.flash_file)
        if state is None:
            self.events.write("flash_empty", file_present=self.plan.flash_file.exists())
            return
        self.sessions.restore(state.sessions)
        self.events.write("flash_restored", sessions=len(state.sessions), written=state.written)

    def _save_periodically(self, stop: threading.Event) -> None:
        while not stop.wait(self.plan.config.power.flash_save_s):
            try:
                self.save_flash()
            except Exception as exc:  # noqa: BLE001 - a failed write is retried at the next period
                self.events.write("flash_write_failed", error=str(exc))

    # -- life -----------------------------------------------------------------------------------
    def run(self) -> None:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        self.restore_flash()
        self.events.write("started", version=self.plan.config.version, active=dict(self.policy.active))
        threading.Thread(target=self._save_periodically, args=(stop,), daemon=True, name="flash").start()
        self.prober.start()
        threading.Thread(target=self.server.serve_forever, daemon=True, name="portal").start()
        threading.Thread(target=self.management.serve_forever, daemon=True, name="management").start()
        stop.wait()
        self.events.write("stopping")
        self.save_flash()  # a clean shutdown writes the flash, as firmware does
        self.server.shutdown()
        self.management.shutdown()
        self.prober.stop()
        self.events.close()


def main(argv: list[str]) -> None:
    plan = RouterPlan.model_validate_json(Path(argv[1]).read_text())
    RouterDaemon(plan).run()


if __name__ == "__main__":
    main(sys.argv)
