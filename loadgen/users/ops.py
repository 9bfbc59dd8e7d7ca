"""Operational devices on the ops LAN (Locust user classes): POS terminals, CCTV cameras,
conductors' ticket terminals."""

from __future__ import annotations

import random
import secrets
import socket
import struct
import time
import zlib

import gevent
from locust import task

from loadgen.net import client_socket
from loadgen.users.base import LanUser

CCTV_PORT = 5004


class Pos(LanUser):
    abstract = True
    class_name = "pos"

    @task
    def pay(self) -> None:
        """One card transaction over HTTPS (the run's CA, server name checked): authorise, then
        confirm; slower than limit_s counts as a failure (OPS-1)."""
        start = time.monotonic()
        order = "pos-" + secrets.token_hex(6)
        body = f"order={order}&amount={self.options['amount_kzt']}&return=https://pos.{self.domain}/done&card=4242424242424242"
        pay = f"https://pay.{self.domain}"
        with self.client.post(pay + "/checkout/pay", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"},
                              allow_redirects=False, name="pos: authorise", catch_response=True) as r:
            if r.status_code != 303:
                r.failure(f"{self.who}: authorisation answered {r.status_code or getattr(r, 'error', None)}, expected 303")
                return
            r.success()
            payment = r.json()["payment"]
        with self.client.get(pay + f"/api/payments/{payment}", name="pos: confirm", catch_response=True) as r:
            took = time.monotonic() - start
            if r.status_code != 200 or r.json().get("status") != "paid":
                r.failure(f"{self.who}: payment {payment} not confirmed: {r.status_code or getattr(r, 'error', None)}")
                return
            if took > float(self.options["limit_s"]):
                r.failure(f"{self.who}: transaction took {took:.2f} s, limit {self.options['limit_s']} s")
        self.quality("pos_txn_s", took)


class Cctv(LanUser):
    abstract = True
    class_name = "cctv"

    @task
    def stream(self) -> None:
        """chunk_s of constant-bitrate uplink, then ask the ground how much of it arrived."""
        assert self.lan is not None
        stream = zlib.crc32(self.lan.mac.encode())
        stats_url = self.url("ops-api", f"/api/cctv/{stream}")
        before = self.client.get(stats_url, name="cctv: ingest stats")
        if before.status_code != 200:
            return
        size = int(self.options["packet_bytes"])
        rate = float(self.options["kbit"]) * 1000 / 8 / size
        count = int(rate * float(self.options["chunk_s"]))
        try:
            server = (self.resolver.resolve(f"ops-api.{self.domain}"), CCTV_PORT)
        except OSError as exc:
            self.fire("uplink", 0.0, 0, exc)
            return
        sock = client_socket(self.lan, socket.AF_INET, socket.SOCK_DGRAM)
        payload = b"\x00" * (size - 8)
        start = time.monotonic()
        try:
            for seq in range(count):
                sock.sendto(struct.pack(">II", stream, seq) + payload, server)
                gevent.sleep(max(0.0, start + (seq + 1) / rate - time.monotonic()))
        finally:
            sock.close()
        gevent.sleep(0.5)
        after = self.client.get(stats_url, name="cctv: ingest stats")
        if after.status_code != 200:
            return
        received = after.json()["packets"] - before.json()["packets"]
        self.fire("uplink", (time.monotonic() - start) * 1000, count * size)
        self.quality("cctv_loss_pct", 100.0 * max(0, count - received) / count)
        self.quality("cctv_kbit", received * size * 8 / 1000 / float(self.options["chunk_s"]))


class Conductor(LanUser):
    abstract = True
    class_name = "conductor"

    @task(3)
    def lookup(self) -> None:
        self.client.get(self.url("ops-api", f"/api/tickets/{random.randint(1, 10**8)}"), name="conductor: ticket")

    @task(1)
    def validate(self) -> None:
        self.client.post(self.url("ops-api", "/api/validate"), json={"ticket": random.randint(1, 10**8), "car": 7},
                         name="conductor: validate")
