"""The load generator's origin servers: one gevent process in the lab's ground namespace.

    www      :80   web pages (HTML referencing 20-80 objects on the CDN)      GET /page/<n>
    cdn      :80   page objects                                                GET /obj/<bytes>
    video    :80   HLS-like ladder 0.5-5 Mbit/s                                GET /hls/master.m3u8,
                                                                              /hls/<kbit>/index.m3u8, /hls/<kbit>/seg<n>.ts
    files    :80   large downloads                                             GET /file/<bytes>
    chat     :80   messaging                                                   POST /api/messages, GET /api/messages?since=
    calls    UDP   echo for real-time calls (the client timestamps, the server echoes)      :3478
    ops-api  :80   conductors' terminal API, CCTV ingest statistics           GET /api/tickets/<n>, POST /api/validate,
                                                                              GET /api/cctv/<stream>
             UDP   CCTV ingest (counts datagrams per stream: loss = sent - received)        :5004
    pay      :443  HTTPS in front of the reference router's payment provider (pay:80), with a
                   certificate from the CA the bench generated for this run (POS terminals)

    python -m loadgen.ground.server CONFIG.json      (prints "ground origin ready" when serving)

gevent because it serves thousands of keep-alive connections from one core without threads, and
it is already the load generator's runtime (Locust).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import http.client  # noqa: E402 - after monkey patching, on purpose
import json  # noqa: E402
import signal  # noqa: E402
import ssl  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import parse_qs  # noqa: E402

import gevent  # noqa: E402
from gevent.pywsgi import WSGIServer  # noqa: E402
from gevent.server import DatagramServer  # noqa: E402

from loadgen.ground import content  # noqa: E402
from loadgen.ground.config import GroundConfig  # noqa: E402

StartResponse = Callable[..., Any]
CALLS_PORT = 3478
CCTV_PORT = 5004


def _reply(start: StartResponse, status: str, body: bytes, ctype: str = "application/json", extra: list[tuple[str, str]] | None = None) -> list[bytes]:
    start(status, [("Content-Type", ctype), ("Content-Length", str(len(body))), *(extra or [])])
    return [body]


def _stream(start: StartResponse, n: int, ctype: str = "application/octet-stream") -> Iterable[bytes]:
    start("200 OK", [("Content-Type", ctype), ("Content-Length", str(n))])

    def chunks() -> Iterator[bytes]:
        left = n
        while left > 0:
            k = min(left, len(content.CHUNK))
            yield content.CHUNK[:k] if k < len(content.CHUNK) else content.CHUNK
            left -= k

    return chunks()


def _int_tail(path: str, prefix: str) -> int | None:
    try:
        value = int(path[len(prefix):].split("?")[0])
    except ValueError:
        return None
    return value if 0 <= value <= 20_000_000_000 else None


NOT_FOUND = b'{"error": "not found"}'


def www_app(cfg: GroundConfig) -> Callable[..., Iterable[bytes]]:
    cdn = cfg.host("cdn")

    def app(env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = env["PATH_INFO"]
        if path.startswith("/page/") and (n := _int_tail(path, "/page/")) is not None:
            return _reply(start, "200 OK", content.page_html(n % content.PAGES, cdn), "text/html")
        if path == "/":
            return _reply(start, "200 OK", b"<html><body>skybench www</body></html>", "text/html")
        return _reply(start, "404 Not Found", NOT_FOUND)

    return app


def bytes_app(prefix: str) -> Callable[..., Iterable[bytes]]:
    def app(env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = env["PATH_INFO"]
        if path.startswith(prefix) and (n := _int_tail(path, prefix)) is not None:
            return _stream(start, n)
        return _reply(start, "404 Not Found", NOT_FOUND)

    return app


def video_app(cfg: GroundConfig) -> Callable[..., Iterable[bytes]]:
    host = cfg.host("video")

    def app(env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        parts = env["PATH_INFO"].strip("/").split("/")
        if parts == ["hls", "master.m3u8"]:
            return _reply(start, "200 OK", content.master_playlist(host).encode(), "application/vnd.apple.mpegurl")
        if len(parts) == 3 and parts[0] == "hls" and parts[1].isdigit() and int(parts[1]) in content.VIDEO_LADDER_KBIT:
            kbit = int(parts[1])
            if parts[2] == "index.m3u8":
                return _reply(start, "200 OK", content.media_playlist(kbit).encode(), "application/vnd.apple.mpegurl")
            if parts[2].startswith("seg") and parts[2].endswith(".ts"):
                return _stream(start, content.segment_bytes(kbit), "video/mp2t")
        return _reply(start, "404 Not Found", NOT_FOUND)

    return app


class ChatRoom:
    def __init__(self) -> None:
        self.messages: deque[dict[str, Any]] = deque(maxlen=1000)
        self.seq = 0

    def app(self, env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        if env["PATH_INFO"] != "/api/messages":
            return _reply(start, "404 Not Found", NOT_FOUND)
        if env["REQUEST_METHOD"] == "POST":
            body = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
            self.seq += 1
            self.messages.append({"id": self.seq, "time": time.time(), "size": len(body)})
            return _reply(start, "201 Created", json.dumps({"id": self.seq}).encode())
        since = int(parse_qs(env.get("QUERY_STRING", "")).get("since", ["0"])[0] or 0)
        newer = [m for m in list(self.messages)[-50:] if m["id"] > since]
        return _reply(start, "200 OK", json.dumps({"messages": newer, "last": self.seq}).encode())


class CctvIngest(DatagramServer):
    """Counts datagrams and bytes per stream (the first 4 bytes of each datagram name it)."""

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address)
        self.streams: dict[int, list[int]] = {}

    def handle(self, data: bytes, address: Any) -> None:  # noqa: ARG002 - gevent's signature
        if len(data) >= 4:
            stream = struct.unpack(">I", data[:4])[0]
            counts = self.streams.setdefault(stream, [0, 0])
            counts[0] += 1
            counts[1] += len(data)


class CallEcho(DatagramServer):
    def handle(self, data: bytes, address: Any) -> None:
        self.socket.sendto(data, address)


def ops_app(cctv: CctvIngest) -> Callable[..., Iterable[bytes]]:
    def app(env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = env["PATH_INFO"]
        if path.startswith("/api/tickets/"):
            ticket = path.rsplit("/", 1)[1]
            return _reply(start, "200 OK", json.dumps({"ticket": ticket, "train": "3/4", "car": 7, "seat": 42, "valid": True}).encode())
        if path == "/api/validate" and env["REQUEST_METHOD"] == "POST":
            env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0))
            return _reply(start, "200 OK", b'{"valid": true}')
        if path.startswith("/api/cctv/") and (n := _int_tail(path, "/api/cctv/")) is not None:
            packets, nbytes = cctv.streams.get(n, [0, 0])
            return _reply(start, "200 OK", json.dumps({"stream": n, "packets": packets, "bytes": nbytes}).encode())
        return _reply(start, "404 Not Found", NOT_FOUND)

    return app


def payment_proxy(payment_address: str) -> Callable[..., Iterable[bytes]]:
    """HTTPS in front of the payment provider: forwards each request to it over plain HTTP."""

    def app(env: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        body = env["wsgi.input"].read(int(env.get("CONTENT_LENGTH") or 0)) if env["REQUEST_METHOD"] == "POST" else None
        target = env["PATH_INFO"] + (f"?{env['QUERY_STRING']}" if env.get("QUERY_STRING") else "")
        conn = http.client.HTTPConnection(payment_address, 80, timeout=10)
        try:
            headers = {"Content-Type": env.get("CONTENT_TYPE") or "application/x-www-form-urlencoded", "Host": env.get("HTTP_HOST", "")}
            conn.request(env["REQUEST_METHOD"], target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except OSError as exc:
            return _reply(start, "502 Bad Gateway", json.dumps({"error": f"payment provider unreachable: {exc}"}).encode())
        finally:
            conn.close()
        extra = [("Location", v) for k, v in resp.getheaders() if k.lower() == "location"]
        return _reply(start, f"{resp.status} {resp.reason}", data, resp.getheader("Content-Type") or "application/json", extra)

    return app


def serve(cfg: GroundConfig) -> list[Any]:
    chat = ChatRoom()
    cctv = CctvIngest((cfg.address("ops-api"), CCTV_PORT))
    servers: list[Any] = [cctv, CallEcho((cfg.address("calls"), CALLS_PORT))]
    apps = {
        "www": www_app(cfg),
        "cdn": bytes_app("/obj/"),
        "video": video_app(cfg),
        "files": bytes_app("/file/"),
        "chat": chat.app,
        "ops-api": ops_app(cctv),
    }
    for name, app in apps.items():
        servers.append(WSGIServer((cfg.address(name), 80), app, log=None, error_log=None, backlog=4096))
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cfg.cert_file, cfg.key_file)
    servers.append(WSGIServer((cfg.payment_address, 443), payment_proxy(cfg.payment_address), log=None, error_log=None,
                              ssl_context=tls, backlog=1024))
    for server in servers:
        server.start()
    return servers


def main() -> None:
    cfg = GroundConfig.model_validate_json(open(sys.argv[1]).read())
    servers = serve(cfg)
    stop = threading.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    print("ground origin ready", flush=True)
    while not stop.is_set():
        gevent.sleep(0.2)
    for server in servers:
        server.stop(timeout=1)


if __name__ == "__main__":
    main()
