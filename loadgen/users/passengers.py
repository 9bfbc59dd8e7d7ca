"""Passenger behaviours (Locust user classes): browsing, video, calls, messaging, bulk download,
and the portal journey."""

from __future__ import annotations

import random
import re
import socket
import struct
import time

import gevent
from gevent.pool import Pool
from locust import task

from bench.traffic.journey import JourneyError
from loadgen.ground import content
from loadgen.net import client_socket
from loadgen.users import runtime as rt
from loadgen.users.base import PassengerUser

OBJECT_REF = re.compile(rb'src="(http://[^"]+)"')
CALLS_PORT = 3478


class Browsing(PassengerUser):
    abstract = True
    class_name = "browsing"

    @task
    def visit_page(self) -> None:
        start = time.monotonic()
        page = random.randrange(content.PAGES)
        r = self.client.get(self.url("www", f"/page/{page}"), name="browsing: page")
        if r.status_code != 200 or not r.content:
            return
        refs = [m.decode() for m in OBJECT_REF.findall(r.content)]
        pool = Pool(int(self.options["connections"]))
        results = pool.map(lambda u: self.client.get(u, name="browsing: object").status_code, refs)
        if all(code == 200 for code in results):
            self.quality("page_load_s", time.monotonic() - start)
            self.quality("page_objects", len(refs))


class Video(PassengerUser):
    abstract = True
    class_name = "video"

    @task
    def watch(self) -> None:
        """One viewing session: start-up delay until the first segment, then a buffer model
        (playback drains it in real time; an empty buffer is a stall) with adaptive bitrate."""
        start = time.monotonic()
        if self.client.get(self.url("video", "/hls/master.m3u8"), name="video: playlist").status_code != 200:
            return
        ladder = content.VIDEO_LADDER_KBIT
        kbit = ladder[1]
        if self.client.get(self.url("video", f"/hls/{kbit}/index.m3u8"), name="video: playlist").status_code != 200:
            return
        buffer_s, last, stalls, stall_s, played, rates = 0.0, 0.0, 0, 0.0, False, []
        target = float(self.options["buffer_target_s"])
        for seg in range(int(float(self.options["session_s"]) / content.SEGMENT_S)):
            t0 = time.monotonic()
            r = self.client.get(self.url("video", f"/hls/{kbit}/seg{seg}.ts"), name="video: segment")
            now = time.monotonic()
            if r.status_code != 200:
                break
            rates.append(kbit)
            if not played:
                self.quality("video_startup_s", now - start)
                played, buffer_s = True, content.SEGMENT_S
            else:
                buffer_s -= now - last
                if buffer_s < 0:
                    stalls += 1
                    stall_s += -buffer_s
                    buffer_s = 0.0
                buffer_s += content.SEGMENT_S
            last = now
            throughput_kbit = len(r.content) * 8 / max(now - t0, 1e-3) / 1000
            kbit = max([k for k in ladder if k <= 0.8 * throughput_kbit] or [ladder[0]])
            if buffer_s > target:
                gevent.sleep(buffer_s - target)
        if played:
            self.quality("video_rebuffer_count", stalls)
            self.quality("video_rebuffer_s", stall_s)
            self.quality("video_mean_kbit", sum(rates) / len(rates))


