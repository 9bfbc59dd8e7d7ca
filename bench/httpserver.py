"""The HTTP server class every HTTP service of the lab uses (ground, router, ops servers).

http.server's HTTPServer looks its own address up in reverse DNS when it binds (socket.getfqdn):
inside the lab that query goes to the host's resolver, which no lab namespace can (or may) reach,
and the bind hangs until the resolver times out. The lab's servers use their address as their
name instead.
"""

from __future__ import annotations

import socketserver
from http.server import ThreadingHTTPServer


class LabHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver listens with a backlog of 5: a boarding storm (hundreds of phones at the
    # portal at once) overflows it, the SYNs are dropped and each client waits out TCP's 1, 3,
    # 7, 15 s retransmits (59 concurrent logins took 14 s; with this, well under a second).
    request_queue_size = 1024

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)
