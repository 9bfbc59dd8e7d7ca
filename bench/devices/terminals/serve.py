"""Entry point of one terminal's status service, run inside the terminal's namespace:

    python -m bench.devices.terminals.serve --protocol starlink-grpc --address 198.18.16.10 \
        --port 9200 --state-dir DIR --name sb1a2b3c-starlink

It serves the status the lab's feed writes to DIR and prints "ready" once it listens.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from bench.devices.terminals.status_file import StatusFiles


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.devices.terminals.serve")
    parser.add_argument("--protocol", choices=["starlink-grpc", "http"], required=True)
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--name", required=True, help="stem of the status files (<prefix>-<wan>)")
    args = parser.parse_args(argv)
    files = StatusFiles(args.state_dir, args.name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if args.protocol == "starlink-grpc":
        from bench.devices.terminals.dish import DishService, serve_dish

        grpc_server = serve_dish(args.address, args.port, DishService(files.read, files.request_reboot))
        print("ready", flush=True)
        stop.wait()
        grpc_server.stop(grace=1).wait()
    else:
        from bench.devices.terminals.http_status import status_server

        http_server = status_server(args.address, args.port, files.read, files.request_reboot)
        thread = threading.Thread(target=http_server.serve_forever, daemon=True)
        thread.start()
        print("ready", flush=True)
        stop.wait()
        http_server.shutdown()
        http_server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