class Call(PassengerUser):
    abstract = True
    class_name = "call"

    @task
    def call(self) -> None:
        """A call's media over UDP: `packet_rate` datagrams a second, each echoed by the ground;
        jitter per RFC 3550 over the round-trip times, loss = echoes that never came."""
        assert self.lan is not None
        rate, size = int(self.options["packet_rate"]), int(self.options["packet_bytes"])
        count = int(float(self.options["call_s"]) * rate)
        try:
            server = (self.resolver.resolve(f"calls.{self.domain}"), CALLS_PORT)
        except OSError as exc:
            self.fire("media", 0.0, 0, exc)
            return
        sock = client_socket(self.lan, socket.AF_INET, socket.SOCK_DGRAM)
        rtts: dict[int, float] = {}
        pad = b"\x00" * max(0, size - 12)

        def receive() -> None:
            while True:
                data = sock.recv(4096)
                seq, sent = struct.unpack(">Id", data[:12])
                rtts[seq] = (time.monotonic() - sent) * 1000

        receiver = gevent.spawn(receive)
        try:
            start = time.monotonic()
            for seq in range(count):
                sock.sendto(struct.pack(">Id", seq, time.monotonic()) + pad, server)
                gevent.sleep(max(0.0, start + (seq + 1) / rate - time.monotonic()))
            gevent.sleep(1.0)  # late echoes
        finally:
            receiver.kill()
            sock.close()
        ordered = [rtts[s] for s in sorted(rtts)]
        jitter = 0.0
        for a, b in zip(ordered, ordered[1:]):
            jitter += (abs(b - a) - jitter) / 16
        loss = 100.0 * (1 - len(rtts) / count) if count else 0.0
        median = sorted(ordered)[len(ordered) // 2] if ordered else 0.0
        self.fire("media", median, len(rtts) * size, None if ordered else OSError(f"{self.who}: no echo from the call server"))
        self.quality("call_jitter_ms", jitter)
        self.quality("call_loss_pct", loss)
        if ordered:
            self.quality("call_rtt_ms", median)


class Messaging(PassengerUser):
    abstract = True
    class_name = "messaging"
    last_seen = 0

    @task(3)
    def read(self) -> None:
        r = self.client.get(self.url("chat", f"/api/messages?since={self.last_seen}"), name="messaging: poll")
        if r.status_code == 200 and r.content:
            self.last_seen = int(r.json().get("last", self.last_seen))

    @task(1)
    def send(self) -> None:
        body = "x" * random.randint(20, 2000)
        self.client.post(self.url("chat", "/api/messages"), data=body, name="messaging: send")


class Bulk(PassengerUser):
    abstract = True
    class_name = "bulk"

    @task
    def download(self) -> None:
        n = int(self.options["bytes"])
        start = time.monotonic()
        r = self.client.get(self.url("files", f"/file/{n}"), name="bulk: download")
        if r.status_code == 200:
            self.quality("bulk_mbit_s", len(r.content) * 8 / max(time.monotonic() - start, 1e-3) / 1e6)


class Portal(PassengerUser):
    abstract = True
    class_name = "portal"
    exhausted = False

    def join(self) -> None:
        self.portal_login(self.options.get("package"))

    @task
    def use(self) -> None:
        """With a bundle and exhaust_quota: download until the transfer rate falls to the free
        tier's (the bundle ran out, seen on the wire), bounded by max_bytes; otherwise the phone's
        connectivity check now and then (captive again means the session was lost)."""
        assert rt.runtime is not None
        if not (self.options.get("exhaust_quota") and self.options.get("package")) or self.exhausted:
            try:
                state = self.captive_check()
            except (JourneyError, OSError) as exc:
                self.fire("captive check", 0.0, 0, exc)
                return
            if state != "online":
                self.fire("session lost", 0.0, 0, RuntimeError(f"{self.who}: the captive check says captive again"))
            return
        free = rt.runtime.plan.portal.free_tier if rt.runtime.plan.portal else None
        slow_bps = 3 * free.down_kbit * 1000 if free else 0
        got, limit, chunk = 0, int(self.options["max_bytes"]), 20_000_000
        while got < limit:
            start = time.monotonic()
            r = self.client.get(self.url("files", f"/file/{chunk}"), name="portal: use quota")
            size = len(r.content or b"")
            got += size
            if slow_bps and size * 8 / max(time.monotonic() - start, 1e-3) < slow_bps:
                self.exhausted = True
                self.quality("quota_exhausted_after_bytes", got)
                return
